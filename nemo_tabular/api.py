"""The Python API: `TabularGPT().fit(df).sample(1000)`, over the same configs and stage code as the CLI.

Every default is conf/'s (model=auto, copy rejection on, ...): a call composes the stage's config exactly as
`nemo-tabular <stage>` does, with the call's arguments as overrides, and runs the same stage function. One
process, CPU or one GPU; multi-process training stays the CLI's (torchrun) job.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from nemo_tabular.cli import checks
from nemo_tabular.config import load_stage_config
from nemo_tabular.errors import ConfigError, UserError
from nemo_tabular.io import read_table
from nemo_tabular.quiet import quiet_known_warnings
from nemo_tabular.run_dir import PreparedData

log = logging.getLogger(__name__)
STAGE_CONFIGS = ("prepare", "train", "sample", "evaluate")


class TabularGPT:
    """A GPT synthesizer for one table.

    model: a conf/model name ("auto" sizes it to the table and budget, or tiny, small, ...).
    max_minutes: training's wall-clock budget (train.max_minutes); None = train.steps (auto: epochs).
    workdir: the run directory (data/, checkpoints/); None = a temporary one, kept until save() or exit.
    device: where sampling runs, "cpu" or "cuda"; None = cuda when there is a GPU.
    overrides: any config key, dots written as "__" (train__lr=1e-3, tokenizer__base=50, threads=2); each goes
        to every stage whose config has it.
    """

    def __init__(
        self,
        model: str = "auto",
        max_minutes: float | None = None,
        workdir: str | os.PathLike | None = None,
        device: str | None = None,
        **overrides: Any,
    ):
        self.model = model
        self.max_minutes = max_minutes
        self.overrides = {key.replace("__", "."): value for key, value in overrides.items()}
        self._temporary = None if workdir is not None else tempfile.TemporaryDirectory(prefix="nemo-tabular-")
        self.run_dir = Path(workdir if workdir is not None else self._temporary.name)
        self.device = device
        self._bundle = None
        self._bundle_dir: Path | None = None  # set by load() of an exported bundle: sampling only
        self.train_summary: dict | None = None
        routed = {key for stage in STAGE_CONFIGS for key in self._stage_values(stage)}
        if unknown := sorted(set(self.overrides) - routed):
            raise ConfigError(f"{', '.join(unknown)}: no such key in conf/{{{','.join(STAGE_CONFIGS)}}}.yaml")
        quiet_known_warnings()

    # ------------------------------------------------------------------ stages

    def fit(
        self,
        data: pd.DataFrame | str | os.PathLike,
        group_by: str | Sequence[str] | None = None,
        order_by: str | Sequence[str] | None = None,
        target: str | None = None,
        columns: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> TabularGPT:
        """Prepare `data` (a DataFrame or a CSV/Parquet path) and train on it; returns self.

        group_by/order_by make it sequential (entities ordered in time); target is the column evaluate()
        predicts; columns holds per-column tokenizer settings ({"price": {"decimals": 2}}).
        """
        if self._bundle_dir is not None:
            raise UserError(f"{self._bundle_dir}: an exported bundle samples only; fit a new TabularGPT")
        refuse_reimported_main()
        source = self._source_file(data)
        dataset = {
            "dataset.group_by": group_by,
            "dataset.order_by": order_by,
            "dataset.target": target,
            "dataset.columns": dict(columns or {}),
        }
        self._run("prepare", {"source": str(source), "paths.run_dir": str(self.run_dir), **dataset})
        train_values = {"run": str(self.run_dir), "train.max_minutes": self.max_minutes}
        cfg = self._config("train", train_values, [f"model={self.model}"])
        from nemo_tabular.training.loop import leave_process_group, train

        leave_process_group()  # loading a checkpoint here earlier set up a one-process group of its own
        try:
            self.train_summary = train(cfg)
        finally:
            leave_process_group()
        self._bundle = None
        return self

    def sample(
        self, n_rows: int, conditions: Mapping[str, Any] | pd.DataFrame | None = None, seed: int = 0
    ) -> pd.DataFrame:
        """n_rows synthetic rows (for a sequential table: whole entities until n_rows rows). conditions fixes
        columns: a {column: value} mapping for every row, or a DataFrame with one row (entity) per line."""
        values = {"n_rows": int(n_rows), "seed": int(seed)}
        with tempfile.TemporaryDirectory(prefix="nemo-tabular-sample-") as scratch:
            if isinstance(conditions, pd.DataFrame):
                conditions_file = Path(scratch) / "conditions.parquet"
                conditions.to_parquet(conditions_file, index=False)
                values["conditions"] = str(conditions_file)
            elif conditions is not None:
                values["conditions"] = dict(conditions)
            values["out"] = str(Path(scratch) / "synth.parquet")
            self._sample_stage(values)
            return read_table(values["out"], "sampled rows")

    def forecast(self, history: pd.DataFrame, horizon: int, n_paths: int = 100, seed: int = 0) -> pd.DataFrame:
        """Continue each entity of `history` by `horizon` rows, n_paths times: point forecasts and quantiles per
        entity, step and column (what `nemo-tabular sample mode=forecast` writes)."""
        with tempfile.TemporaryDirectory(prefix="nemo-tabular-forecast-") as scratch:
            history_file, out = Path(scratch) / "history.parquet", Path(scratch) / "forecast.parquet"
            history.to_parquet(history_file, index=False)
            self._sample_stage(
                {
                    "mode": "forecast",
                    "forecast.history": str(history_file),
                    "forecast.horizon": int(horizon),
                    "forecast.n_paths": int(n_paths),
                    "forecast.out": str(out),
                    "seed": int(seed),
                }
            )
            return read_table(out, "forecast")

    def evaluate(
        self,
        holdout: pd.DataFrame | None = None,
        synthetic: pd.DataFrame | None = None,
        report_dir: str | os.PathLike | None = None,
    ) -> dict:
        """The metrics dict of `synthetic` (default: as many rows as the training split, seed 0) against the
        training rows and `holdout` (default: the prepared test split); report_dir also keeps report.html."""
        from nemo_tabular.cli.evaluate import metrics_of

        self._require_run("evaluate")
        with tempfile.TemporaryDirectory(prefix="nemo-tabular-evaluate-") as scratch:
            values = {"run": str(self.run_dir), "out": str(report_dir or Path(scratch) / "report")}
            for key, frame in (("holdout", holdout), ("synth", synthetic)):
                if key == "synth" and frame is None:
                    frame = self.sample(PreparedData(self.run_dir / "data").split_count("train", "rows"))
                if frame is not None:
                    values[key] = str(Path(scratch) / f"{key}.parquet")
                    frame.to_parquet(values[key], index=False)
            return metrics_of(self._config("evaluate", values))

    # ------------------------------------------------------------------ persistence

    def save(self, directory: str | os.PathLike) -> Path:
        """Copy the run directory (data/, checkpoints/, summaries) to `directory`, which `load` and
        `nemo-tabular sample run=<directory>` read; an existing directory is replaced whole."""
        self._require_run("save")
        from nemo_tabular.io import swap_directory

        directory = Path(directory)
        if directory.resolve() == self.run_dir.resolve():
            return directory
        staging = directory.parent / f".{directory.name}.saving-{uuid.uuid4().hex[:8]}"
        shutil.copytree(self.run_dir, staging, ignore=shutil.ignore_patterns("logs", "tensorboard"))
        try:
            swap_directory(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | None = None, **overrides: Any) -> TabularGPT:
        """A saved run directory (what save() or the CLI wrote) or an exported bundle (sampling only)."""
        from nemo_tabular.sampling import is_bundle

        directory = Path(directory)
        if is_bundle(directory):
            model = cls(device=device, **overrides)
            model._bundle_dir = directory
            return model
        if not PreparedData(directory / "data").is_prepared():
            raise UserError(
                f"{directory}: neither a run directory (data/meta.json) nor an exported bundle "
                "(model.safetensors + config.json)"
            )
        return cls(workdir=directory, device=device, **overrides)

    # ------------------------------------------------------------------ plumbing

    def _sample_stage(self, values: dict) -> None:
        """Run the CLI's sample stage with `values`, keeping the opened model for the next call."""
        from nemo_tabular.cli import sample as sample_stage

        if self._bundle_dir is not None:  # a bundle carries no training rows to reject copies of
            values = {
                "run": str(self._bundle_dir),
                "model_path": str(self._bundle_dir),
                "reject_copies_of": None,
                **values,
            }
            if self._bundle is None:
                log.warning(
                    "%s: an exported bundle holds no training rows; sampled rows are not checked for "
                    "copies of them (sample from the run directory for that)",
                    self._bundle_dir,
                )
        else:
            self._require_run("sample")
            values = {"run": str(self.run_dir), **values}
        values["device"] = self.device or ("cuda" if cuda_available() else "cpu")
        cfg = self._config("sample", values)
        if self._bundle is None:
            self._bundle = sample_stage.open_configured_model(cfg)
        log.info(sample_stage.run(cfg, bundle=self._bundle))

    def _run(self, stage: str, values: dict) -> None:
        import importlib

        log.info(importlib.import_module(f"nemo_tabular.cli.{stage}").run(self._config(stage, values)))

    def _config(self, stage: str, values: Mapping[str, Any], overrides: Sequence[str] = ()):
        """The stage's composed config with the constructor's overrides and the call's values, checked."""
        cfg = load_stage_config(stage, overrides, {**self._stage_values(stage), **values})
        checks.check_config(stage, cfg)
        return cfg

    def _stage_values(self, stage: str) -> dict[str, Any]:
        """The constructor's overrides that `stage`'s config has."""
        keys = stage_defaults(stage)
        return {key: value for key, value in self.overrides.items() if has_key(keys, key)}

    def _source_file(self, data: pd.DataFrame | str | os.PathLike) -> Path:
        """`data` as a file prepare can read: a path as given, a DataFrame written into the run directory."""
        if isinstance(data, pd.DataFrame):
            self.run_dir.mkdir(parents=True, exist_ok=True)
            path = self.run_dir / "table.parquet"
            data.to_parquet(path, index=False)
            return path
        return Path(data)

    def _require_run(self, what: str) -> None:
        if not PreparedData(self.run_dir / "data").is_prepared():
            raise UserError(f"{what} needs a fitted model: call fit(df) first, or TabularGPT.load(<run directory>)")


_DEFAULTS: dict[str, dict] = {}


def stage_defaults(stage: str) -> dict:
    """A stage's config as composed with no overrides, as plain unresolved containers (which keys it has)."""
    if stage not in _DEFAULTS:
        from omegaconf import OmegaConf

        _DEFAULTS[stage] = OmegaConf.to_container(load_stage_config(stage), resolve=False)
    return _DEFAULTS[stage]


def has_key(tree: dict, dotted: str) -> bool:
    """True when the nested mapping holds the dotted key (a.b.c)."""
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return False
        tree = tree[part]
    return True


def refuse_reimported_main() -> None:
    """Checkpoint saving starts helper processes that re-import the calling script (multiprocessing's spawn);
    a script without a main guard would fit again in each of them, so say what to change instead."""
    import multiprocessing
    import sys

    if (
        multiprocessing.parent_process() is not None
        and getattr(sys.modules.get("__main__"), "__name__", "") == "__mp_main__"
    ):
        raise UserError(
            "TabularGPT.fit() ran in a helper process that re-imported your script: put the calling "
            'code under `if __name__ == "__main__":` (notebooks need nothing)'
        )


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
