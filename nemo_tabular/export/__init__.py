"""Export a trained megatron GPTModel: a standalone bundle (safetensors) and a Hugging Face GPT-2 directory."""

from .hf import save_hf
from .megatron_weights import ExportError, standalone_from_megatron

__all__ = ["ExportError", "save_hf", "standalone_from_megatron"]
