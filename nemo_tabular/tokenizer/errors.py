"""The one error type bad tabular input raises, so callers can add the file name and re-raise."""

import numpy as np

from nemo_tabular.errors import UserError


class TokenizerError(UserError):
    """A value, column or token the tokenizer cannot handle; the message names column, row and value."""


def plain(value):
    """numpy scalars -> Python scalars, so messages and JSON show 11.0, not np.float64(11.0)."""
    return value.item() if isinstance(value, np.generic) else value


def first_bad_row(index, mask) -> str:
    """Label of the first row where `mask` is true, for error messages."""
    return f"row {plain(index[int(np.flatnonzero(mask)[0])])!r}"


def first_bad_value(series, mask):
    """The value in the first row where `mask` is true."""
    return plain(series.to_numpy()[int(np.flatnonzero(mask)[0])])
