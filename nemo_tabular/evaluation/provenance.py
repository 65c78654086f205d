"""How the synthetic rows were made, for the report: the model, its training run and the embedding audit.

Read from the run's own records when they exist: train_summary.json (training writes it at the end: steps,
seconds, tokens/s, losses), the checkpoint's config.yaml (the resolved training config: the model's
shape) and report/embedding_audit.json (`nemo-tabular embed`'s vector-search privacy audit). Each is
optional: files judged outside a run, a run not trained yet or not embedded yet give null sections. A
file that exists but cannot be read fails the evaluation at its start, naming the file, rather than
leaving a silently shorter report. Only the expected keys are copied, numbers only where numbers belong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from nemo_tabular.evaluation.errors import EvaluationError

TRAIN_SUMMARY = "train_summary.json"
MODEL_CONFIG = "checkpoints/config.yaml"
EMBEDDING_AUDIT = "report/embedding_audit.json"

MODEL_KEYS = ("num_layers", "hidden_size", "num_attention_heads", "ffn_hidden_size", "seq_length")
AUDIT_KEYS = (
    "n_synthetic",
    "n_holdout",
    "share_closer_to_train",
    "median_distance_to_train",
    "median_holdout_distance_to_train",
    "flag_quantile",
    "flag_threshold",
    "copy_rate",
    "flagged_rate",
)

FilePath = str | Path | None


@dataclass(frozen=True)
class Provenance:
    """The files the report reads how the synthetic rows were made from; None or a missing file is skipped."""

    train_summary: FilePath = None
    model_config: FilePath = None
    embedding_audit: FilePath = None

    @classmethod
    def of_run(cls, run_dir: str | Path) -> Provenance:
        """A run directory's records where conf/evaluate.yaml looks for them."""
        run_dir = Path(run_dir)
        return cls(run_dir / TRAIN_SUMMARY, run_dir / MODEL_CONFIG, run_dir / EMBEDDING_AUDIT)


def _read(path: FilePath, what: str) -> tuple[dict, str] | None:
    """A JSON or YAML file's mapping and its path as text; None when no path is given or the file is absent."""
    if path is None or not Path(path).is_file():
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
        content = yaml.safe_load(text) if Path(path).suffix in (".yaml", ".yml") else json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as err:
        raise EvaluationError(
            f"{path}: {what} cannot be read ({type(err).__name__}); fix or remove it, or set it to null"
        ) from None
    if not isinstance(content, dict):
        raise EvaluationError(f"{path}: {what} is not a mapping; fix or remove it, or set it to null")
    return content, str(path)


def _number(value: Any) -> int | float | None:
    """A finite int or float as is; anything else (text, a bool, a list, NaN) as None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value if math.isfinite(value) else None


def _text(value: Any) -> str | None:
    """A string or a number as text; anything else as None."""
    return str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None


def block_weights(layers: int, hidden: int, ffn: int) -> int:
    """Weights of the transformer blocks (attention 4 h^2, MLP 2 h ffn per layer); embeddings and biases left out."""
    return layers * (4 * hidden * hidden + 2 * hidden * ffn)


def _model(config: dict, source: str) -> dict:
    """The model's shape from the checkpoint's resolved config."""
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    shape = {key: _number(model.get(key)) for key in MODEL_KEYS}
    sizes = (shape["num_layers"], shape["hidden_size"], shape["ffn_hidden_size"])
    return {
        "source": source,
        "name": _text(model.get("name")),
        **shape,
        "block_weights": block_weights(*map(int, sizes)) if all(sizes) else None,
        "global_batch": _number(train.get("global_batch")),
    }


def _training(summary: dict, source: str) -> dict:
    """Steps, time, throughput, losses and the parallel layout from train_summary.json."""
    return {
        "source": source,
        "planned_steps": _number(summary.get("steps")),
        "trained_steps": _number(summary.get("end_step")),
        "start_step": _number(summary.get("start_step")),
        "seconds": _number(summary.get("seconds")),
        "tokens_per_s": _number(summary.get("tokens_per_s")),
        "final_train_loss": _number(summary.get("final_train_loss")),
        "final_valid_loss": _number(summary.get("final_valid_loss")),
        "best_step": _number(summary.get("best_step")),
        "precision": _text(summary.get("precision")),
        "processes": {key: _number(summary.get(key)) for key in ("world_size", "tensor", "pipeline", "data")},
    }


def training_provenance(provenance: Provenance | None) -> dict | None:
    """metrics.json's `provenance`: {model, training}, each null without its file; null without either."""
    if provenance is None:
        return None
    config = _read(provenance.model_config, "the checkpoint's config.yaml")
    summary = _read(provenance.train_summary, "train_summary.json")
    if config is None and summary is None:
        return None
    return {"model": _model(*config) if config else None, "training": _training(*summary) if summary else None}


def embedding_audit(provenance: Provenance | None) -> dict | None:
    """metrics.json's `embedding_audit`: the audit's figures and how many flagged rows it lists; null without it."""
    audit = _read(provenance.embedding_audit, "the embedding audit") if provenance is not None else None
    if audit is None:
        return None
    content, source = audit
    flagged = content.get("flagged")
    return {
        "source": source,
        **{key: _number(content.get(key)) for key in AUDIT_KEYS},
        "flagged_listed": len(flagged) if isinstance(flagged, list) else None,
    }
