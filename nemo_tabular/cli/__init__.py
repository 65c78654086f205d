"""The `nemo-tabular` command: one subcommand per pipeline stage, each over its Hydra config in conf/.

    nemo-tabular prepare source=my.csv
    nemo-tabular train run=runs/my train.max_minutes=5
    nemo-tabular sample run=runs/my n_rows=10000

The config is composed and checked (nemo_tabular.cli.checks) before the stage's heavy imports, so --help and
a bad value answer in a second or two. User errors print one line; bugs keep their traceback (-v: always).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from nemo_tabular.errors import UserError


@dataclass(frozen=True)
class Stage:
    name: str
    config_name: str
    summary: str


STAGES = {
    stage.name: stage
    for stage in (
        Stage(
            "prepare", "prepare", "a table (CSV/Parquet) -> tokenizer, Megatron .bin/.idx and splits under runs/<name>/"
        ),
        Stage("train", "train", "a GPT on a prepared run (torchrun for several processes)"),
        Stage("sample", "sample", "synthetic rows, conditioned rows, or forecasts (mode=forecast)"),
        Stage("evaluate", "evaluate", "quality, detection, utility, privacy and validity -> report/"),
        Stage("embed", "embed", "row embeddings into Milvus Lite and a nearest-neighbour privacy audit"),
        Stage("search", "search", "the stored rows nearest to given rows"),
        Stage("export", "export", "checkpoint -> standalone bundle and Hugging Face GPT-2 directory"),
        Stage("launch", "launch", "run a stage here or as a Slurm batch job"),
    )
}
VERBOSE_FLAGS = ("-v", "--verbose")


def usage() -> str:
    width = max(map(len, STAGES))
    lines = [
        "usage: nemo-tabular STAGE [key=value ...] [-v]   (nemo-tabular STAGE --help lists the keys)",
        "",
        "stages:",
    ]
    lines += [f"  {stage.name:<{width}}  {stage.summary}" for stage in STAGES.values()]
    return "\n".join(lines)


def stage_help(stage: Stage) -> str:
    """The stage's config file as written, comments included: every key, its default and its meaning."""
    from nemo_tabular.resources import config_dir

    conf = config_dir()
    groups = sorted(path.name for path in conf.iterdir() if path.is_dir())
    options = {group: sorted(p.stem for p in (conf / group).glob("*.yaml")) for group in groups}
    text = (conf / f"{stage.config_name}.yaml").read_text()
    group_lines = "\n".join(f"  {group}: {', '.join(names)}" for group, names in options.items())
    return (
        f"usage: nemo-tabular {stage.name} [key=value ...] [-v]\n\n{text}\nconfig groups (group=name):\n"
        f"{group_lines}\n\nHydra's own flags (--cfg job, -m for sweeps, ...) work too: see `--hydra-help`."
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Dispatch `nemo-tabular STAGE overrides...`; exits 1 with one line on a user error."""
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = any(flag in argv for flag in VERBOSE_FLAGS)
    argv = [arg for arg in argv if arg not in VERBOSE_FLAGS]
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    name, overrides = argv[0], argv[1:]
    if name not in STAGES:
        fail(f"unknown stage {name!r}; choose one of: {', '.join(STAGES)}")
    stage = STAGES[name]
    if any(arg in ("-h", "--help") for arg in overrides):
        print(stage_help(stage))
        return
    from nemo_tabular.quiet import quiet_known_warnings

    quiet_known_warnings(verbose)
    try:
        if name == "launch":
            from nemo_tabular.launch.cli import pass_through_overrides

            overrides = pass_through_overrides(overrides)
        from nemo_tabular.config import open_map_overrides

        overrides = open_map_overrides(overrides)  # dataset.columns={...} as the README writes it
        hydra_flags = [arg for arg in overrides if arg.startswith("-")]
        if not hydra_flags:  # Hydra's own flags (--cfg, -m, --hydra-help) compose on their own
            from nemo_tabular.cli.checks import check_config
            from nemo_tabular.config import load_stage_config

            check_config(name, load_stage_config(stage.config_name, overrides))
    except (UserError, FileNotFoundError) as err:
        fail(str(err), err if verbose else None)
    run_with_hydra(stage, overrides, verbose)


def run_with_hydra(stage: Stage, overrides: list[str], verbose: bool) -> None:
    """Run the stage under Hydra (its log directory, .hydra/ record and sweeps), printing its summary."""
    import hydra

    from nemo_tabular.config import register_resolvers
    from nemo_tabular.resources import config_dir

    register_resolvers()

    @hydra.main(config_path=str(config_dir()), config_name=stage.config_name, version_base="1.3")
    def entry(cfg) -> None:
        from omegaconf.errors import OmegaConfBaseException

        from nemo_tabular.config import root_cause
        from nemo_tabular.interrupts import Terminated, signals_as_exceptions

        module = importlib.import_module(f"nemo_tabular.cli.{stage.name}")
        # torchrun and the launcher manage their own children's signals; every other stage cleans up on SIGTERM
        handling = signals_as_exceptions() if stage.name not in OWN_SIGNALS else contextlib.nullcontext()
        try:
            with handling:
                summary = module.run(cfg)
        except (UserError, FileNotFoundError) as err:
            fail(str(err), err if verbose else None)
        except OmegaConfBaseException as err:  # a key read late that derives from a run nobody named, ...
            if (cause := root_cause(err)) is err:
                raise  # a bug: keep the traceback
            fail(str(cause), err if verbose else None)
        except Terminated as err:
            fail(
                f"stopped by {err.signal_name}; its temporary files are removed",
                err if verbose else None,
                code=int(err.code),
            )
        except KeyboardInterrupt as err:
            fail("interrupted; its temporary files are removed", err if verbose else None, code=130)
        except OSError as err:
            if err.errno not in USER_OS_ERRORS:
                raise  # a bug or a broken machine: keep the traceback
            fail(os_error_line(err), err if verbose else None)
        if summary:
            print(summary)

    sys.argv = [f"nemo-tabular {stage.name}", *overrides]
    entry()


def fail(message: str, err: BaseException | None = None, code: int = 1) -> None:
    """Print `error: message` (and err's traceback when asked for) and exit with `code` (1 by default)."""
    if err is not None:
        import traceback

        traceback.print_exception(err)
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


OWN_SIGNALS = ("train", "launch")
# OS errors a user fixes (a read-only or full output directory, a file where a directory should be): one line
USER_OS_ERRORS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENAMETOOLONG,
}


def os_error_line(err: OSError) -> str:
    """`path: reason` for an OSError (both paths of a rename), without Python's [Errno N] prefix."""
    paths = [str(name) for name in (err.filename, err.filename2) if name is not None]
    reason = err.strerror or str(err)
    return f"{' -> '.join(paths)}: {reason}" if paths else reason
