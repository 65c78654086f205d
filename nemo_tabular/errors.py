"""The base of every error a user can fix (bad file, column, value or setting): the CLI prints it as one line.

Anything else that escapes a stage is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """Bad input or settings; the message names the file, column, row, value or config key."""


class ConfigError(UserError):
    """A config key with a value the stage cannot use; the message names the key and what it accepts."""
