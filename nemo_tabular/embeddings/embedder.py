"""Row embeddings from the trained GPT: mean of the final hidden states over a row's value tokens.

Each row is embedded on its own, as the model sees a fresh document: [eod, value tokens...]. The
hidden state after each value token summarizes the row up to that column, so their mean covers
every column; L2 normalisation makes cosine similarity the natural metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from nemo_tabular.sampling.bundle import Bundle


class RowEmbedder:
    """Batched, deterministic row embeddings of shape (n_rows, d_model), float32, unit length."""

    def __init__(self, bundle: Bundle, batch_size: int = 512):
        self.model, self.tokenizer, self.batch_size = bundle.model.eval(), bundle.tokenizer, batch_size

    @property
    def dim(self) -> int:
        return self.model.config.d_model

    @torch.no_grad()
    def embed(self, table: pd.DataFrame, desc: str = "embed") -> np.ndarray:
        """Embeddings of every row of `table` (all tokenized columns needed; others ignored)."""
        out = np.empty((len(table), self.dim), dtype=np.float32)
        with tqdm(total=len(table), desc=desc, unit="rows", leave=False) as bar:
            for start in range(0, len(table), self.batch_size):
                chunk = table.iloc[start : start + self.batch_size]
                tokens = self.tokenizer.encode(chunk)[:, :-1]
                ids = torch.from_numpy(
                    np.concatenate([np.full((len(tokens), 1), self.tokenizer.eod_id), tokens], axis=1).astype(np.int64)
                )
                hidden = self.model.features(ids)[:, 1:].mean(dim=1)
                out[start : start + len(chunk)] = torch.nn.functional.normalize(hidden, dim=-1).numpy()
                bar.update(len(chunk))
        return out
