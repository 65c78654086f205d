"""The command lines that start a stage, shared by the local runner and the sbatch templates."""

import re
import shlex
import sys

from nemo_tabular.launch.jobs import Job

CLI_MODULE = "nemo_tabular.cli"


def program_argv(job: Job, overrides: list[str]) -> list[str]:
    """What follows `python` (or `torchrun`) to run the stage: the installed CLI as a module, so it needs no
    checkout or PATH entry (an installed wheel, a container's editable install and this checkout alike)."""
    return ["-m", CLI_MODULE, job.stage, *overrides]


def shell_join(argv: list[str]) -> str:
    """argv as one shell-safe string: every word single-quoted where needed, so Hydra's ${...} stays literal."""
    return shlex.join(argv)


VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")


def shell_word(value: object) -> str:
    """`value` as one shell word that bash reads back literally, except `$NAME` references, which expand.

    The literal stretches are shlex.quote'd, so `$(...)`, backticks, `;`, quotes and spaces stay text; a
    `$NAME` becomes `"$NAME"`, a plain parameter expansion that inserts the variable's value without
    running anything (conf/cluster/slurm.yaml mounts `$SLURM_SUBMIT_DIR/runs`). `${...}` and `$(...)` do
    not match and stay literal.
    """
    text = str(value)
    parts, start = [], 0
    for match in VARIABLE.finditer(text):
        if match.start() > start:
            parts.append(shlex.quote(text[start : match.start()]))
        parts.append(f'"{match.group()}"')
        start = match.end()
    if start < len(text) or not parts:
        parts.append(shlex.quote(text[start:]))
    return "".join(parts)


def local_argv(job: Job, overrides: list[str], nproc_per_node: int) -> list[str]:
    """The command that runs `job` on this machine: torchrun --standalone for a distributed stage
    (as a module of this interpreter, so no PATH lookup), plain Python otherwise."""
    program = program_argv(job, overrides)
    if not job.distributed:
        return [sys.executable, *program]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1"]
    return [*torchrun, f"--nproc_per_node={nproc_per_node}", *program]
