"""How long `nemo-tabular --help` and a config error take to answer (issue 17's bar: within 2 s).

Each command runs --repeats times in a fresh process; the median wall time is printed beside the median of
`python -c pass` measured in the same run (the interpreter's own start-up, the floor), as seconds and ratios.

    .venv/bin/python benchmarks/cli_latency.py --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from nemo_tabular.hardware import machine_name

CLI = [sys.executable, "-m", "nemo_tabular.cli"]
COMMANDS = {
    "python -c pass (floor)": [sys.executable, "-c", "pass"],
    "nemo-tabular --help": [*CLI, "--help"],
    "nemo-tabular sample --help": [*CLI, "sample", "--help"],
    "nemo-tabular sample dataset=diamonds temperature=hot": [*CLI, "sample", "dataset=diamonds", "temperature=hot"],
    "nemo-tabular train dataset=diamonds model.hidden_size=-4": [
        *CLI,
        "train",
        "dataset=diamonds",
        "model.hidden_size=-4",
    ],
    "nemo-tabular prepare (no source)": [*CLI, "prepare"],
}


def seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, capture_output=True, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    cwd = Path.cwd()
    medians = {
        name: statistics.median(seconds(command, cwd) for _ in range(args.repeats))
        for name, command in COMMANDS.items()
    }
    floor = medians["python -c pass (floor)"]
    print(f"CPU: {machine_name()}; median of {args.repeats} fresh processes each")
    print("| command | seconds | x python start-up |\n|---|---|---|")
    for name, value in medians.items():
        print(f"| `{name}` | {value:.2f} | {value / floor:.1f}x |")


if __name__ == "__main__":
    main()
