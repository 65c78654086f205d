"""`nemo-tabular evaluate`: metrics.json and report.html of a synthetic table against real and holdout rows."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf


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
