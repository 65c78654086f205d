"""Write token documents to a Megatron indexed dataset (.bin/.idx), one sequence per document."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

with warnings.catch_warnings():
    # megatron.core's package import warns that GPU-only fused kernels are absent; prep never uses them.
    warnings.filterwarnings("ignore", message="Transformer Engine and Apex are not installed")
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder


class DocumentWriter:
    """Appends batches of whole documents to an IndexedDatasetBuilder with one write per batch."""

    def __init__(self, prefix: Path) -> None:
        self.prefix = prefix
        self.builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.int32)

    def add_documents(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Append consecutive documents: `tokens` is their concatenation, `lengths` their sizes in tokens.

        `add_document` records a batch as one document of many sequences; the per-document boundaries
        are then set so that each sequence is its own document, as `add_item` + `end_document` would.
        """
        if len(lengths) == 0:
            return
        first = len(self.builder.sequence_lengths)
        self.builder.add_document(np.ascontiguousarray(tokens, dtype=np.int32), lengths.tolist())
        self.builder.document_indices[-1:] = range(first + 1, first + len(lengths) + 1)

    def finalize(self) -> None:
        """Close the .bin file and write the .idx file."""
        self.builder.finalize(f"{self.prefix}.idx")
