"""The report's sections below the summary cards: each metric family's table with plain names, the holdout's
value beside the synthetic one, the reason for every value that is missing, and the run's provenance.

Every number is read from metrics.json by its path (markup.value_at) and names that path in the page.
"""

from __future__ import annotations

from nemo_tabular.evaluation import glossary
from nemo_tabular.evaluation.fidelity import REAL_ASSOCIATION_THRESHOLD, REAL_CORRELATION_THRESHOLD
from nemo_tabular.evaluation.markup import Value, figure, format_number, table, text, value_at
from nemo_tabular.evaluation.plots import ReportFigures
from nemo_tabular.evaluation.summary import NO_COLUMN, NO_PAIRS, TOO_FEW_ROWS, utility_metric

METRIC_HEADER = ("metric", "what it means", "synthetic", "holdout (reference)")
NO_SHAPE_SCORE = "SDMetrics gives no score for this column (no values to compare)"
SAME_REASON = "not scored: the same real trend decides"

SETTINGS = {
    "seed": "seed of every subsample and model",
    "fidelity_max_rows": "rows per table for the quality report and the figures",
    "utility_max_rows": "rows per table for the utility models",
    "privacy_max_synthetic_rows": "synthetic rows measured for distances",
    "privacy_max_reference_rows": "training (and holdout) rows they are measured against",
    "detection_max_rows": "rows a side for the detection classifier",
    "detection_folds": "cross-validation folds of the detection classifier",
    "detection_max_iter": "boosting rounds of each detection fold",
    "target": "target column of the utility models",
    "group_by": "entity columns (sequential tables)",
    "order_by": "time order inside an entity",
    "tokenizer": "column kinds taken from the tokenizer",
}
UNSET_SETTINGS = {"target": "none: utility not measured", "group_by": "none: a flat table", "order_by": "none"}
STAGES = {
    "load": "read the tables and the run's records",
    "fidelity": "quality report, synthetic and holdout",
    "detection": "detection classifier, synthetic and train vs holdout",
    "utility": "utility models",
    "privacy": "distances to closest records",
    "validity": "validity, synthetic and holdout",
    "sequential": "sequential structure",
    "figures": "figures",
}


def _metric_row(
    metrics: dict,
    key: str,
    synthetic: tuple,
    reference: tuple | None,
    reason: str | None = None,
    reference_cell: Value | None = None,
) -> list:
    """One row of a metric table: plain name, explanation, synthetic value, holdout value."""
    holdout = reference_cell or (value_at(metrics, reference, reason) if reference else "")
    return [glossary.name(key), glossary.explanation(key), value_at(metrics, synthetic, reason), holdout]


def fidelity_section(metrics: dict) -> str:
    """Quality scores, per-column shape scores and per-pair trend scores, each beside the holdout's."""
    fidelity = metrics["fidelity"]
    rows = [
        _metric_row(
            metrics,
            f"fidelity.{key}",
            ("fidelity", key),
            ("fidelity", "holdout_reference", key),
            NO_PAIRS if key == "column_pair_trends" else NO_COLUMN,
        )
        for key in ("overall", "column_shapes", "column_pair_trends")
    ]
    shapes = [
        [
            name,
            glossary.SHAPE_METRICS.get(detail["metric"], detail["metric"]),
            value_at(metrics, ("fidelity", "column_shape_details", name, "score"), NO_SHAPE_SCORE),
            value_at(metrics, ("fidelity", "holdout_reference", "column_shape_details", name, "score"), NO_SHAPE_SCORE),
        ]
        for name, detail in fidelity["column_shape_details"].items()
    ]
    pairs = fidelity["column_pair_details"]
    pair_rows = []
    for index, pair in enumerate(pairs):
        reason = glossary.pair_reason(pair) if pair["score"] is None else None
        pair_rows.append(
            [
                " / ".join(pair["columns"]),
                glossary.PAIR_METRICS.get(pair["metric"], pair["metric"]),
                value_at(
                    metrics, ("fidelity", "column_pair_details", index, "real_trend"), "a column holds a single value"
                ),
                value_at(metrics, ("fidelity", "column_pair_details", index, "score"), reason),
                value_at(
                    metrics,
                    ("fidelity", "holdout_reference", "column_pair_details", index, "score"),
                    SAME_REASON
                    if reason
                    else glossary.pair_reason(fidelity["holdout_reference"]["column_pair_details"][index]),
                ),
            ]
        )
    scored = sum(pair["score"] is not None for pair in pairs)
    pair_note = (
        f"<p>{scored} of {len(pairs)} pairs are scored. A pair is scored only where the training rows hold a trend "
        f"(|Pearson r| above {REAL_CORRELATION_THRESHOLD} for two numeric columns, Cramér's V above "
        f"{REAL_ASSOCIATION_THRESHOLD} otherwise, SDMetrics' thresholds): pairs without a real trend are "
        "not scored, and each such row says so. The real trend column is Pearson r or Cramér's V of the training "
        "rows.</p>"
    )
    return (
        "<h2>Fidelity (SDMetrics column shapes and pair trends)</h2>"
        f"<p>Synthetic rows and holdout rows, each scored against up to {format_number(fidelity['rows']['real'])} "
        "training rows.</p>"
        + table(METRIC_HEADER, rows)
        + "<h3>Column shapes</h3>"
        + table(("column", "metric", "synthetic", "holdout (reference)"), shapes)
        + "<h3>Column pair trends</h3>"
        + pair_note
        + table(("columns", "metric", "real trend", "synthetic", "holdout (reference)"), pair_rows)
    )


def detection_section(metrics: dict) -> str:
    """Detection AUC and score, beside the train-vs-holdout reference."""
    detection = metrics["detection"]
    rows = [
        _metric_row(
            metrics, f"detection.{key}", ("detection", key), ("detection", "holdout_reference", key), TOO_FEW_ROWS
        )
        for key in ("roc_auc", "score")
    ]
    return (
        "<h2>Detection (classifier two-sample test)</h2>"
        "<p>A gradient-boosting classifier, cross-validated, tells holdout rows from synthetic rows (each row on its "
        "own). The reference column is the same test of training rows against the holdout on as many rows a side: "
        "what rows drawn exactly from the training distribution score, split shift and classifier noise included "
        f"({format_number(detection['rows']['holdout'])} rows a side, {format_number(detection['folds'])} folds, "
        f"{text(detection['model'])}).</p>"
        + table(("metric", "what it means", "synthetic vs holdout", "train vs holdout (reference)"), rows)
    )


def utility_section(metrics: dict) -> str:
    """TRTR, TSTR and their ratio per score; the ratio's reference is 1 by definition."""
    utility = metrics["utility"]
    if utility is None:
        return "<h2>Utility (train synthetic, test real)</h2><p>Not measured: no target column (set target=...).</p>"
    rows = []
    for metric, label in glossary.UTILITY_SCORES.items():
        if metric not in utility["ratio"]:
            continue
        real, synthetic = utility["train_real_test_real"][metric], utility["train_synthetic_test_real"][metric]
        rows.append(
            [
                label,
                value_at(metrics, ("utility", "train_synthetic_test_real", metric), glossary.SINGLE_CLASS),
                value_at(metrics, ("utility", "train_real_test_real", metric), glossary.SINGLE_CLASS),
                value_at(metrics, ("utility", "ratio", metric), glossary.utility_reason(real, synthetic, metric)),
                Value(1.0),
            ]
        )
    shown = utility_metric(utility)
    return (
        "<h2>Utility (train synthetic, test real)</h2>"
        f"<p>{text(utility['task'].capitalize())} of {text(utility['target'])} with {text(utility['model'])}: "
        f"fitted on {format_number(utility['rows']['synthetic'])} synthetic or "
        f"{format_number(utility['rows']['real'])} training rows, tested on {format_number(utility['rows']['holdout'])} holdout rows. "
        f"{text(glossary.explanation('utility.ratio'))}. The holdout's reference ratio is 1 by definition: TRTR is the "
        f"real-trained model itself. The summary card shows {text(glossary.UTILITY_SCORES[shown])}.</p>"
        + table(
            (
                "score",
                "trained on synthetic (TSTR)",
                "trained on real (TRTR)",
                "ratio TSTR / TRTR",
                "holdout reference ratio",
            ),
            rows,
        )
    )


def privacy_section(metrics: dict, figures: ReportFigures) -> str:
    """Distance-to-closest-record figures, synthetic beside holdout, and the DCR histogram."""
    privacy = metrics["privacy"]
    share_reason = "one holdout row: no other holdout row to be nearer to"
    rows = [
        _metric_row(
            metrics,
            "privacy.dcr_share_closer_to_train",
            ("privacy", "dcr_share_closer_to_train"),
            ("privacy", "holdout_reference", "dcr_share_closer_to_train"),
            share_reason,
        ),
        _metric_row(
            metrics,
            "privacy.dcr_p5",
            ("privacy", "dcr_p5", "synthetic_to_train"),
            ("privacy", "dcr_p5", "holdout_to_train"),
        ),
        _metric_row(
            metrics,
            "privacy.dcr_p5.ratio",
            ("privacy", "dcr_p5", "ratio"),
            None,
            "undefined: the holdout's 5th-percentile DCR is 0 (holdout rows repeat training rows)",
            reference_cell=Value(1.0),
        ),
        _metric_row(
            metrics,
            "privacy.nndr_mean",
            ("privacy", "nndr_mean", "synthetic_to_train"),
            ("privacy", "nndr_mean", "holdout_to_train"),
        ),
        _metric_row(
            metrics,
            "privacy.exact_copy_rate",
            ("privacy", "exact_copy_rate", "synthetic"),
            ("privacy", "exact_copy_rate", "holdout"),
        ),
    ]
    counts = privacy["rows"]
    return (
        "<h2>Privacy (distance to closest record)</h2>"
        f"<p>{format_number(counts['synthetic'])} synthetic and {format_number(counts['holdout_reference'])} holdout "
        f"rows measured against {format_number(counts['train_reference'])} training rows. The DCR share compares "
        f"equal-size sets ({format_number(counts['share_reference'])} rows, averaged over "
        f"{format_number(counts['share_train_parts'])} training part{'s' if counts['share_train_parts'] != 1 else ''});"
        " the holdout's own share measures each holdout "
        "row against the other holdout rows. The DCR ratio's reference is 1: the holdout over itself.</p>"
        + table(METRIC_HEADER, rows)
        + figure(
            figures.dcr.png,
            "dcr-histogram",
            "distance to the closest training row: synthetic vs holdout",
            figures.dcr.note,
        )
    )


def validity_section(metrics: dict) -> str:
    """Valid row share and each column's invalid share, synthetic beside holdout, under the one definition."""
    validity = metrics["validity"]
    definition = validity.get("definition", "")
    note = f"<p>Against the training split: {text(definition)}.</p>" if definition else ""
    rows = [
        _metric_row(
            metrics,
            "validity.valid_share",
            ("validity", "valid_share"),
            ("validity", "holdout_reference", "valid_share"),
        )
    ]
    rows += [
        [
            f"{glossary.name('validity.column_invalid_share')}: {name}",
            glossary.explanation("validity.column_invalid_share"),
            value_at(metrics, ("validity", "column_invalid_share", name)),
            value_at(metrics, ("validity", "holdout_reference", "column_invalid_share", name)),
        ]
        for name in validity["column_invalid_share"]
    ]
    return f"<h2>Validity</h2>{note}" + table(METRIC_HEADER, rows)


def sequential_section(metrics: dict) -> str:
    """Entity lengths and lag-1 autocorrelation, real beside synthetic (the forecast tables follow in report.py)."""
    sequential = metrics["sequential"]
    keys = f"entities by {', '.join(sequential['group_by']) or 'none'}, ordered by {', '.join(sequential['order_by'])}"
    parts = f"<h2>Sequential structure</h2><p>{text(keys)}.</p>"
    if "length" in sequential:
        length = sequential["length"]
        rows = [
            [
                statistic,
                value_at(metrics, ("sequential", "length", "real", statistic)),
                value_at(metrics, ("sequential", "length", "synthetic", statistic)),
            ]
            for statistic in length["real"]
        ]
        parts += (
            "<h3>Rows per entity</h3>"
            + table(("statistic", "real", "synthetic"), rows)
            + "<p>Length distribution match (1 - Kolmogorov-Smirnov distance; 1 = the same): "
            + value_at(metrics, ("sequential", "length", "ks_complement")).span("figure")
            + "</p>"
        )
    if "lag1_autocorrelation" in sequential:
        short = "no entity has 3 or more values with some spread"
        rows = [
            [
                name,
                value_at(metrics, ("sequential", "lag1_autocorrelation", name, "real"), short),
                value_at(metrics, ("sequential", "lag1_autocorrelation", name, "synthetic"), short),
                value_at(metrics, ("sequential", "lag1_autocorrelation", name, "abs_diff"), "one side has none"),
            ]
            for name in sequential["lag1_autocorrelation"]
        ]
        parts += (
            "<h3>Lag-1 autocorrelation</h3><p>Mean over entities of each column's correlation with its "
            "previous value.</p>" + table(("column", "real", "synthetic", "absolute difference"), rows)
        )
    return parts


def provenance_section(metrics: dict) -> str:
    """The model and its training run, from the run's records, or why they are not shown."""
    provenance = metrics["provenance"]
    heading = "<h2>Training provenance</h2>"
    if provenance is None:
        return (
            heading + "<p>Not recorded: no train_summary.json or checkpoint config.yaml was given or found "
            "(files judged outside a run, or a run not trained yet).</p>"
        )
    rows: list[list] = []
    model = provenance["model"]
    if model is not None:
        rows += [
            ["model", "name in conf/model", model["name"] or "not recorded"],
            [
                "model",
                "layers x hidden size",
                f"{format_number(model['num_layers'])} x {format_number(model['hidden_size'])}",
            ],
            ["model", "attention heads", value_at(metrics, ("provenance", "model", "num_attention_heads"))],
            ["model", "feed-forward size", value_at(metrics, ("provenance", "model", "ffn_hidden_size"))],
            ["model", "context (tokens)", value_at(metrics, ("provenance", "model", "seq_length"))],
            [
                "model",
                "transformer-block weights (no embeddings)",
                value_at(metrics, ("provenance", "model", "block_weights"), "the shape is not fully recorded"),
            ],
            ["model", "global batch (sequences)", value_at(metrics, ("provenance", "model", "global_batch"))],
        ]
    training = provenance["training"]
    if training is not None:
        seconds = training["seconds"]
        processes = training["processes"]
        rows += [
            [
                "training",
                "steps trained (of planned)",
                f"{format_number(training['trained_steps'])} of {format_number(training['planned_steps'])}",
            ],
            ["training", "minutes", f"{seconds / 60:.2f}" if seconds is not None else "not recorded"],
            ["training", "tokens/s", value_at(metrics, ("provenance", "training", "tokens_per_s"))],
            ["training", "final training loss", value_at(metrics, ("provenance", "training", "final_train_loss"))],
            [
                "training",
                "final validation loss",
                value_at(metrics, ("provenance", "training", "final_valid_loss"), "no validation ran"),
            ],
            ["training", "precision", training["precision"] or "not recorded"],
            [
                "training",
                "processes (tensor x pipeline x data)",
                (
                    f"{format_number(processes['world_size'])} ({format_number(processes['tensor'])} x "
                    f"{format_number(processes['pipeline'])} x {format_number(processes['data'])})"
                ),
            ],
            ["training", "differential privacy", "none: training is not differentially private (no epsilon)"],
        ]
    sources = "; ".join(text(part["source"]) for part in (model, training) if part is not None)
    return heading + f"<p>From {sources}.</p>" + table(("part", "what", "value"), rows)


def audit_section(metrics: dict) -> str:
    """The embedding audit's figures (nemo-tabular embed), or how to get them."""
    audit = metrics["embedding_audit"]
    heading = "<h2>Embedding audit (vector search)</h2>"
    if audit is None:
        return heading + (
            "<p>Not run: no report/embedding_audit.json (nemo-tabular embed writes it; evaluate again "
            "after it to show it here).</p>"
        )
    rows = [
        [
            "share nearer a training row than a holdout row",
            "cosine distance between the GPT's row embeddings; 0.5 is ideal",
            value_at(metrics, ("embedding_audit", "share_closer_to_train")),
        ],
        [
            "median distance to the closest training row",
            "synthetic rows",
            value_at(metrics, ("embedding_audit", "median_distance_to_train")),
        ],
        [
            "median distance to the closest training row",
            "holdout rows (reference)",
            value_at(metrics, ("embedding_audit", "median_holdout_distance_to_train")),
        ],
        [
            "flagged rows",
            "closer to a training row than all but this share of holdout rows are, or copies",
            value_at(metrics, ("embedding_audit", "flagged_rate")),
        ],
        ["flag quantile", "of the holdout's distances", value_at(metrics, ("embedding_audit", "flag_quantile"))],
        [
            "copies",
            "synthetic rows whose embedding matches a training row's",
            value_at(metrics, ("embedding_audit", "copy_rate")),
        ],
        ["rows", "synthetic rows audited", value_at(metrics, ("embedding_audit", "n_synthetic"))],
        ["rows", "holdout rows", value_at(metrics, ("embedding_audit", "n_holdout"))],
    ]
    return heading + f"<p>From {text(audit['source'])}.</p>" + table(("figure", "what it means", "value"), rows)


def inputs_section(metrics: dict) -> str:
    """The input tables and the evaluation's settings, in plain words."""
    inputs = [
        [role, entry["source"], value_at(metrics, ("inputs", role, "rows"))]
        for role, entry in metrics["inputs"].items()
    ]
    settings = []
    for key, value in metrics["settings"].items():
        if isinstance(value, list):
            shown = ", ".join(map(str, value)) or UNSET_SETTINGS.get(key, "none")
        elif value is None:
            shown = UNSET_SETTINGS.get(key, "all rows")
        else:
            shown = value if not isinstance(value, bool) else ("yes" if value else "no")
        settings.append([SETTINGS.get(key, key), key, shown])
    columns = [[name, kind] for name, kind in metrics["columns"].items()]
    return (
        "<h2>Inputs and settings</h2>"
        + table(("table", "source", "rows"), inputs)
        + table(("setting", "key", "value"), settings)
        + "<h3>Columns</h3>"
        + table(("column", "kind"), columns)
    )


def timings_section(metrics: dict) -> str:
    """Each evaluation stage's wall-clock seconds (the one part of the page that differs between reruns)."""
    rows = [[name, STAGES.get(name, name), value_at(metrics, ("timings", name))] for name in metrics["timings"]]
    return '<section id="timings"><h2>Stage timings</h2>' + table(("stage", "what", "seconds"), rows) + "</section>"


def figures_section(figures: ReportFigures) -> str:
    """Per-column figures with their clipping notes, and the association matrices."""
    parts = "".join(
        figure(column.png, "column-plot", f"column {name}", column.note) for name, column in figures.columns.items()
    )
    if figures.associations is not None:
        parts += figure(
            figures.associations, "association-matrices", "association matrices: real, synthetic, and real - synthetic"
        )
    return f"<h2>Figures</h2>{parts}"
