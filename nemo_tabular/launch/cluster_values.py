"""Checks on the cluster.* values that reach a rendered sbatch script (or a local job's environment).

Two kinds of places take them. `#SBATCH` lines are parsed by sbatch, not by the shell, so quoting
cannot protect them: a space in `job_name` adds an sbatch option, a newline anywhere adds a shell
line. Those values must match what Slurm accepts (names of letters, digits, '.', '_' and '-';
partitions and QOS comma-separated; the time formats of `sbatch --time`). Shell lines (env, srun
options, container settings) are quoted by command.shell_word; here they only must not hold a
control character. Every error is one line naming the key and its value.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from nemo_tabular.launch.errors import LaunchError

NAME = r"[A-Za-z0-9._-]+"
NAMES = rf"{NAME}(,{NAME})*"
TIME = r"\d+|\d+:\d+|\d+:\d+:\d+|\d+-\d+|\d+-\d+:\d+|\d+-\d+:\d+:\d+|UNLIMITED|INFINITE|unlimited|infinite"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
SLURM_NAMES = {  # key -> (pattern, what it must be)
    "job_name": (NAME, "letters, digits, '.', '_' and '-' only (a Slurm job name)"),
    "account": (NAME, "letters, digits, '.', '_' and '-' only (a Slurm account)"),
    "partition": (NAMES, "partition names of letters, digits, '.', '_' and '-', separated by commas"),
    "qos": (NAMES, "QOS names of letters, digits, '.', '_' and '-', separated by commas"),
    "time": (TIME, "a Slurm time limit: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS"),
}


def check_cluster_values(cluster: Mapping, slurm: bool) -> None:
    """Raise LaunchError naming `cluster.<key>` for a value that could change the script it is rendered into."""
    check_no_control_characters(cluster, "cluster")
    env = cluster.get("env") or {}
    if not isinstance(env, Mapping):
        raise LaunchError(f"cluster.env={env!r}: expected a mapping of variable names to values")
    for name in env:
        if not re.fullmatch(ENV_NAME, str(name)):
            raise LaunchError(f"cluster.env.{name}: expected a variable name of letters, digits and '_'")
    if slurm:
        check_slurm_values(cluster)


def check_slurm_values(cluster: Mapping) -> None:
    """The values on `#SBATCH` lines, which sbatch splits on spaces and no quoting can protect."""
    for key, (pattern, expected) in SLURM_NAMES.items():
        value = cluster.get(key)
        if value is not None and not re.fullmatch(pattern, str(value)):
            raise LaunchError(f"cluster.{key}={value!r}: expected {expected}")
    log_dir = str(cluster.get("log_dir"))
    if re.search(r"[\s\"'\\]", log_dir):
        raise LaunchError(
            f"cluster.log_dir={log_dir!r}: expected a path without spaces, quotes or backslashes "
            f"(it is an #SBATCH --output path)"
        )
    for key, low, high in (("cpus_per_task", 1, None), ("master_port", 1, 65535)):
        value = cluster.get(key)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high)
        ):
            bound = f"an integer in [{low}, {high}]" if high else "a positive integer"
            raise LaunchError(f"cluster.{key}={value!r}: expected {bound}")
    for key in ("sbatch_args", "srun_args", "container_mounts"):
        values = cluster.get(key) or []
        if not isinstance(values, list):
            raise LaunchError(f"cluster.{key}={values!r}: expected a list")
    for i, arg in enumerate(cluster.get("sbatch_args") or []):
        if not re.fullmatch(r"-\S+", str(arg)):
            raise LaunchError(
                f"cluster.sbatch_args[{i}]={arg!r}: expected one sbatch option, such as "
                f"--constraint=h100, with no spaces"
            )


def check_no_control_characters(value, key: str) -> None:
    """No newline or other control character in any string under `value` (nested lists and mappings too)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            check_no_control_characters(str(name), f"{key} (a key)")
            check_no_control_characters(item, f"{key}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_no_control_characters(item, f"{key}[{i}]")
    elif isinstance(value, str) and any(unicodedata.category(char) == "Cc" for char in value):
        raise LaunchError(f"{key}={value!r}: expected no newline or other control character")
