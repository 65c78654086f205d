"""Hydra entry for evaluation, writing <out>/metrics.json and <out>/report.html:

    python scripts/evaluate.py real=train.parquet holdout=holdout.parquet synth=synth.parquet target=price out=report/

See conf/evaluate.yaml and nemo_tabular/evaluation/README.md.
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from nemo_tabular.evaluation import EvaluationSettings, evaluate


def run(cfg: DictConfig) -> str:
    """Evaluate the configured files and return a one-line summary of the headline numbers."""
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
    metrics = evaluate(
        cfg.real,
        cfg.holdout,
        cfg.synth,
        cfg.out,
        target=cfg.target,
        tokenizer=tokenizer,
        group_by=OmegaConf.to_object(cfg.group_by) if OmegaConf.is_list(cfg.group_by) else cfg.group_by,
        order_by=OmegaConf.to_object(cfg.order_by) if OmegaConf.is_list(cfg.order_by) else cfg.order_by,
        settings=settings,
    )
    fidelity, privacy, detection = metrics["fidelity"], metrics["privacy"], metrics["detection"]
    summary = [
        f"quality {fidelity['overall']:.3f}",
        "detection n/a (too few rows)" if detection["score"] is None
        else f"detection {detection['score']:.3f} (AUC {detection['roc_auc']:.3f})",
        f"dcr share {privacy['dcr_share_closer_to_train']:.3f}",
        f"valid {metrics['validity']['valid_share']:.3f}",
    ]
    if metrics["utility"] is not None:
        ratio = metrics["utility"]["ratio"]
        ratios = ", ".join(f"{name} {'n/a' if value is None else format(value, '.3f')}" for name, value in ratio.items())
        undefined = " (n/a: the model trained on real rows scores 0 or less)" if None in ratio.values() else ""
        summary.append(f"utility ratio {ratios}{undefined}")
    return f"{cfg.out}: " + "; ".join(summary)


@hydra.main(config_path="../conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Run evaluation; bad inputs print one clear line and exit 1."""
    try:
        print(run(cfg))
    except (ValueError, FileNotFoundError) as err:  # EvaluationError and TokenizerError are ValueErrors
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
