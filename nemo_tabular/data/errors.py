"""The one error type bad prep input raises, so the CLI can print it without a traceback."""


class DataPrepError(ValueError):
    """Bad source file, column, value or config; the message names the file and the column/row."""
