"""Command-line sugar: `launch.py [launcher overrides] -- [stage overrides]`, turned into plain Hydra."""

import re

from nemo_tabular.launch.errors import LaunchError


def hydra_quote(value: str) -> str:
    """`value` as a single-quoted Hydra string that reads back unchanged (quotes, backslashes and
    ${...} interpolations kept literal, so they reach the stage and are resolved there)."""
    escaped = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""), value)
    return "'" + escaped.replace("${", "\\${") + "'"


def pass_through_overrides(argv: list[str]) -> list[str]:
    """Rewrite `a=1 -- x=2 y=3` as `a=1 overrides=['x=2','y=3']`; argv without `--` is returned as is."""
    if "--" not in argv:
        return list(argv)
    split = argv.index("--")
    own, stage = argv[:split], argv[split + 1 :]
    if any(arg.startswith("overrides=") for arg in own):
        raise LaunchError("give the stage's overrides either after `--` or as overrides=[...], not both")
    return [*own, "overrides=[" + ",".join(hydra_quote(arg) for arg in stage) + "]"]
