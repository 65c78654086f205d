"""Export a trained megatron GPTModel: a standalone bundle (safetensors) and a Hugging Face GPT-2 directory.

Opening a checkpoint and mapping its weights to the standalone GPT belong to sampling, which needs them
too (nemo_tabular.sampling.loading and .megatron_weights); export builds on them, never the reverse.
"""

from nemo_tabular.sampling.megatron_weights import ExportError, standalone_from_megatron

from .hf import save_hf

__all__ = ["ExportError", "save_hf", "standalone_from_megatron"]
