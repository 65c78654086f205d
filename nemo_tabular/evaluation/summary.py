"""The report's first screen: one card per metric family, the synthetic value beside the holdout's own.

A synthetic table's number means little alone: the holdout (real rows the model never saw) scored the
same way shows what fresh real data gets. Each card holds both, a one-line explanation and the figures
behind it; every number is read from metrics.json by its path (markup.value_at) and names that path, so
the cards can be checked against metrics.json exactly. Utility's reference is the one not measured: it
is 1 by definition, since TRTR (the model trained on real rows, tested on the holdout) is what the ratio
divides by, and the card says so.
"""

from __future__ import annotations

from nemo_tabular.evaluation import glossary
from nemo_tabular.evaluation.markup import Value, format_number, text, value_at

TOO_FEW_ROWS = "too few rows: under 2 a side"
NO_COLUMN = "no column could be scored"
NO_PAIRS = "no column pair has a real trend to score"
NO_TARGET = "not measured: no target column (set target=<column>)"


def _card(
    card_id: str, title: str, synthetic: Value, reference: Value, reference_label: str, explanation: str, details: str
) -> str:
    """One card: title, synthetic value, reference value, what it means, the figures behind it."""
    return (
        f'<div class="card" id="card-{card_id}"><h3>{text(title)}</h3><div class="pair">'
        f'<div class="side"><span class="label">synthetic</span>{synthetic.span()}</div>'
        f'<div class="side reference"><span class="label">{text(reference_label)}</span>'
        f"{reference.span('value reference')}</div></div>"
        f'<p class="explain">{text(explanation)}</p><p class="detail">{details}</p></div>'
    )


def _figure(metrics: dict, *key: str | int, reason: str | None = None) -> str:
    """A number inside a card's details."""
    return value_at(metrics, key, reason).span("figure")


def _quality(metrics: dict) -> str:
    pairs = metrics["fidelity"]["column_pair_details"]
    scored = sum(pair["score"] is not None for pair in pairs)
    details = (
        f"Column shapes {_figure(metrics, 'fidelity', 'column_shapes', reason=NO_COLUMN)} (holdout "
        f"{_figure(metrics, 'fidelity', 'holdout_reference', 'column_shapes', reason=NO_COLUMN)}); pair trends "
        f"{_figure(metrics, 'fidelity', 'column_pair_trends', reason=NO_PAIRS)} (holdout "
        f"{_figure(metrics, 'fidelity', 'holdout_reference', 'column_pair_trends', reason=NO_PAIRS)}), {scored} of "
        f"{len(pairs)} pairs scored: pairs without a real trend are not scored."
    )
    return _card(
        "quality",
        "Quality",
        value_at(metrics, ("fidelity", "overall"), NO_COLUMN),
        value_at(metrics, ("fidelity", "holdout_reference", "overall"), NO_COLUMN),
        "holdout vs train",
        "SDMetrics QualityReport against the training rows (0-1, higher is closer). The holdout, real rows the "
        "model never saw, scored the same way is what a perfect generator would reach.",
        details,
    )


def utility_metric(utility: dict) -> str:
    """The one utility score the card shows: R² for regression, ROC AUC for classification (accuracy where
    the ROC AUC ratio is undefined)."""
    if utility["task"] == "regression":
        return "r2"
    return "roc_auc" if utility["ratio"].get("roc_auc") is not None else "accuracy"


def _utility(metrics: dict) -> str:
    utility = metrics["utility"]
    if utility is None:
        return _card(
            "utility",
            "Utility",
            value_at(metrics, ("utility",), NO_TARGET),
            Value(None, None, NO_TARGET),
            "reference",
            glossary.explanation("utility.ratio"),
            "",
        )
    metric = utility_metric(utility)
    real, synthetic = utility["train_real_test_real"][metric], utility["train_synthetic_test_real"][metric]
    score = glossary.UTILITY_SCORES[metric]
    details = (
        f"{text(score)} of {text(utility['target'])} on the holdout: trained on synthetic rows "
        f"{_figure(metrics, 'utility', 'train_synthetic_test_real', metric, reason=glossary.SINGLE_CLASS)}, on real "
        f"rows {_figure(metrics, 'utility', 'train_real_test_real', metric, reason=glossary.SINGLE_CLASS)}."
    )
    return _card(
        "utility",
        f"Utility ({score} ratio)",
        value_at(metrics, ("utility", "ratio", metric), glossary.utility_reason(real, synthetic, metric)),
        Value(1.0),
        "holdout reference: 1 by definition",
        "TSTR / TRTR: a model trained on synthetic rows over one trained on the training rows, both tested on the "
        "holdout. The reference is the real-trained model itself (TRTR), so its ratio is 1 by definition.",
        details,
    )


def _privacy(metrics: dict) -> str:
    details = (
        f"5th-percentile DCR: synthetic {_figure(metrics, 'privacy', 'dcr_p5', 'synthetic_to_train')}, holdout "
        f"{_figure(metrics, 'privacy', 'dcr_p5', 'holdout_to_train')}. Exact copies of training rows: synthetic "
        f"{_figure(metrics, 'privacy', 'exact_copy_rate', 'synthetic')}, holdout "
        f"{_figure(metrics, 'privacy', 'exact_copy_rate', 'holdout')}."
    )
    return _card(
        "privacy",
        "Privacy (DCR share)",
        value_at(metrics, ("privacy", "dcr_share_closer_to_train")),
        value_at(
            metrics,
            ("privacy", "holdout_reference", "dcr_share_closer_to_train"),
            "one holdout row: no other holdout row to be nearer to",
        ),
        "holdout's own share",
        "Share of synthetic rows nearer a training row than a holdout row; 0.5 is ideal, 1 = copies of training rows. "
        "The holdout's own share (each holdout row against the other holdout rows) is what fresh real rows get.",
        details,
    )


def _detection(metrics: dict) -> str:
    detection = metrics["detection"]
    details = (
        "Detection score 2 x (1 - max(AUC, 0.5)): synthetic "
        f"{_figure(metrics, 'detection', 'score', reason=TOO_FEW_ROWS)}, train "
        f"{_figure(metrics, 'detection', 'holdout_reference', 'score', reason=TOO_FEW_ROWS)}; "
        f"{format_number(detection['rows']['holdout'])} rows a side, {format_number(detection['folds'])} folds."
    )
    return _card(
        "detection",
        "Detection (AUC)",
        value_at(metrics, ("detection", "roc_auc"), TOO_FEW_ROWS),
        value_at(metrics, ("detection", "holdout_reference", "roc_auc"), TOO_FEW_ROWS),
        "train vs holdout",
        "ROC AUC of a classifier telling synthetic rows from holdout rows: 0.5 = indistinguishable, 1 = all told "
        "apart. The reference is the same test of training rows against the holdout, as many rows a side: what a "
        "generator drawing exactly from the training rows' distribution would get.",
        details,
    )


def _validity(metrics: dict) -> str:
    invalid = metrics["validity"]["column_invalid_share"]
    details = "No synthetic value lies outside the training split."
    if invalid and max(invalid.values()) > 0:
        worst = max(invalid, key=invalid.get)
        details = (
            f"Most invalid column: {text(worst)}, synthetic "
            f"{_figure(metrics, 'validity', 'column_invalid_share', worst)}, holdout "
            f"{_figure(metrics, 'validity', 'holdout_reference', 'column_invalid_share', worst)}."
        )
    return _card(
        "validity",
        "Validity",
        value_at(metrics, ("validity", "valid_share")),
        value_at(metrics, ("validity", "holdout_reference", "valid_share")),
        "holdout",
        "Share of rows whose every value lies within the training split (numbers and dates inside its [min, max], "
        "its categories, missing values only where it has them). The holdout's share is how often fresh real rows "
        "step outside it.",
        details,
    )


def _headline(metrics: dict) -> str:
    """One line above the cards: the tables' sizes and, when known, the model and its training."""
    inputs = metrics["inputs"]
    line = (
        ", ".join(
            f"{format_number(inputs[role]['rows'])} {label} rows"
            for role, label in (("real", "training"), ("holdout", "holdout"), ("synthetic", "synthetic"))
        )
        + "."
    )
    provenance = metrics["provenance"] or {}
    model, training = provenance.get("model") or {}, provenance.get("training") or {}
    if model.get("num_layers") is not None and model.get("hidden_size") is not None:
        line += f" Model: {format_number(model['num_layers'])} layers x {format_number(model['hidden_size'])} hidden."
    if training.get("trained_steps") is not None:
        line += f" Trained {format_number(training['trained_steps'])} steps"
        if training.get("seconds") is not None:
            line += f" in {training['seconds'] / 60:.1f} min"
        if training.get("tokens_per_s") is not None:
            line += f" at {training['tokens_per_s']:,.0f} tokens/s"
        line += "."
    return f'<p class="headline">{line}</p>'


def summary_cards(metrics: dict) -> str:
    """The first screen: the headline and five cards (quality, utility, privacy, detection, validity)."""
    cards = (_quality(metrics), _utility(metrics), _privacy(metrics), _detection(metrics), _validity(metrics))
    return (
        f'<section id="summary"><h2>Summary</h2>{_headline(metrics)}<div class="cards">{"".join(cards)}</div></section>'
    )
