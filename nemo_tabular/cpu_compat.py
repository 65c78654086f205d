"""megatron-core on a CPU-only machine: every CUDA-only spot it hits is handled here, and only here.

On a machine with CUDA, `enable_cpu_support()` changes nothing. Without CUDA, the pipeline
schedules, the p2p code and the DDP grad buffers see a `torch` whose `zeros`/`empty` put tensors
that ask for "cuda" on the CPU and whose `torch.cuda.current_device()` is the CPU; everything else
is the real torch. The modules are named, so a megatron-core upgrade that moves a spot fails loudly.
`Tensor.cuda()`, which can only fail without CUDA, returns the tensor itself.
"""

from __future__ import annotations

import importlib
import inspect
import types

import torch

PATCHED_MODULES = (
    "megatron.core.pipeline_parallel.schedules",
    "megatron.core.pipeline_parallel.p2p_communication",
    "megatron.core.distributed.param_and_grad_buffer",
    "megatron.core.optimizer.optimizer",
    "megatron.core.optimizer.clip_grads",
    "megatron.core.utils",
    "megatron.core.dist_checkpointing.strategies.filesystem_async",
    "megatron.core.dist_checkpointing.strategies.state_dict_saver",
    "megatron.core.dist_checkpointing.strategies.async_utils",
)


def _on_cpu(factory):
    """A tensor factory that builds on the CPU whatever CUDA device it is asked for."""

    def build(*args, device=None, **kwargs):
        if device is not None and (device == "cuda" or str(device).startswith("cuda") or isinstance(device, int)):
            device = "cpu"
        return factory(*args, device=device, **kwargs)

    return build


class _CpuCuda(types.SimpleNamespace):
    """torch.cuda as seen by the patched modules: the current device is the CPU, syncs do nothing."""

    def __getattr__(self, name):
        return getattr(torch.cuda, name)

    @staticmethod
    def current_device() -> str:
        return "cpu"

    @staticmethod
    def synchronize(*_args, **_kwargs) -> None:
        return None


class _CpuTorch(types.ModuleType):
    """`torch`, except that CUDA tensor requests land on the CPU."""

    def __init__(self):
        super().__init__("torch")
        self.zeros = _on_cpu(torch.zeros)
        self.empty = _on_cpu(torch.empty)
        self.ones = _on_cpu(torch.ones)
        self.tensor = _on_cpu(torch.tensor)
        self.cuda = _CpuCuda()

    def __getattr__(self, name):
        return getattr(torch, name)


def enable_cpu_support() -> bool:
    """Redirect megatron-core's CUDA-only allocations to the CPU when CUDA is absent; True if it did."""
    if torch.cuda.is_available():
        return False
    cpu_torch = _CpuTorch()
    for name in PATCHED_MODULES:
        module = importlib.import_module(name)
        if getattr(module, "torch", None) is not torch and not isinstance(module.torch, _CpuTorch):
            raise RuntimeError(f"{name} no longer imports torch as `torch`; update nemo_tabular.cpu_compat")
        module.torch = cpu_torch
    # With pipeline parallelism the tied output embedding is synced via `weight.data.cuda()`
    # (megatron's LanguageModule): without CUDA that call can only fail, so it keeps the tensor.
    torch.Tensor.cuda = _stay_on_cpu
    return True


def _stay_on_cpu(self: torch.Tensor, *_args, **_kwargs) -> torch.Tensor:
    return self


def seed_model_parallel(seed: int) -> None:
    """Seed megatron's model-parallel RNG tracker; on CPU its CUDA RNG states must be skipped."""
    from megatron.core import tensor_parallel

    seeder = tensor_parallel.model_parallel_cuda_manual_seed
    if not torch.cuda.is_available() and "inference_rng_tracker" in inspect.signature(seeder).parameters:
        seeder(seed, inference_rng_tracker=True)
    else:
        seeder(seed)
