"""The one error type bad prep input raises, so the CLI can print it without a traceback."""

from nemo_tabular.errors import UserError


class DataPrepError(UserError):
    """Bad source file, column, value or config; the message names the file and the column/row."""
