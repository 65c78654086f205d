"""The launcher's one error type, so the entry point can print a clean message instead of a traceback."""

from nemo_tabular.errors import UserError


class LaunchError(UserError):
    """A launch that cannot work as configured: bad job name, cluster settings or parallel layout."""
