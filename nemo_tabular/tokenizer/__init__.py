"""Tabular tokenizer: each column becomes a few tokens with their own id ranges (see docs/architecture.md)."""

from .codecs import RARE_LABEL
from .errors import TokenizerError
from .fitter import TokenizerFitter
from .spec import KINDS, ColumnSpec
from .tokenizer import TabularTokenizer
from .transforms import TRANSFORMS

__all__ = ["KINDS", "RARE_LABEL", "TRANSFORMS", "ColumnSpec", "TabularTokenizer", "TokenizerError", "TokenizerFitter"]
