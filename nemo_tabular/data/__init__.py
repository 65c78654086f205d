"""Data prep: stream a source table into tokenized Megatron indexed datasets split by document."""
