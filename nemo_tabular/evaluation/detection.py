"""Detection: a classifier two-sample test of whether synthetic rows can be told from real holdout rows.

A gradient-boosting classifier learns to tell holdout rows (label 0) from synthetic rows (label 1) on
equal-size seeded subsamples, cross-validated with stratified folds. Its out-of-fold ROC AUC is 0.5
when nothing separates the two tables and 1 when every synthetic row gives itself away; the detection
score 2 * (1 - max(AUC, 0.5)) puts that on the scale of the other scores (1 = indistinguishable,
0 = always detected), as TabSyn, TabDiff and ORiGAMi report it. The holdout is the real side because
the generator never saw it. Rows are classified one by one, so a sequential table's rows count as
independent rows here.

The reference beside it is the same test of training rows against the holdout, on as many rows per side:
what a generator that drew exactly from the training rows' distribution would score, split shift and
the classifier's own noise at this sample size included. It costs one more cross-validated fit of the
same size. Holdout half against holdout half would cost about half as much, but at half the rows per
side its AUC scatters more, and it cannot show a shift between the training split and the holdout, so
it would not be the same test.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from nemo_tabular.evaluation.metadata import categorical_columns, conform
from nemo_tabular.evaluation.sampling import subsample
from nemo_tabular.evaluation.utility import model_features


def detection_score(auc: float) -> float:
    """2 * (1 - max(AUC, 0.5)): 1 when the classifier does no better than chance, 0 when always right."""
    return 2.0 * (1.0 - max(auc, 0.5))


def _out_of_fold_scores(features: pd.DataFrame, labels: np.ndarray, folds: int, max_iter: int, seed: int) -> np.ndarray:
    """Each row's predicted synthetic probability from the model of the fold that held it out."""
    model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed, categorical_features="from_dtype")
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return cross_val_predict(model, features, labels, cv=splits, method="predict_proba")[:, 1]


def detection_metrics(
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: dict[str, str],
    seed: int,
    *,
    max_rows: int | None = 10_000,
    folds: int = 5,
    max_iter: int = 100,
) -> dict:
    """Out-of-fold ROC AUC of a classifier telling holdout from synthetic rows, and its detection score.

    Both sides are cut to the same number of rows (the smaller table, at most `max_rows`), so 0.5 is
    the chance level; folds shrink to the rows per side on tiny tables, and fewer than two rows per
    side leave the scores null.
    """
    rows = min(len(holdout), len(synth), math.inf if max_rows is None else max_rows)
    folds = min(folds, rows)
    result = {
        "model": "HistGradientBoosting",
        "folds": folds,
        "roc_auc": None,
        "score": None,
        "rows": {"holdout": rows, "synthetic": rows},
    }
    if folds < 2:
        return result
    # conformed first: a holdout read from CSV holds dates and booleans as text, the synthetic Parquet not
    sides = [conform(subsample(frame, rows, seed + offset), kinds) for offset, frame in enumerate((holdout, synth))]
    both = pd.concat(sides, ignore_index=True)
    categories = {name: sorted(both[name].unique()) for name in categorical_columns(kinds)}
    labels = np.repeat([0, 1], rows)
    scores = _out_of_fold_scores(model_features(both, kinds, categories), labels, folds, max_iter, seed)
    auc = float(roc_auc_score(labels, scores))
    return result | {"roc_auc": auc, "score": detection_score(auc)}


def train_vs_holdout(
    holdout: pd.DataFrame,
    train: pd.DataFrame,
    kinds: dict[str, str],
    seed: int,
    *,
    rows: int,
    folds: int,
    max_iter: int,
) -> dict:
    """The detection reference: training rows (label 1) against holdout rows, `rows` a side at most, as scored
    for the synthetic rows (see the module docstring)."""
    result = detection_metrics(holdout, train, kinds, seed, max_rows=rows, folds=folds, max_iter=max_iter)
    return {
        "compared": "train_vs_holdout",
        "roc_auc": result["roc_auc"],
        "score": result["score"],
        "rows": {"holdout": result["rows"]["holdout"], "train": result["rows"]["synthetic"]},
    }
