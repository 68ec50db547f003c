import pytest
import torch

from zoo.devices import amp_dtype, parse_device
from zoo.errors import DeviceError


def test_cpu_and_auto():
    assert parse_device("cpu").kind == "cpu"
    assert parse_device("cpu", 2).nproc == 2 and parse_device("cpu", 2).distributed
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert parse_device("auto").kind in (expected, "mps")


@pytest.mark.parametrize("text", ["gpu", "cuda:x", "tpu:0"])
def test_unknown_devices(text):
    with pytest.raises(DeviceError):
        parse_device(text)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without CUDA")
def test_cuda_on_a_machine_without_it_is_a_clear_error():
    with pytest.raises(DeviceError, match="CUDA is not available"):
        parse_device("cuda:0,1")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_indices():
    n = torch.cuda.device_count()
    with pytest.raises(DeviceError, match=f"no cuda:{n}"):
        parse_device(f"cuda:{n}")
    assert parse_device("cuda:0").device_for(0) == torch.device("cuda", 0)


def test_amp_modes():
    cpu = torch.device("cpu")
    assert amp_dtype("no", cpu) is None
    assert amp_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(DeviceError, match="needs a CUDA"):
        amp_dtype("fp16", cpu)
    with pytest.raises(DeviceError):
        amp_dtype("fp8", cpu)


def test_nproc_must_be_positive():
    with pytest.raises(DeviceError):
        parse_device("cpu", 0)
