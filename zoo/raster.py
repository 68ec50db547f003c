"""Small raster plots drawn with torch, for methods whose "samples" are
pictures of a fitted function (a classifier's p(l=1|z), a fitted density):
no matplotlib needed. Every function works on (3, H, W) float images in
[0, 1] and returns a new image; `Canvas` maps data coordinates to pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Anchor colours of a perceptually ordered map (dark blue -> teal -> yellow),
# in the spirit of viridis, interpolated linearly.
_ANCHORS = torch.tensor(
    [[0.267, 0.005, 0.329], [0.231, 0.322, 0.545], [0.129, 0.569, 0.549], [0.369, 0.788, 0.384], [0.993, 0.906, 0.144]]
)
BLUE = (0.12, 0.35, 0.85)
RED = (0.85, 0.15, 0.12)
BLACK = (0.0, 0.0, 0.0)
WHITE = (1.0, 1.0, 1.0)


def colormap(values: torch.Tensor) -> torch.Tensor:
    """Values (H, W) in [0, 1] -> colours (3, H, W)."""
    v = values.clamp(0, 1) * (len(_ANCHORS) - 1)
    lo = v.floor().long().clamp(max=len(_ANCHORS) - 2)
    frac = (v - lo.float())[..., None]  # (H, W, 1)
    rgb = _ANCHORS[lo] * (1 - frac) + _ANCHORS[lo + 1] * frac  # (H, W, 3)
    return rgb.permute(2, 0, 1).contiguous()  # (3, H, W)


def diverging(values: torch.Tensor) -> torch.Tensor:
    """Values (H, W) in [0, 1] -> blue (0) / white (0.5) / red (1), (3, H, W)."""
    v = values.clamp(0, 1)[None]  # (1, H, W)
    blue, red, white = (torch.tensor(c).view(3, 1, 1) for c in (BLUE, RED, WHITE))
    low = white + (blue - white) * (1 - 2 * v).clamp(min=0)
    return torch.where(v < 0.5, low, white + (red - white) * (2 * v - 1).clamp(min=0))


@dataclass(frozen=True)
class Canvas:
    """Maps data coordinates [x0, x1] x [y0, y1] onto an H x W image (y up)."""

    x0: float
    x1: float
    y0: float
    y1: float
    height: int
    width: int

    def grid(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Data coordinates of every pixel centre: (H, W) each, row 0 on top."""
        xs = self.x0 + (torch.arange(self.width) + 0.5) / self.width * (self.x1 - self.x0)
        ys = self.y1 - (torch.arange(self.height) + 0.5) / self.height * (self.y1 - self.y0)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return gx, gy

    def pixels(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Integer (row, column) of data points; points outside fall off the edge."""
        col = ((x - self.x0) / (self.x1 - self.x0) * self.width).floor().long()
        row = ((self.y1 - y) / (self.y1 - self.y0) * self.height).floor().long()
        return row, col

    def blank(self, color=WHITE) -> torch.Tensor:
        return torch.tensor(color).view(3, 1, 1).expand(3, self.height, self.width).clone()


def dots(image: torch.Tensor, canvas: Canvas, x: torch.Tensor, y: torch.Tensor, color=BLACK, radius: int = 1) -> torch.Tensor:
    """Draw square dots of half-width `radius` at data points (x, y)."""
    out = image.clone()
    row, col = canvas.pixels(x.flatten().float(), y.flatten().float())
    c = torch.tensor(color, dtype=out.dtype)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, k = row + dr, col + dc
            keep = (r >= 0) & (r < canvas.height) & (k >= 0) & (k < canvas.width)
            out[:, r[keep], k[keep]] = c[:, None]
    return out


def polyline(image: torch.Tensor, canvas: Canvas, x: torch.Tensor, y: torch.Tensor, color=BLACK,
             closed: bool = False, radius: int = 0) -> torch.Tensor:
    """Draw straight segments through the data points (x[i], y[i])."""
    xs, ys = x.flatten().float(), y.flatten().float()
    if closed:
        xs, ys = torch.cat([xs, xs[:1]]), torch.cat([ys, ys[:1]])
    px = (canvas.x1 - canvas.x0) / canvas.width
    segments_x, segments_y = [], []
    for i in range(len(xs) - 1):
        length = float(torch.hypot(xs[i + 1] - xs[i], ys[i + 1] - ys[i]))
        steps = max(2, int(length / px * 2) + 1)
        t = torch.linspace(0, 1, steps)
        segments_x.append(xs[i] + (xs[i + 1] - xs[i]) * t)
        segments_y.append(ys[i] + (ys[i + 1] - ys[i]) * t)
    if not segments_x:
        return image.clone()
    return dots(image, canvas, torch.cat(segments_x), torch.cat(segments_y), color, radius)


def frame(image: torch.Tensor, color=BLACK) -> torch.Tensor:
    """A one-pixel border."""
    out = image.clone()
    c = torch.tensor(color, dtype=out.dtype)[:, None]
    out[:, 0, :] = c
    out[:, -1, :] = c
    out[:, :, 0] = c
    out[:, :, -1] = c
    return out


def hstack(images: list[torch.Tensor], gap: int = 4) -> torch.Tensor:
    """Panels (3, H, W_i) of equal height side by side, white gaps between."""
    H = images[0].shape[1]
    spacer = torch.ones(3, H, gap)
    parts = []
    for i, im in enumerate(images):
        if i:
            parts.append(spacer)
        parts.append(im)
    return torch.cat(parts, 2)  # (3, H, sum W + gaps)
