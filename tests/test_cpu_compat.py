"""nemo_tabular.cpu_compat: megatron's CUDA-only spots land on the CPU without CUDA, and nothing changes with it."""

import importlib
import warnings

import pytest
import torch

from nemo_tabular import cpu_compat

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from megatron.core import tensor_parallel

PATCHED = [importlib.import_module(name) for name in cpu_compat.PATCHED_MODULES]


@pytest.fixture
def restore_modules(monkeypatch):
    """Whatever enable_cpu_support does to megatron's modules is undone after the test."""
    for module in PATCHED:
        monkeypatch.setattr(module, "torch", module.torch)
    monkeypatch.setattr(torch.Tensor, "cuda", torch.Tensor.cuda)


def test_no_op_when_cuda_is_available(monkeypatch, restore_modules):
    before = {module.__name__: module.torch for module in PATCHED}, torch.Tensor.cuda
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert cpu_compat.enable_cpu_support() is False
    assert ({module.__name__: module.torch for module in PATCHED}, torch.Tensor.cuda) == before


def test_cuda_allocations_land_on_the_cpu_without_cuda(monkeypatch, restore_modules):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cpu_compat.enable_cpu_support() is True
    assert cpu_compat.enable_cpu_support() is True, "enabling twice is harmless"
    schedules = importlib.import_module("megatron.core.pipeline_parallel.schedules")
    for factory in ("zeros", "empty", "ones"):
        made = getattr(schedules.torch, factory)([2], dtype=torch.int, device="cuda")
        assert made.device.type == "cpu" and made.shape == (2,) and made.dtype == torch.int
    assert schedules.torch.tensor([1.0], device=0).device.type == "cpu"
    assert schedules.torch.cuda.current_device() == "cpu"
    assert schedules.torch.cuda.synchronize() is None
    weight = torch.ones(2)
    assert weight.cuda() is weight, "the tied-embedding sync of pipeline parallelism keeps CPU tensors"
    assert schedules.torch.float32 is torch.float32, "everything else is the real torch"
    assert importlib.import_module("megatron.core.transformer.module").torch is torch, "other modules are untouched"


def test_a_moved_spot_fails_loudly(monkeypatch, restore_modules):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(PATCHED[0], "torch", object())
    with pytest.raises(RuntimeError, match="update nemo_tabular.cpu_compat"):
        cpu_compat.enable_cpu_support()


@pytest.mark.parametrize("cuda, expected", [(False, {"inference_rng_tracker": True}), (True, {})])
def test_model_parallel_seed_skips_cuda_rng_only_without_cuda(monkeypatch, cuda, expected):
    calls = []

    def seeder(seed, te_rng_tracker=False, inference_rng_tracker=False):
        calls.append((seed, {"inference_rng_tracker": True} if inference_rng_tracker else {}))

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(tensor_parallel, "model_parallel_cuda_manual_seed", seeder)
    cpu_compat.seed_model_parallel(7)
    assert calls == [(7, expected)]
