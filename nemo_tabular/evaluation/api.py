"""The `evaluate` entry point: load inputs, run every metric family, write metrics.json and report.html."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from nemo_tabular.columns import as_list
from nemo_tabular.evaluation.detection import detection_metrics, train_vs_holdout
from nemo_tabular.evaluation.errors import EvaluationError
from nemo_tabular.evaluation.fidelity import quality_report
from nemo_tabular.evaluation.loading import check_has_column, check_same_columns
from nemo_tabular.evaluation.metadata import column_kinds
from nemo_tabular.evaluation.plots import report_figures
from nemo_tabular.evaluation.privacy import privacy_metrics
from nemo_tabular.evaluation.progress import StageClock
from nemo_tabular.evaluation.provenance import Provenance, embedding_audit, training_provenance
from nemo_tabular.evaluation.report import SCHEMA_VERSION, write_report
from nemo_tabular.evaluation.sampling import subsample
from nemo_tabular.evaluation.sequential import sequential_metrics, with_forecast
from nemo_tabular.evaluation.utility import tstr_vs_trtr
from nemo_tabular.evaluation.validity import validity
from nemo_tabular.io import TableError, read_table
from nemo_tabular.sampling.sampler import ENTITY_COLUMN

Table = pd.DataFrame | str | Path
Keys = str | Sequence[str] | None


@dataclass(frozen=True)
class EvaluationSettings:
    """Seed and row caps that keep each metric family fast on large tables (None = all rows)."""

    seed: int = 0
    fidelity_max_rows: int | None = 20_000
    utility_max_rows: int | None = 200_000
    privacy_max_synthetic_rows: int | None = 100_000
    privacy_max_reference_rows: int | None = 50_000
    detection_max_rows: int | None = 10_000  # holdout and synthetic rows each for the detection classifier
    detection_folds: int = 5
    detection_max_iter: int = 100  # boosting rounds per fold
    threads: int | None = 1  # OpenMP/BLAS threads; more than the free cores slows gradient boosting tenfold
    progress: bool = True


def _load(table: Table, role: str) -> tuple[pd.DataFrame, str]:
    """A DataFrame and a name for error messages, from a frame or a CSV/Parquet path."""
    if isinstance(table, pd.DataFrame):
        if table.empty:
            raise EvaluationError(f"{role} table has no rows")
        return table, f"<{role} DataFrame>"
    try:
        return read_table(table, role), str(table)
    except TableError as err:
        raise EvaluationError(str(err)) from None


def _load_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer object as given, or loaded from a tokenizer.json path."""
    if tokenizer is None or not isinstance(tokenizer, (str, Path)):
        return tokenizer
    if not Path(tokenizer).is_file():
        raise EvaluationError(f"tokenizer file not found: {tokenizer}")
    from nemo_tabular.tokenizer import TabularTokenizer  # imported late: evaluation works without a tokenizer

    return TabularTokenizer.load(tokenizer)


def evaluate(
    real: Table,
    holdout: Table,
    synth: Table,
    out: str | Path | None = None,
    *,
    target: str | None = None,
    tokenizer: Any = None,
    group_by: Keys = None,
    order_by: Keys = None,
    settings: EvaluationSettings = EvaluationSettings(),
    provenance: Provenance | None = None,
    forecast: dict | None = None,
) -> dict:
    """Compare synthetic rows with the training rows and an unseen holdout; write a report to `out` if given.

    `provenance`: the run's records (train_summary.json, the checkpoint's config.yaml, the embedding audit)
    the report shows beside the metrics; Provenance.of_run(run_dir) finds them in a run directory.

    `forecast`: scores from evaluation.forecast.forecast_metrics, written under sequential.forecast.
    """
    with threadpool_limits(limits=settings.threads):
        return _evaluate(
            real, holdout, synth, out, target, tokenizer, group_by, order_by, settings, provenance, forecast
        )


def _evaluate(
    real: Table,
    holdout: Table,
    synth: Table,
    out: str | Path | None,
    target: str | None,
    tokenizer: Any,
    group_by: Keys,
    order_by: Keys,
    settings: EvaluationSettings,
    provenance: Provenance | None,
    forecast: dict | None = None,
) -> dict:
    """The body of `evaluate`, run under its thread limit."""
    stages = [
        "load",
        "fidelity",
        "detection",
        *(["utility"] if target is not None else []),
        "privacy",
        "validity",
        *(["sequential"] if as_list(group_by) else []),
        *(["figures"] if out is not None else []),
    ]
    clock = StageClock(stages, settings.progress)
    with clock.stage("load"):
        real, real_source = _load(real, "real")
        holdout, holdout_source = _load(holdout, "holdout")
        synth, synth_source = _load(synth, "synthetic")
        # the run's records are read first, so a broken file fails before minutes of metrics
        training_record, audit_record = training_provenance(provenance), embedding_audit(provenance)
    group_by, order_by = as_list(group_by), as_list(order_by)
    # The sampler names each generated entity in its own column when group_by values are generated
    # (two synthetic entities may share a city), or each series of a single-series table (order_by
    # alone): sequential metrics group synthetic rows by it.
    synth_entities = None
    if (group_by or order_by) and ENTITY_COLUMN in synth.columns and ENTITY_COLUMN not in real.columns:
        synth_entities = synth[ENTITY_COLUMN]
        synth = synth.drop(columns=ENTITY_COLUMN)
    holdout = check_same_columns(real, holdout, "holdout", holdout_source)
    synth = check_same_columns(real, synth, "synthetic", synth_source)
    named = [("target", target)] if target is not None else []
    named += [("group_by", name) for name in group_by] + [("order_by", name) for name in order_by]
    for what, column in named:
        check_has_column(real, column, what, real_source)
    tokenizer = _load_tokenizer(tokenizer)

    kinds = column_kinds(real, tokenizer)
    # entity ids carry no distribution: every metric but the sequential ones leaves them out
    row_kinds = {name: kind for name, kind in kinds.items() if name not in group_by}
    seed = settings.seed
    with clock.stage("fidelity"):
        real_sample = subsample(real, settings.fidelity_max_rows, seed)
        synth_sample = subsample(synth, settings.fidelity_max_rows, seed + 1)
        holdout_sample = subsample(holdout, settings.fidelity_max_rows, seed + 2)
        columns = list(row_kinds)
        fidelity = quality_report(real_sample[columns], synth_sample[columns], row_kinds)
        fidelity["rows"] = {"real": len(real_sample), "synthetic": len(synth_sample)}
        # the reference: fresh real rows (the holdout) scored against the same training rows
        fidelity["holdout_reference"] = quality_report(real_sample[columns], holdout_sample[columns], row_kinds)
        fidelity["holdout_reference"]["rows"] = {"real": len(real_sample), "holdout": len(holdout_sample)}
    with clock.stage("detection"):
        detection = detection_metrics(
            holdout,
            synth,
            row_kinds,
            seed,
            max_rows=settings.detection_max_rows,
            folds=settings.detection_folds,
            max_iter=settings.detection_max_iter,
        )
        detection["holdout_reference"] = train_vs_holdout(
            holdout,
            real,
            row_kinds,
            seed,
            rows=detection["rows"]["holdout"],
            folds=settings.detection_folds,
            max_iter=settings.detection_max_iter,
        )
    utility = None
    if target is not None:
        with clock.stage("utility"):
            train_rows = [
                subsample(frame, settings.utility_max_rows, seed + offset)
                for offset, frame in enumerate((real, synth, holdout))
            ]
            utility = tstr_vs_trtr(*train_rows, target=target, kinds=row_kinds, seed=seed)
            utility["rows"] = dict(zip(("real", "synthetic", "holdout"), map(len, train_rows)))
    with clock.stage("privacy"):
        privacy, distances = privacy_metrics(
            real,
            holdout,
            synth,
            row_kinds,
            seed,
            max_synthetic_rows=settings.privacy_max_synthetic_rows,
            max_reference_rows=settings.privacy_max_reference_rows,
            progress=settings.progress,
        )
    with clock.stage("validity"):
        valid = validity(real, synth, row_kinds)
        holdout_valid = validity(real, holdout, row_kinds)
        valid["holdout_reference"] = {key: holdout_valid[key] for key in ("valid_share", "column_invalid_share")}
    sequential = None
    if group_by:
        with clock.stage("sequential"):
            sequential = sequential_metrics(
                real,
                synth
                if synth_entities is None
                else synth.assign(**{name: synth_entities.to_numpy() for name in group_by}),
                kinds,
                group_by,
                order_by,
            )
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "inputs": {
            role: {"source": source, "rows": len(frame)}
            for role, source, frame in (
                ("real", real_source, real),
                ("holdout", holdout_source, holdout),
                ("synthetic", synth_source, synth),
            )
        },
        "columns": kinds,
        "settings": {key: value for key, value in asdict(settings).items() if key not in ("progress", "threads")}
        | {"target": target, "group_by": group_by, "order_by": order_by, "tokenizer": tokenizer is not None},
        "fidelity": fidelity,
        "detection": detection,
        "utility": utility,
        "privacy": privacy,
        "validity": valid,
        "sequential": sequential,
        "provenance": training_record,
        "embedding_audit": audit_record,
        "timings": clock.seconds,  # filled as the stages end: the figures' time is in before the files are written
    }
    if forecast is not None:
        metrics["sequential"] = with_forecast(metrics["sequential"], forecast, group_by, order_by)
    if out is not None:
        with clock.stage("figures"):
            figures = report_figures(
                real_sample[columns], synth_sample[columns], row_kinds, distances.synthetic, distances.holdout
            )
        write_report(metrics, figures, Path(out))
    clock.close()
    return metrics
