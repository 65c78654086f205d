"""Known harmless warnings of megatron-core's TransformerEngine/Apex fallbacks, silenced in one place (this
process and the processes it starts: torchrun workers, sampling workers); `-v` shows them."""

from __future__ import annotations

import logging
import os
import warnings

# Starts of warning messages that say nothing a user can act on: the CPU and the GPU images without apex run the
# fallbacks on purpose. No commas (PYTHONWARNINGS separates entries with them).
KNOWN_WARNINGS = (
    "Transformer Engine and Apex are not installed",
    "Apex is not installed",
    "full scope is deprecated",
)
# megatron logs its backend choices at INFO on import
CHATTY_LOGGERS = ("megatron",)


def quiet_known_warnings(verbose: bool = False) -> None:
    """Filter KNOWN_WARNINGS here and, through PYTHONWARNINGS, in child processes; verbose leaves all on."""
    if verbose:
        return
    for start in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=f"^{start}", category=UserWarning)
    entries = [entry for entry in os.environ.get("PYTHONWARNINGS", "").split(",") if entry]
    entries += [
        f"ignore:{start}:UserWarning" for start in KNOWN_WARNINGS if f"ignore:{start}:UserWarning" not in entries
    ]
    os.environ["PYTHONWARNINGS"] = ",".join(entries)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
