"""FVD (Unterthiner et al. 2018) from an I3D network whose weights the user supplies.

FVD is the Fréchet distance between Gaussians fitted to I3D features of real
and generated videos (lower is better). As in the reference implementation,
each video (T, C, H, W) in [0, 1] is resized frame by frame to 224x224
(bilinear), mapped to [-1, 1], grey frames repeated to three channels, and
fed to I3D (Inception-v1 inflated to 3-d, Carreira & Zisserman 2017) trained
on Kinetics-400; the feature is the 400-d logit vector averaged over time.

Nothing is downloaded. The weights come from `i3d-kinetics-400.safetensors`
(found by `zoo.metrics.require_metric_weights`), with the parameter names of
the widely used PyTorch port of I3D (`Conv3d_1a_7x7.conv3d.weight`,
`Mixed_3b.b1b.bn.running_mean`, ..., `logits.conv3d.bias`): its
`rgb_imagenet.pt` converts with one `safetensors.torch.save_file` call.
Numbers are comparable between runs of this code; they can differ slightly
from the TensorFlow-Hub module the thesis used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import InputError

I3D_NET = "i3d-kinetics-400"
I3D_SIZE = 224


# ---------------------------------------------------------------------------
# I3D


def _same_pad(x: torch.Tensor, kernel: tuple[int, ...], stride: tuple[int, ...], value: float = 0.0) -> torch.Tensor:
    """TensorFlow 'SAME' padding of (B, C, T, H, W) for a 3-d kernel and stride."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - (s if size % s == 0 else size % s), 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value)


class Unit3D(nn.Module):
    """conv3d (TF 'SAME') + batch norm + ReLU; the logits unit has a bias and neither."""

    def __init__(self, cin: int, cout: int, kernel=(1, 1, 1), stride=(1, 1, 1), *, bn: bool = True, relu: bool = True):
        super().__init__()
        self.kernel, self.stride, self.relu = tuple(kernel), tuple(stride), relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=not bn)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class MaxPool3dSame(nn.Module):
    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_same_pad(x, self.kernel, self.stride), self.kernel, self.stride)


class Mixed(nn.Module):
    """An Inception block: 1x1 | 1x1 -> 3x3 | 1x1 -> 3x3 | maxpool -> 1x1, concatenated."""

    def __init__(self, cin: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        w0, w1a, w1b, w2a, w2b, w3 = widths
        self.b0 = Unit3D(cin, w0)
        self.b1a, self.b1b = Unit3D(cin, w1a), Unit3D(w1a, w1b, (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, w2a), Unit3D(w2a, w2b, (3, 3, 3))
        self.b3a, self.b3b = MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, w3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))]
        return torch.cat(branches, dim=1)  # (B, w0 + w1b + w2b + w3, T, H, W)


# (name, input channels, branch widths) of the Inception blocks, Carreira & Zisserman (2017), Fig. 3
MIXED = (
    ("Mixed_3b", 192, (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", 256, (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", 480, (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", 512, (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", 512, (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", 512, (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", 528, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", 832, (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", 832, (384, 192, 384, 48, 128, 128)),
)
POOL_BEFORE = {"Mixed_3b": ((1, 3, 3), (1, 2, 2)), "Mixed_4b": ((3, 3, 3), (2, 2, 2)), "Mixed_5b": ((2, 2, 2), (2, 2, 2))}


class I3D(nn.Module):
    """Inception-v1 I3D; forward (B, 3, T, H, W) in [-1, 1] -> (B, classes) logits averaged over time."""

    def __init__(self, classes: int = 400):
        super().__init__()
        self.Conv3d_1a_7x7 = Unit3D(3, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.pools = nn.ModuleDict({name: MaxPool3dSame(*args) for name, args in POOL_BEFORE.items()})
        for name, cin, widths in MIXED:
            self.add_module(name, Mixed(cin, widths))
        self.logits = Unit3D(1024, classes, bn=False, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(self.MaxPool3d_2a_3x3(self.Conv3d_1a_7x7(x))))
        for name, _, _ in MIXED:
            if name in self.pools:
                x = self.pools[name](x)
            x = getattr(self, name)(x)  # (B, C, T', H', W')
        _, _, t, h, w = x.shape
        x = F.avg_pool3d(x, (min(2, t), h, w), stride=1)  # (B, 1024, T'', 1, 1), the reference's 2x7x7 pool at 224 px
        return self.logits(x).mean(dim=(2, 3, 4))  # (B, classes)


def load_i3d(path: str | Path, device: str | torch.device = "cpu") -> I3D:
    from zoo.checkpoint import load_state_dict, load_tensors

    tensors, _ = load_tensors(Path(path))
    net = I3D(classes=int(tensors["logits.conv3d.weight"].shape[0]) if "logits.conv3d.weight" in tensors else 400)
    load_state_dict(net, tensors, str(path))
    return net.to(device).eval()


# ---------------------------------------------------------------------------
# FVD


def _prepare(videos: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) in [0, 1] -> (B, 3, T, 224, 224) in [-1, 1]."""
    if videos.dim() != 5 or videos.shape[2] not in (1, 3):
        raise InputError(f"FVD takes (N, T, 1 or 3, H, W) videos, got {tuple(videos.shape)}")
    b, t, c, h, w = videos.shape
    x = videos.float().clamp(0, 1).reshape(b * t, c, h, w)
    x = F.interpolate(x, size=(I3D_SIZE, I3D_SIZE), mode="bilinear", align_corners=False)
    x = x.expand(-1, 3, -1, -1) if c == 1 else x  # (B*T, 3, 224, 224)
    return (x * 2 - 1).view(b, t, 3, I3D_SIZE, I3D_SIZE).permute(0, 2, 1, 3, 4)  # (B, 3, T, 224, 224)


@torch.no_grad()
def i3d_features(net: I3D, videos: torch.Tensor, batch: int = 16) -> np.ndarray:
    """(N, T, C, H, W) videos in [0, 1] -> (N, 400) features, in batches."""
    device = next(net.parameters()).device
    out = [net(_prepare(videos[i : i + batch]).to(device)).double().cpu() for i in range(0, len(videos), batch)]
    return torch.cat(out).numpy()


def fvd_from_features(real: np.ndarray, fake: np.ndarray) -> float:
    from zoo.metrics.fid import feature_statistics, frechet_distance

    return frechet_distance(*feature_statistics(real), *feature_statistics(fake))
