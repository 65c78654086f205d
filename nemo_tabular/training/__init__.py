"""Training on megatron-core: layout checks, data, the loop and checkpoints."""
