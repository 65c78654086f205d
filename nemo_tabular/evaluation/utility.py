"""Machine-learning utility: train on synthetic vs train on real, both tested on the real holdout."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score

from nemo_tabular.evaluation.metadata import NUMERIC_KINDS, as_labels, as_numbers, conform

MAX_NATIVE_CATEGORIES = 255  # HistGradientBoosting's limit; wider columns are passed as category codes


def is_classification(kind: str) -> bool:
    """Categorical and boolean targets are classified; numeric and datetime targets regressed."""
    return kind not in NUMERIC_KINDS


def model_features(frame: pd.DataFrame, kinds: dict[str, str], categories: dict[str, list[str]]) -> pd.DataFrame:
    """Model inputs: numbers as float, categoricals over `categories` (values outside them as NaN)."""
    columns = {}
    for name, kind in kinds.items():
        if kind in NUMERIC_KINDS:
            columns[name] = as_numbers(frame[name])
            continue
        values = pd.Categorical(as_labels(frame[name]), categories=categories[name])
        if len(categories[name]) > MAX_NATIVE_CATEGORIES:
            values = np.where(values.codes < 0, np.nan, values.codes.astype("float64"))
        columns[name] = values
    return pd.DataFrame(columns, index=frame.index)


def macro_ovr_auc(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float | None:
    """Mean one-vs-rest ROC-AUC over the classes that occur in `labels` (None when fewer than two occur)."""
    scores = []
    for position, cls in enumerate(classes):
        positives = labels == cls
        if positives.any() and not positives.all():
            scores.append(roc_auc_score(positives, probabilities[:, position]))
    return float(np.mean(scores)) if scores else None


def _fit_and_score(
    train: pd.DataFrame, test: pd.DataFrame, target: str, kinds: dict, categories: dict, seed: int
) -> dict:
    """Fit a HistGradientBoosting model on `train` and score it on `test`."""
    features = {name: kind for name, kind in kinds.items() if name != target}
    x_train = model_features(train, features, categories)
    x_test = model_features(test, features, categories)
    if not is_classification(kinds[target]):
        model = HistGradientBoostingRegressor(random_state=seed, categorical_features="from_dtype")
        y_train, y_test = as_numbers(train[target]), as_numbers(test[target])
        keep = ~np.isnan(y_train)
        model.fit(x_train[keep], y_train[keep])
        known = ~np.isnan(y_test)
        return {"r2": float(r2_score(y_test[known], model.predict(x_test[known])))}
    y_train, y_test = as_labels(train[target]).to_numpy(), as_labels(test[target]).to_numpy()
    if len(np.unique(y_train)) < 2:
        return {"accuracy": float(np.mean(y_test == y_train[0])), "roc_auc": None}
    model = HistGradientBoostingClassifier(random_state=seed, categorical_features="from_dtype")
    model.fit(x_train, y_train)
    return {
        "accuracy": float(accuracy_score(y_test, model.predict(x_test))),
        "roc_auc": macro_ovr_auc(y_test, model.predict_proba(x_test), model.classes_),
    }


def _ratio(synthetic: float | None, real: float | None) -> float | None:
    """TSTR / TRTR, undefined when the real baseline is missing or not positive."""
    if synthetic is None or real is None or real <= 0:
        return None
    return synthetic / real


def tstr_vs_trtr(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    holdout: pd.DataFrame,
    target: str,
    kinds: dict[str, str],
    seed: int,
) -> dict:
    """Score models trained on synthetic and on real rows on the same holdout, and their ratio.

    Every table is conformed to the column kinds first: a holdout read from CSV holds its dates as text,
    which would otherwise become NaN features (and NaN targets) while the Parquet tables keep them.
    """
    real, synth, holdout = (conform(frame, kinds) for frame in (real, synth, holdout))
    categories = {
        name: sorted(as_labels(real[name]).unique()) for name, kind in kinds.items() if kind not in NUMERIC_KINDS
    }
    trtr = _fit_and_score(real, holdout, target, kinds, categories, seed)
    tstr = _fit_and_score(synth, holdout, target, kinds, categories, seed)
    return {
        "task": "classification" if is_classification(kinds[target]) else "regression",
        "target": target,
        "model": "HistGradientBoosting",
        "train_real_test_real": trtr,
        "train_synthetic_test_real": tstr,
        "ratio": {metric: _ratio(tstr[metric], trtr[metric]) for metric in trtr},
    }
