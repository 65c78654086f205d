"""The one error type evaluation raises for bad inputs, so the CLI can print it without a traceback."""

from nemo_tabular.errors import UserError


class EvaluationError(UserError):
    """A missing, empty or inconsistent input; the message names the file and/or column."""
