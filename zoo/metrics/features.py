"""Image features for two-sample tests: the "natural discriminator" of §5.3.3.

A two-sample test on raw pixels tells every GAN from real data (checkerboard
artifacts), so the thesis featurises real and generated images with an
ImageNet ResNet-34 and tests on the features. `featurizer(spec)` returns a
function from images (N, C, H, W) in [0, 1] to features (N, D), where `spec`
is

* ``pixels``: the flattened pixels;
* a ``.safetensors`` file of a torchvision ResNet (18/34/50/101/152) state
  dict, which zoo never downloads: the trunk without avgpool and fc, on
  64x64 ImageNet-normalised input, flattened (512x2x2 = 2048 values for
  ResNet-34, as the released code did);
* the name of a zoo method whose model has an ``encode(images)`` method
  (weights: ``weights`` argument, else the method's registered default).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import CheckpointError, InputError, MissingDependencyError, ZooError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESNET_DEPTHS = {  # (block kind, blocks per stage) -> depth
    ("basic", (2, 2, 2, 2)): 18,
    ("basic", (3, 4, 6, 3)): 34,
    ("bottleneck", (3, 4, 6, 3)): 50,
    ("bottleneck", (3, 4, 23, 3)): 101,
    ("bottleneck", (3, 8, 36, 3)): 152,
}

Featurizer = Callable[[torch.Tensor], torch.Tensor]


class ResNetTrunk(nn.Module):
    """A torchvision ResNet without avgpool and fc: images in [0, 1] are
    resized to `size`, ImageNet-normalised, and the last conv map flattened."""

    def __init__(self, resnet: nn.Module, size: int = 64):
        super().__init__()
        self.body = nn.Sequential(
            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
            resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
        )
        self.size = size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        N, C, H, W = images.shape
        x = images.expand(-1, 3, -1, -1) if C == 1 else images  # grey -> RGB
        if (H, W) != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        return self.body(x).flatten(1)  # (N, C' * h * w), e.g. (N, 512 * 2 * 2) for ResNet-34 at 64 px


def _resnet_layout(keys: set[str]) -> tuple[str, tuple[int, ...]]:
    blocks = []
    for stage in range(1, 5):
        ids = {int(m.group(1)) for k in keys if (m := re.match(rf"layer{stage}\.(\d+)\.", k))}
        if not ids:
            raise InputError("the feature network is not a torchvision ResNet state dict (no layer1..layer4 keys)")
        blocks.append(max(ids) + 1)
    kind = "bottleneck" if "layer1.0.conv3.weight" in keys else "basic"
    return kind, tuple(blocks)


def load_resnet(path: str | Path, size: int = 64) -> ResNetTrunk:
    """A ResNet trunk from a torchvision-format safetensors state dict."""
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

    from zoo.checkpoint import load_tensors
    from zoo.metrics import metric_weights

    path = metric_weights("resnet", path)
    tensors, _ = load_tensors(path)
    tensors = {k.removeprefix("module."): v for k, v in tensors.items()}
    kind, layers = _resnet_layout(set(tensors))
    if (kind, layers) not in RESNET_DEPTHS:
        raise InputError(f"{path}: a ResNet with {kind} blocks {layers} is not one of ResNet-18/34/50/101/152")
    resnet = ResNet(Bottleneck if kind == "bottleneck" else BasicBlock, list(layers))
    own = resnet.state_dict()
    trunk = {k: v for k, v in tensors.items() if not k.startswith("fc.")}
    missing = [k for k in own if not k.startswith("fc.") and k not in trunk]
    wrong = [k for k in trunk if k not in own or own[k].shape != trunk[k].shape]
    if missing or wrong:
        bad = (missing or wrong)[0]
        raise CheckpointError(f"{path} does not fit ResNet-{RESNET_DEPTHS[(kind, layers)]} (e.g. {bad})")
    resnet.load_state_dict(trunk, strict=False)
    return ResNetTrunk(resnet, size).eval()


def _method_encoder(name: str, weights: str | None, device: torch.device) -> Featurizer:
    from zoo import api

    model = api.load(name, weights, device=str(device))
    encode = getattr(model.module, "encode", None)
    if encode is None:
        raise InputError(f"the model of method {name!r} has no encoder (no `encode` method)",
                         "use --features pixels, a ResNet .safetensors file, or a method such as dcgan")
    model.module.eval()
    return encode


def featurizer(spec: str = "pixels", *, weights: str | None = None, size: int = 64,
               device: str | torch.device = "cpu") -> Featurizer:
    """Images (N, C, H, W) in [0, 1] -> features (N, D); see the module docstring."""
    device = torch.device(device)
    spec = str(spec)
    if spec == "pixels":
        return lambda images: images.flatten(1)
    path = Path(spec).expanduser()
    if spec.endswith(".safetensors") or path.is_file() or "/" in spec:
        if not path.is_file():
            raise MissingDependencyError(f"feature network {spec!r} does not exist",
                                         "give an ImageNet ResNet as a .safetensors state dict")
        net = load_resnet(path, size).to(device)
        return lambda images: net(images.to(device))
    from zoo.plugin_manager import get_plugin_manager

    if spec in get_plugin_manager().methods:
        return _method_encoder(spec, weights, device)
    raise ZooError(f"unknown features {spec!r}",
                   "use pixels, a ResNet .safetensors file, or the name of a method whose model has an encoder")


@torch.no_grad()
def features(images: torch.Tensor, fn: Featurizer, batch_size: int = 256) -> torch.Tensor:
    """Apply a featurizer in batches; returns (N, D) float32 on the CPU."""
    if images.dim() != 4:
        raise InputError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    out = [fn(images[i : i + batch_size]).float().cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(out) if out else images.new_zeros(0, 0)
