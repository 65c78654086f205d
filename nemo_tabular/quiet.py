"""Known harmless warnings of megatron-core (its TransformerEngine/Apex fallbacks, the torch checkpoint APIs it
calls), silenced in one place (this process and the processes it starts: torchrun workers, sampling workers);
`-v` shows them."""

from __future__ import annotations

import logging
import os
import re
import warnings

# Starts of warning messages that say nothing a user can act on, with their category: the CPU and the GPU images
# without apex run the fallbacks on purpose, and the deprecated torch.distributed.checkpoint calls are megatron's
# own when it loads a checkpoint. No commas (PYTHONWARNINGS separates entries with them).
KNOWN_WARNINGS = (
    ("Transformer Engine and Apex are not installed", UserWarning),
    ("Apex is not installed", UserWarning),
    ("full scope is deprecated", UserWarning),
    ("`load_state_dict` is deprecated", FutureWarning),
    ("Please use DTensor instead and we are deprecating ShardedTensor", FutureWarning),
)
# megatron logs its backend choices at INFO on import
CHATTY_LOGGERS = ("megatron",)


def quiet_known_warnings(verbose: bool = False) -> None:
    """Filter KNOWN_WARNINGS here and, through PYTHONWARNINGS, in child processes; verbose leaves all on."""
    if verbose:
        return
    entries = [entry for entry in os.environ.get("PYTHONWARNINGS", "").split(",") if entry]
    for start, category in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(start), category=category)
        entry = f"ignore:{start}:{category.__name__}"
        if entry not in entries:
            entries.append(entry)
    os.environ["PYTHONWARNINGS"] = ",".join(entries)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
