"""SIGTERM (and SIGHUP) as an exception, so a stopped stage cleans up as an interrupted one does.

Python's default for SIGTERM ends the process on the spot: no `finally`, no `with` exit, so the temp
file of a half-written output (`.synth.parquet.<pid>@<host>.<random>.tmp`), the share files of
sampling workers and prepare's `.data.<...>.partial` directory stayed behind. Inside
`signals_as_exceptions()` the signal raises `Terminated` (a SystemExit with the shell's 128 + signal
exit code) in the main thread instead, and every cleanup on the way out runs. Ctrl-C (SIGINT) already
raises KeyboardInterrupt. SIGKILL cannot be caught: what it leaves, the next run removes (io.remove_stale).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

CAUGHT = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Terminated(SystemExit):
    """Raised by the handler `signals_as_exceptions` installs; `code` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(128 + signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name


def _raise_terminated(signum: int, frame) -> None:
    """The handler: later signals are ignored while the cleanup this one starts runs (SIGKILL still ends it)."""
    for caught in CAUGHT:
        signal.signal(caught, signal.SIG_IGN)
    raise Terminated(signum)


@contextlib.contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise Terminated; the previous handlers come back on exit.

    Outside the main thread (where Python cannot set handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _raise_terminated) for signum in CAUGHT}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
