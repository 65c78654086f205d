"""nemo-tabular: synthetic tabular data with GPT models trained on megatron-core."""

__version__ = "0.1.0"
