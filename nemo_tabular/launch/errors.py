"""The launcher's one error type, so the entry point can print a clean message instead of a traceback."""


class LaunchError(ValueError):
    """A launch that cannot work as configured: bad job name, cluster settings or parallel layout."""
