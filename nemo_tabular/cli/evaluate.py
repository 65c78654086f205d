"""`nemo-tabular evaluate`: metrics.json and report.html of a synthetic table against real and holdout rows."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from nemo_tabular.errors import ConfigError


def run(cfg: DictConfig) -> str:
    """Evaluate the configured files and return a one-line summary of the headline numbers."""
    return f"{cfg.out}: " + headline(metrics_of(cfg))


def metrics_of(cfg: DictConfig) -> dict:
    """Evaluate the configured files, write <out>/metrics.json and report.html, and return the metrics."""
    from nemo_tabular.evaluation import EvaluationSettings, Provenance, evaluate

    settings = EvaluationSettings(
        seed=cfg.seed,
        fidelity_max_rows=cfg.fidelity_max_rows,
        utility_max_rows=cfg.utility_max_rows,
        privacy_max_synthetic_rows=cfg.privacy_max_synthetic_rows,
        privacy_max_reference_rows=cfg.privacy_max_reference_rows,
        detection_max_rows=cfg.detection_max_rows,
        detection_folds=cfg.detection_folds,
        detection_max_iter=cfg.detection_max_iter,
        threads=cfg.threads,
        progress=cfg.progress,
    )
    tokenizer = cfg.tokenizer if cfg.tokenizer and Path(cfg.tokenizer).is_file() else None
    provenance = Provenance(**OmegaConf.to_object(cfg.provenance)) if cfg.provenance is not None else None
    return evaluate(
        cfg.real,
        cfg.holdout,
        cfg.synth,
        cfg.out,
        target=cfg.target,
        tokenizer=tokenizer,
        group_by=plain(cfg.group_by),
        order_by=plain(cfg.order_by),
        settings=settings,
        provenance=provenance,
        forecast=forecast_scores(cfg),
    )


def forecast_scores(cfg: DictConfig) -> dict | None:
    """forecast.paths scored against forecast.future beside the baselines fitted on forecast.history; None when
    no forecast is given."""
    files = {key: cfg.forecast[key] for key in ("history", "future", "paths")}
    if all(path is None for path in files.values()):
        return None
    missing = [f"forecast.{key}" for key, path in files.items() if path is None]
    if missing:
        given = ", ".join(f"forecast.{key}" for key, path in files.items() if path is not None)
        raise ConfigError(f"{given} given without {', '.join(missing)}: a forecast is scored from all three files")
    if cfg.order_by is None:
        raise ConfigError("forecast.*: a forecast needs order_by (the time order of each series)")
    from nemo_tabular.evaluation import forecast_metrics
    from nemo_tabular.io import read_table

    tables = {key: read_table(path, f"forecast.{key}") for key, path in files.items()}
    return forecast_metrics(
        tables["history"],
        tables["future"],
        tables["paths"],
        group_by=plain(cfg.group_by),
        order_by=plain(cfg.order_by),
        progress=cfg.progress,
    )


def plain(value):
    """A config list as a Python list; a name or null as is."""
    return OmegaConf.to_object(value) if OmegaConf.is_list(value) else value


def headline(metrics: dict) -> str:
    """The numbers a reader looks at first, in one line."""
    fidelity, privacy, detection = metrics["fidelity"], metrics["privacy"], metrics["detection"]
    summary = [
        f"quality {fidelity['overall']:.3f}",
        "detection n/a (too few rows)"
        if detection["score"] is None
        else f"detection {detection['score']:.3f} (AUC {detection['roc_auc']:.3f})",
        f"dcr share {privacy['dcr_share_closer_to_train']:.3f}",
        f"valid {metrics['validity']['valid_share']:.3f}",
    ]
    if metrics["utility"] is not None:
        ratio = metrics["utility"]["ratio"]
        ratios = ", ".join(
            f"{name} {'n/a' if value is None else format(value, '.3f')}" for name, value in ratio.items()
        )
        undefined = " (n/a: the model trained on real rows scores 0 or less)" if None in ratio.values() else ""
        summary.append(f"utility ratio {ratios}{undefined}")
    return "; ".join(summary)
