"""LPIPS (Zhang et al. 2018), v0.1 "lin" on AlexNet, with weights the user supplies.

    d(x, y) = sum_l mean_hw || w_l * (n_l(x) - n_l(y)) ||^2

where n_l is the unit-normalised (over channels) activation of AlexNet's l-th
ReLU (relu1..relu5) and w_l the learned non-negative 1x1 "lin" weights.
Inputs in [0, 1] are mapped to [-1, 1], then shifted and scaled by the
constants of the reference implementation; grey frames are repeated to three
channels.

Nothing is downloaded. The network is torchvision's AlexNet architecture
(`features` only); its weights and the five lin layers come from one
safetensors file, `lpips-alex.safetensors`, found by
`zoo.metrics.require_metric_weights`. It holds torchvision's AlexNet keys
`features.{0,3,6,8,10}.{weight,bias}` and the lin weights as `lin{0..4}.weight`
(shape (1, C, 1, 1)) or as the `lpips` package names them,
`lin{0..4}.model.1.weight`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from zoo.errors import CheckpointError, InputError

LPIPS_NET = "lpips-alex"
CHANNELS = (64, 192, 384, 256, 256)      # AlexNet relu1..relu5
SLICES = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))  # torchvision alexnet.features indices
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LPIPS(nn.Module):
    """AlexNet features + five 1x1 lin layers; forward(x, y) -> (N,) distances."""

    def __init__(self):
        super().__init__()
        from torchvision.models import alexnet

        self.features = alexnet(weights=None).features
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def _activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x * 2 - 1 - self.shift) / self.scale  # (N, 3, H, W)
        out = []
        for lo, hi in SLICES:
            for i in range(lo, hi):
                h = self.features[i](h)
            out.append(h / (h.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))  # unit norm over channels
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] not in (1, 3):
            raise InputError(f"LPIPS takes two (N, 1 or 3, H, W) batches, got {tuple(x.shape)} and {tuple(y.shape)}")
        if x.shape[1] == 1:
            x, y = x.expand(-1, 3, -1, -1), y.expand(-1, 3, -1, -1)  # (N, 3, H, W)
        total = 0
        for lin, a, b in zip(self.lins, self._activations(x), self._activations(y)):
            total = total + lin((a - b) ** 2).mean(dim=(1, 2, 3))  # (N,)
        return total


def lpips_state_dict(tensors: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """Rename a user's LPIPS file to this module's keys, refusing missing parts."""
    out = {k: v for k, v in tensors.items() if k.startswith("features.")}
    for i in range(len(CHANNELS)):
        for name in (f"lin{i}.weight", f"lin{i}.model.1.weight"):
            if name in tensors:
                out[f"lins.{i}.weight"] = tensors[name]
                break
        else:
            raise CheckpointError(f"{source} has no LPIPS lin{i} weights", "expected keys lin0..lin4.weight")
    return out


def load_lpips(path: str | Path, device: str | torch.device = "cpu") -> LPIPS:
    from zoo.checkpoint import load_state_dict, load_tensors

    tensors, _ = load_tensors(Path(path))
    net = LPIPS()
    load_state_dict(net, lpips_state_dict(tensors, str(path)), str(path))
    return net.to(device).eval()


def lpips_frames(net: LPIPS, pred: torch.Tensor, target: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """LPIPS per frame: (..., C, H, W) -> (...), in chunks of frames."""
    if pred.shape != target.shape:
        raise InputError(f"LPIPS: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    *lead, c, h, w = pred.shape
    device = next(net.parameters()).device
    a, b = pred.reshape(-1, c, h, w), target.reshape(-1, c, h, w)  # (N, C, H, W)
    out = [net(a[i : i + chunk].to(device).float(), b[i : i + chunk].to(device).float()).cpu()
           for i in range(0, len(a), chunk)]
    return torch.cat(out).view(*lead)
