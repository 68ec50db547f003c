"""Image features for two-sample tests (zoo.metrics.features): the ResNet
trunk read from a user's safetensors file, pixels, and clear errors."""

from __future__ import annotations

import pytest
import torch

from zoo.checkpoint import save_tensors
from zoo.errors import CheckpointError, InputError, MissingDependencyError, ZooError
from zoo.metrics import features as feats


def test_resnet_layouts_are_recognised_from_the_keys():
    from torchvision.models import resnet34, resnet50

    assert feats._resnet_layout(set(resnet34().state_dict())) == ("basic", (3, 4, 6, 3))
    assert feats._resnet_layout(set(resnet50().state_dict())) == ("bottleneck", (3, 4, 6, 3))


def test_resnet_trunk_from_safetensors_matches_torchvision(tmp_path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    net = resnet18().eval()
    path = tmp_path / "resnet18.safetensors"
    save_tensors(path, net.state_dict(), {})
    fn = feats.featurizer(str(path), size=64)
    images = torch.rand(3, 3, 64, 64)
    out = feats.features(images, fn)
    assert out.shape == (3, 512 * 2 * 2)  # the flattened 512x2x2 map of a 64 px input, as the thesis's 2048-d
    x = (images - torch.tensor(feats.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(feats.IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        ref = net.layer4(net.layer3(net.layer2(net.layer1(x)))).flatten(1)
    assert torch.allclose(out, ref, atol=1e-5)
    grey = feats.features(torch.rand(2, 1, 32, 32), fn)  # grey and smaller images are adapted
    assert grey.shape == (2, 2048)


def test_pixels_and_errors(tmp_path):
    assert feats.features(torch.rand(4, 1, 8, 8), feats.featurizer("pixels")).shape == (4, 64)
    with pytest.raises(MissingDependencyError, match="does not exist"):
        feats.featurizer(str(tmp_path / "missing.safetensors"))
    save_tensors(tmp_path / "other.safetensors", {"w": torch.zeros(2)}, {})
    with pytest.raises(InputError, match="not a torchvision ResNet"):
        feats.featurizer(str(tmp_path / "other.safetensors"))
    (tmp_path / "broken.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError):
        feats.featurizer(str(tmp_path / "broken.safetensors"))
    with pytest.raises(ZooError, match="unknown features 'inception'"):
        feats.featurizer("inception")
    with pytest.raises(InputError, match=r"expected images \(N, C, H, W\)"):
        feats.features(torch.rand(4, 64), feats.featurizer("pixels"))
