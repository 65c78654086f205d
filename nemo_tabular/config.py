"""Compose a stage's config from conf/ (the CLI and the Python API alike) and the resolvers its files use.

Nothing here imports torch: a config is composed and checked before any heavy import or any work.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nemo_tabular.errors import ConfigError, UserError
from nemo_tabular.resources import config_dir
from nemo_tabular.run_dir import PreparedData

TABLE_SUFFIXES = (".gz", ".csv", ".parquet", ".pq")


def table_name(source: str | None) -> str | None:
    """A run name from a table's file name: `data/My Table.csv.gz` -> `My_Table`; None without a source."""
    if source is None:
        return None
    name = PurePosixPath(str(source).removeprefix("package://")).name
    while (suffix := next((s for s in TABLE_SUFFIXES if name.lower().endswith(s)), None)) is not None:
        name = name[: -len(suffix)]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "table"


def run_directory(root: str, name: str | None) -> str | None:
    """A later stage's run directory, <root>/<name> for dataset=<name>; None when no dataset is named."""
    return None if name is None else f"{root}/{name}"


NO_RUN = "which run? set run=<the directory prepare wrote, e.g. runs/my_table> or dataset=<a demo table's name>"
REQUIRED = "required"


def without_run(fallback):
    """What a key that derives from the run is when no run is named: its fallback (a path, or null for keys
    that are optional), or a ConfigError saying which key to set."""
    if fallback == REQUIRED:
        raise ConfigError(NO_RUN)
    return fallback


def run_path(run_dir: str | None, relative: str, fallback=REQUIRED):
    """<run_dir>/<relative>, or without_run(fallback)."""
    return f"{run_dir}/{relative}" if run_dir is not None else without_run(fallback)


def prepared(run_dir: str | None, key: str, fallback=REQUIRED):
    """One entry of a prepared run's data/meta.json (its dataset name, group_by, order_by, target...), or
    without_run(fallback)."""
    if run_dir is None:
        return without_run(fallback)
    meta = PreparedData(Path(run_dir) / "data").meta
    if key not in meta:
        raise ConfigError(
            f"{run_dir}/data/meta.json: no {key!r} (prepared by an older version); prepare the table again"
        )
    value = meta[key]
    return OmegaConf.create(value) if isinstance(value, (list, dict)) else value  # OmegaConf.resolve takes no raw lists


def register_resolvers() -> None:
    """The ${table_name:...}, ${run_directory:...}, ${run_path:...} and ${prepared:...} interpolations of conf/."""
    for name, function in (
        ("table_name", table_name),
        ("run_directory", run_directory),
        ("run_path", run_path),
        ("prepared", prepared),
    ):
        OmegaConf.register_new_resolver(name, function, replace=True)


USER_ERRORS = (UserError, FileNotFoundError)


def root_cause(err: BaseException) -> BaseException:
    """The user error an interpolation raised (a ConfigError, a missing meta.json), unwrapped from OmegaConf's
    wrappers; else err itself."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, USER_ERRORS):
        cause = cause.__cause__ or cause.__context__  # OmegaConf drops __cause__ unless OC_CAUSE=1
    return cause if cause is not None else err


# Maps whose keys the user names (column names): Hydra's struct mode refuses a key it has not seen with
# "Could not override", so `dataset.columns={amount: {decimals: 2}}` failed although the README shows it.
OPEN_MAPS = ("dataset.columns",)


def open_map_overrides(overrides: Sequence[str]) -> list[str]:
    """Overrides with `++` (set or add) before keys inside OPEN_MAPS, so `dataset.columns={price: {...}}` and
    `dataset.columns.price.decimals=2` work as written; the rest unchanged (`+`, `++` and `~` stay as given)."""
    rewritten = []
    for override in overrides:
        key = override.split("=", 1)[0]
        if "=" in override and any(key == name or key.startswith(f"{name}.") for name in OPEN_MAPS):
            override = f"++{override}"
        rewritten.append(override)
    return rewritten


def load_stage_config(
    config_name: str, overrides: Sequence[str] = (), values: Mapping[str, Any] | None = None
) -> DictConfig:
    """conf/<config_name>.yaml composed with Hydra overrides, then `values` ({dotted key: Python value}, which
    need no override syntax) set. A bad key or value is a ConfigError naming it. Keys resolve when read, so
    a key that derives from a run is an error only where it is used (evaluate can judge files outside a run).
    Without Hydra's job machinery: no log directory, nothing written."""
    register_resolvers()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=open_map_overrides(overrides))
        for key, value in (values or {}).items():
            OmegaConf.update(cfg, key, value, merge=False)
    except (HydraException, OmegaConfBaseException) as err:
        if isinstance(err, OverrideParseException):
            reason = first_line(err).split("; See https://")[0]
            raise ConfigError(
                f"{err.override}: Hydra cannot parse this override ({reason}); a value with spaces, "
                f"quotes or '=' goes in quotes inside the argument, e.g. \"filter='a == \\\"b\\\"'\" "
                f"in a shell"
            ) from None
        if unknown := re.match(r"Could not override '([^']+)'", str(err)):
            raise ConfigError(
                f"{unknown.group(1)}: no such key in conf/{config_name}.yaml (its --help lists them); "
                f"+{unknown.group(1)}=... adds a new one"
            ) from None
        raise user_error(err) from None
    return cfg


def user_error(err: BaseException) -> UserError | FileNotFoundError:
    """A Hydra or OmegaConf error as the user error behind it (a ConfigError a resolver raised, a missing
    meta.json) or as a one-line ConfigError."""
    cause = root_cause(err)
    return cause if cause is not err else ConfigError(first_line(err))


def first_line(err: BaseException) -> str:
    """Hydra's or OmegaConf's message as one line, without the object_type dump OmegaConf adds."""
    lines = [
        line.strip()
        for line in str(err).strip().splitlines()
        if line.strip() and not line.strip().startswith(("object_type", "reference_type"))
    ]
    return "; ".join(lines) or type(err).__name__
