"""evaluate() and scripts/evaluate.py: files written, every plot present, stable schema, clear errors; the summary
cards and every shown number against metrics.json, the holdout references, unscored pairs' reasons, clipped
histograms, provenance, and escaping."""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from nemo_tabular.config import load_stage_config
from nemo_tabular.evaluation import EvaluationError, EvaluationSettings, Provenance, evaluate
from nemo_tabular.evaluation.detection import train_vs_holdout
from nemo_tabular.evaluation.fidelity import NO_REAL_TREND, UNSCORED_REASONS, quality_report
from nemo_tabular.evaluation.metadata import column_kinds
from nemo_tabular.evaluation.plots import column_plot, robust_range
from nemo_tabular.evaluation.report import METRICS_KEYS
from nemo_tabular.evaluation.validity import validity
from nemo_tabular.io import read_table

REPO = Path(__file__).resolve().parents[1]
FAST = EvaluationSettings(seed=3, fidelity_max_rows=300, privacy_max_synthetic_rows=200, progress=False)


def draw(rows: int, seed: int) -> pd.DataFrame:
    """A small table with every column kind and a learnable price."""
    rng = np.random.default_rng(seed)
    size = rng.gamma(2.0, 0.5, rows).round(3)
    grade = rng.choice(["A", "B", "C"], rows)
    return pd.DataFrame(
        {
            "size": size,
            "grade": grade,
            "price": (1000 * size + 300 * (grade == "A")).round(1),
            "count": rng.integers(0, 5, rows),
            "large": size > 1.5,
            "sold": pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, rows), unit="D"),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """train.parquet, holdout.csv and synth.parquet in a temp folder."""
    folder = tmp_path_factory.mktemp("evaluation")
    draw(300, 1).to_parquet(folder / "train.parquet")
    draw(300, 2).to_csv(folder / "holdout.csv", index=False)
    draw(300, 3).to_parquet(folder / "synth.parquet")
    return folder


@pytest.fixture(scope="module")
def report(files):
    out = files / "report"
    metrics = evaluate(
        files / "train.parquet",
        files / "holdout.csv",
        files / "synth.parquet",
        out,
        target="price",
        settings=FAST,
    )
    return metrics, out


def test_report_html_holds_a_plot_per_column_the_matrices_and_the_dcr_histogram(report):
    metrics, out = report
    page = (out / "report.html").read_text()
    assert page.count('<img class="column-plot"') == len(metrics["columns"]) == 6
    assert page.count('<img class="association-matrices"') == 1
    assert page.count('<img class="dcr-histogram"') == 1
    assert page.count('src="data:image/png;base64,') == 8
    for name in metrics["columns"]:
        assert f'alt="column {name}"' in page
    assert "http" not in page  # self-contained: nothing to fetch


def test_report_states_the_validity_definition(report):
    metrics, out = report
    page = (out / "report.html").read_text()
    section = page[page.index("<h2>Validity</h2>") :]
    assert section.startswith(
        "<h2>Validity</h2><p>Against the training split: a row is valid when every value lies within the training "
        "split: numbers and dates inside its [min, max], categories among its values, missing values only where it "
        "has them.</p><table><tr><th>metric</th><th>what it means</th><th>synthetic</th><th>holdout (reference)</th>"
        "</tr><tr><td>Valid rows</td>"
    )
    for name in metrics["validity"]["column_invalid_share"]:
        assert f"<td>Invalid values: {name}</td>" in section


def test_metrics_json_schema_is_stable(report):
    metrics, out = report
    written = json.loads((out / "metrics.json").read_text())
    assert (
        tuple(written)
        == METRICS_KEYS
        == (
            "schema_version",
            "inputs",
            "columns",
            "settings",
            "fidelity",
            "detection",
            "utility",
            "privacy",
            "validity",
            "sequential",
            "provenance",
            "embedding_audit",
            "timings",
        )
    )
    assert written["schema_version"] == 4
    assert set(written["inputs"]) == {"real", "holdout", "synthetic"}
    assert set(written["inputs"]["real"]) == {"source", "rows"}
    assert set(written["settings"]) == {
        "seed",
        "fidelity_max_rows",
        "utility_max_rows",
        "privacy_max_synthetic_rows",
        "privacy_max_reference_rows",
        "detection_max_rows",
        "detection_folds",
        "detection_max_iter",
        "target",
        "group_by",
        "order_by",
        "tokenizer",
    }
    assert set(written["fidelity"]) == {
        "overall",
        "column_shapes",
        "column_pair_trends",
        "column_shape_details",
        "column_pair_details",
        "rows",
        "holdout_reference",
    }
    assert set(written["fidelity"]["holdout_reference"]) == set(written["fidelity"]) - {"holdout_reference"}
    assert written["fidelity"]["holdout_reference"]["rows"] == {"real": 300, "holdout": 300}
    assert all(
        set(pair) == {"columns", "metric", "score", "real_trend", "reason"}
        for pair in written["fidelity"]["column_pair_details"]
    )
    assert set(written["utility"]) == {
        "task",
        "target",
        "model",
        "train_real_test_real",
        "train_synthetic_test_real",
        "ratio",
        "rows",
    }
    assert set(written["utility"]["ratio"]) == {"r2"}
    assert set(written["privacy"]) == {
        "rows",
        "dcr_share_closer_to_train",
        "dcr_p5",
        "nndr_mean",
        "exact_copy_rate",
        "holdout_reference",
    }
    assert set(written["privacy"]["holdout_reference"]) == {"dcr_share_closer_to_train"}
    assert set(written["privacy"]["dcr_p5"]) == {"synthetic_to_train", "holdout_to_train", "ratio"}
    assert set(written["detection"]) == {"model", "folds", "roc_auc", "score", "rows", "holdout_reference"}
    assert written["detection"]["rows"] == {"holdout": 300, "synthetic": 300}
    assert set(written["detection"]["holdout_reference"]) == {"compared", "roc_auc", "score", "rows"}
    assert written["detection"]["holdout_reference"]["rows"] == {"holdout": 300, "train": 300}
    assert set(written["validity"]) == {
        "method",
        "definition",
        "valid_share",
        "column_invalid_share",
        "holdout_reference",
    }
    assert set(written["validity"]["holdout_reference"]) == {"valid_share", "column_invalid_share"}
    assert written["validity"]["method"] == "training_split"
    assert written["sequential"] is None
    assert written["columns"] == {
        "size": "float",
        "grade": "category",
        "price": "float",
        "count": "int",
        "large": "bool",
        "sold": "datetime",
    }
    assert written["fidelity"]["rows"] == {"real": 300, "synthetic": 300}
    assert written["privacy"]["rows"]["synthetic"] == 200
    assert written["provenance"] is None and written["embedding_audit"] is None  # plain files, no run
    assert list(written["timings"]) == ["load", "fidelity", "detection", "utility", "privacy", "validity", "figures"]
    assert all(isinstance(seconds, float) and seconds >= 0 for seconds in written["timings"].values())


def test_same_seed_writes_identical_files(report, files):
    _, first = report
    second = files / "again"
    evaluate(
        files / "train.parquet",
        files / "holdout.csv",
        files / "synth.parquet",
        second,
        target="price",
        settings=FAST,
    )
    # everything but the stage timings (metrics.json's `timings` and their table in the page) repeats exactly
    metrics = [json.loads((folder / "metrics.json").read_text()) for folder in (first, second)]
    assert {**metrics[0], "timings": None} == {**metrics[1], "timings": None}
    assert list(metrics[0]["timings"]) == list(metrics[1]["timings"])
    pages = [
        re.sub(r'<section id="timings">.*?</section>', "", (folder / "report.html").read_text())
        for folder in (first, second)
    ]
    assert pages[0] == pages[1]
    assert not [path for path in second.iterdir() if path.name.endswith(".tmp")]


def test_sequential_section_for_a_grouped_table(tmp_path):
    def table(seed):
        rng = np.random.default_rng(seed)
        return pd.DataFrame(
            {
                "shop": np.repeat(["a", "b", "c", "d"], 6),
                "month": np.tile(np.arange(6), 4),
                "sales": rng.normal(100, 10, 24).cumsum(),
            }
        )

    metrics = evaluate(table(1), table(2), table(3), tmp_path, group_by="shop", order_by=["month"], settings=FAST)
    assert set(metrics["columns"]) == {"shop", "month", "sales"}
    assert set(metrics["fidelity"]["column_shape_details"]) == {
        "month",
        "sales",
    }  # entity ids are not compared
    assert metrics["sequential"]["length"]["real"]["entities"] == 4
    assert set(metrics["sequential"]["lag1_autocorrelation"]) == {"sales"}
    assert (tmp_path / "report.html").read_text().count('<img class="column-plot"') == 2


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", r"nowhere\.parquet: synthetic file not found"),
        ("empty", r"empty\.csv: synthetic file is empty"),
        ("header_only", r"header_only\.csv: synthetic file has no data rows"),
        (
            "mismatch",
            r"synthetic file .*mismatch.parquet does not match .*missing \['count'\], unexpected \['colour'\]",
        ),
        ("target", "target column 'cost' not found in .*train.parquet"),
        ("group_by", "group_by column 'store' not found in .*train.parquet"),
        ("suffix", "unsupported format '.json'"),
    ],
)
def test_bad_inputs_fail_naming_the_file_and_column(files, case, message):
    synth, target, group_by = files / "synth.parquet", "price", None
    if case == "missing":
        synth = files / "nowhere.parquet"
    elif case == "empty":
        synth = files / "empty.csv"
        synth.write_text("")
    elif case == "header_only":
        synth = files / "header_only.csv"
        synth.write_text(",".join(draw(1, 0).columns) + "\n")
    elif case == "mismatch":
        synth = files / "mismatch.parquet"
        draw(20, 4).rename(columns={"count": "colour"}).to_parquet(synth)
    elif case == "target":
        target = "cost"
    elif case == "group_by":
        group_by = "store"
    elif case == "suffix":
        synth = files / "synth.json"
        synth.write_text("{}")
    with pytest.raises(EvaluationError, match=message):
        evaluate(
            files / "train.parquet",
            files / "holdout.csv",
            synth,
            None,
            target=target,
            group_by=group_by,
            settings=FAST,
        )


def run_cli(*overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "evaluate.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )


def test_cli_writes_the_report_and_fails_cleanly(files, tmp_path):
    common = [
        f"paths.root={tmp_path}",
        f"real={files / 'train.parquet'}",
        f"holdout={files / 'holdout.csv'}",
        "fidelity_max_rows=200",
        "progress=false",
    ]
    done = run_cli(*common, f"synth={files / 'synth.parquet'}", "target=price", f"out={tmp_path / 'report'}")
    assert done.returncode == 0, done.stderr
    assert "quality" in done.stdout and "utility ratio r2" in done.stdout
    assert "detection " in done.stdout and "(AUC " in done.stdout
    written = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert written["settings"]["tokenizer"] is False
    assert written["provenance"] is None  # no run named: nothing to read the training records from
    failed = run_cli(*common, f"synth={tmp_path / 'absent.parquet'}", "target=price", f"out={tmp_path / 'other'}")
    assert failed.returncode == 1
    assert f"error: {tmp_path / 'absent.parquet'}: synthetic file not found" in failed.stderr
    assert "Traceback" not in failed.stderr


NUMBER = re.compile(r'<(span|td) class="([^"]*)" data-key="([^"]*)" data-value="([^"]*)">')


def shown_numbers(page: str) -> list[tuple[str, list, object]]:
    """Every number the page shows with its metrics.json path: (css class, path, value as written)."""
    return [
        (css, json.loads(html.unescape(key)), json.loads(html.unescape(value)))
        for _, css, key, value in NUMBER.findall(page)
    ]


def at(metrics: dict, path: list):
    """metrics.json's value at a path of keys and list indices."""
    for part in path:
        metrics = metrics[part]
    return metrics


def card(page: str, name: str) -> str:
    """One summary card's HTML."""
    start = page.index(f'<div class="card" id="card-{name}">')
    end = page.find('<div class="card"', start + 1)
    return page[start : end if end != -1 else None]


def test_summary_cards_show_the_metrics_values_exactly_beside_the_holdouts(report):
    _, out = report
    written = json.loads((out / "metrics.json").read_text())
    page = (out / "report.html").read_text()
    summary = page[page.index('<section id="summary">') : page.index("</section>")]
    assert page.index('<section id="summary">') < page.index("<h2>Fidelity")  # the first screen
    expected = {  # card: (synthetic path, holdout reference path)
        "quality": (["fidelity", "overall"], ["fidelity", "holdout_reference", "overall"]),
        "privacy": (
            ["privacy", "dcr_share_closer_to_train"],
            ["privacy", "holdout_reference", "dcr_share_closer_to_train"],
        ),
        "detection": (["detection", "roc_auc"], ["detection", "holdout_reference", "roc_auc"]),
        "validity": (["validity", "valid_share"], ["validity", "holdout_reference", "valid_share"]),
    }
    for name, (synthetic, reference) in expected.items():
        numbers = shown_numbers(card(summary, name))
        assert numbers[0] == ("value", synthetic, at(written, synthetic))
        assert numbers[1] == ("value reference", reference, at(written, reference))
        assert at(written, reference) is not None
    utility = card(summary, "utility")
    assert shown_numbers(utility)[0] == ("value", ["utility", "ratio", "r2"], written["utility"]["ratio"]["r2"])
    assert (
        '<span class="label">holdout reference: 1 by definition</span><span class="value reference" '
        'data-value="1.0">1</span>' in utility
    )
    assert "trained on synthetic rows" in utility and ["utility", "train_real_test_real", "r2"] in [
        path for _, path, _ in shown_numbers(utility)
    ]
    privacy = [path for _, path, _ in shown_numbers(card(summary, "privacy"))]
    assert ["privacy", "dcr_p5", "holdout_to_train"] in privacy  # the holdout's 5th-percentile DCR
    # every number anywhere on the page is the value metrics.json holds at the path it names
    everything = shown_numbers(page)
    assert len(everything) > 100
    for _, path, value in everything:
        assert at(written, path) == value, path


def test_holdout_references_are_computed_on_the_holdout(report, files):
    metrics, _ = report
    train, holdout = read_table(files / "train.parquet", "real"), read_table(files / "holdout.csv", "holdout")
    kinds = column_kinds(train)
    quality = quality_report(train, holdout, kinds)  # 300 rows a table: the cap of 300 keeps them all
    assert metrics["fidelity"]["holdout_reference"] == quality | {"rows": {"real": 300, "holdout": 300}}
    assert metrics["fidelity"]["holdout_reference"]["overall"] != metrics["fidelity"]["overall"]
    expected = validity(train, holdout, kinds)
    assert metrics["validity"]["holdout_reference"] == {
        key: expected[key] for key in ("valid_share", "column_invalid_share")
    }
    assert metrics["validity"]["holdout_reference"]["valid_share"] < 1  # one holdout price above train's range
    assert metrics["detection"]["holdout_reference"] == train_vs_holdout(
        holdout, train, kinds, FAST.seed, rows=300, folds=FAST.detection_folds, max_iter=FAST.detection_max_iter
    )
    assert metrics["privacy"]["holdout_reference"]["dcr_share_closer_to_train"] == pytest.approx(0.5, abs=0.1)


def test_every_unscored_pair_says_why(report):
    metrics, out = report
    page = (out / "report.html").read_text()
    pairs = metrics["fidelity"]["column_pair_details"]
    unscored = [pair for pair in pairs if pair["score"] is None]
    assert unscored and len(unscored) < len(pairs)
    assert all(pair["reason"] in UNSCORED_REASONS for pair in unscored)
    assert all(pair["reason"] is None for pair in pairs if pair["score"] is not None)
    section = page[page.index("<h3>Column pair trends</h3>") : page.index("<h2>Detection")]
    assert f"{len(pairs) - len(unscored)} of {len(pairs)} pairs are scored" in section
    rows = re.findall(r"<tr><td>([^<]*)</td>(.*?)</tr>", section)
    assert len(rows) == len(pairs)
    for (columns, cells), pair in zip(rows, pairs):
        assert html.unescape(columns) == " / ".join(pair["columns"])
        if pair["score"] is None and pair["reason"] == NO_REAL_TREND:
            assert "pairs without a real trend are not scored" in cells
    # no dash on the page stands without its reason
    dashes = re.findall(r'<td class="unscored"[^>]*>— <span class="reason">([^<]+)</span></td>', page)
    assert len(dashes) == page.count("—") == 2 * len(unscored)


def test_histograms_clip_to_the_robust_range_and_count_what_they_leave_out():
    """201 values: the 0.5th and 99.5th percentiles are exactly the second smallest and second largest."""
    real = pd.Series(np.arange(100.0), name="x")  # 0 lies below the range
    synth = pd.Series(np.r_[np.linspace(10, 50, 100), 1e6, np.nan], name="x")  # 1e6 above it; NaN is not a value
    shown = robust_range(real.to_numpy(), synth.to_numpy())
    assert (shown.low, shown.high) == (1.0, 99.0)
    assert (shown.real_outside, shown.synth_outside, shown.real_count, shown.synth_count) == (1, 1, 100, 101)
    assert column_plot(real, synth, "float").note == (
        "1 of 100 real and 1 of 101 synthetic values lie outside the plotted range [1, 99] (0.5th-99.5th "
        "percentile of both) and are not drawn. Missing (not drawn): 0 real, 1 synthetic."
    )
    assert column_plot(real, real, "float").note == "All values shown ([0, 99])."  # each end held twice: not clipped
    assert (
        column_plot(pd.Series([1.0, 2.0], name="x"), pd.Series([1.0, 2.0], name="x"), "float").note
        == "All values shown ([1, 2])."
    )


def write_run_records(run: Path, hostile: str = "") -> Path:
    """A run directory's train_summary.json, checkpoint config.yaml and embedding audit, as the stages write them."""
    (run / "checkpoints").mkdir(parents=True)
    (run / "report").mkdir()
    (run / "train_summary.json").write_text(
        json.dumps(
            {
                "steps": 400,
                "end_step": 300,
                "start_step": 0,
                "losses": [2.0, 1.5],
                "final_train_loss": 1.5,
                "final_valid_loss": 1.62,
                "best_step": None,
                "tokens_per_s": 12345.6,
                "seconds": 90.0,
                "world_size": 1,
                "tensor": 1,
                "pipeline": 1,
                "data": 1,
                "precision": f"fp32{hostile}",
            }
        )
    )
    (run / "checkpoints" / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "model": {
                    "name": f"auto{hostile}",
                    "num_layers": 2,
                    "hidden_size": 64,
                    "num_attention_heads": 2,
                    "ffn_hidden_size": 256,
                    "seq_length": 128,
                },
                "train": {"global_batch": 32},
            }
        )
    )
    (run / "report" / "embedding_audit.json").write_text(
        json.dumps(
            {
                "n_synthetic": 300,
                "n_holdout": 300,
                "share_closer_to_train": 0.52,
                "median_distance_to_train": 0.1,
                "median_holdout_distance_to_train": 0.11,
                "flag_quantile": 0.01,
                "flag_threshold": 0.02,
                "copy_rate": 0.0,
                "flagged_rate": 0.01,
                "flagged": [{"synthetic_row": 1, "nearest_train_row": 2, "distance": 0.01}],
            }
        )
    )
    return run


def test_provenance_and_the_embedding_audit_come_from_the_run(files, tmp_path):
    run = write_run_records(tmp_path / "run")
    quick = EvaluationSettings(
        seed=3,
        fidelity_max_rows=100,
        privacy_max_synthetic_rows=100,
        detection_max_rows=100,
        detection_max_iter=10,
        progress=False,
    )
    metrics = evaluate(
        files / "train.parquet",
        files / "holdout.csv",
        files / "synth.parquet",
        tmp_path / "out",
        settings=quick,
        provenance=Provenance.of_run(run),
    )
    model, training = metrics["provenance"]["model"], metrics["provenance"]["training"]
    assert model == {
        "source": str(run / "checkpoints" / "config.yaml"),
        "name": "auto",
        "num_layers": 2,
        "hidden_size": 64,
        "num_attention_heads": 2,
        "ffn_hidden_size": 256,
        "seq_length": 128,
        "block_weights": 2 * (4 * 64 * 64 + 2 * 64 * 256),
        "global_batch": 32,
    }
    assert (training["trained_steps"], training["planned_steps"], training["seconds"], training["tokens_per_s"]) == (
        300,
        400,
        90.0,
        12345.6,
    )
    assert metrics["embedding_audit"]["share_closer_to_train"] == 0.52
    assert metrics["embedding_audit"]["flagged_listed"] == 1
    page = (tmp_path / "out" / "report.html").read_text()
    assert (
        '<p class="headline">300 training rows, 300 holdout rows, 300 synthetic rows. Model: 2 layers x 64 '
        "hidden. Trained 300 steps in 1.5 min at 12,346 tokens/s.</p>"
    ) in page
    assert "<td>steps trained (of planned)</td><td>300 of 400</td>" in page
    assert "<td>minutes</td><td>1.50</td>" in page
    assert "no epsilon" in page
    assert "utility not measured" in page and "Not measured: no target column" in page
    audit = page[page.index("<h2>Embedding audit") :]
    assert 'data-value="0.52">0.52</td>' in audit


def test_provenance_files_that_are_missing_are_skipped_and_broken_ones_named(files, tmp_path):
    quick = EvaluationSettings(
        seed=3,
        fidelity_max_rows=50,
        privacy_max_synthetic_rows=50,
        detection_max_rows=50,
        detection_max_iter=5,
        progress=False,
    )
    absent = evaluate(
        files / "train.parquet",
        files / "holdout.csv",
        files / "synth.parquet",
        None,
        settings=quick,
        provenance=Provenance.of_run(tmp_path / "nowhere"),
    )
    assert absent["provenance"] is None and absent["embedding_audit"] is None
    run = write_run_records(tmp_path / "run")
    (run / "train_summary.json").write_text("{not json")
    with pytest.raises(EvaluationError, match=r"train_summary\.json: train_summary\.json cannot be read"):
        evaluate(
            files / "train.parquet",
            files / "holdout.csv",
            files / "synth.parquet",
            None,
            settings=quick,
            provenance=Provenance.of_run(run),
        )


def test_hostile_values_are_escaped(tmp_path):
    """Column names, categories, file names and a run's records are data: the page shows them, never runs them."""
    script, image = "<script>alert(1)</script>", "<img src=x onerror=alert(2)>"

    def table(seed: int) -> pd.DataFrame:
        frame = draw(120, seed)
        frame["grade"] = frame["grade"].replace({"A": image, "B": f"&{script}", "C": "$\\frac{$"})  # mathtext too
        return frame.rename(columns={"size": script, "count": f'c"{image}', "price": "$\\bad$"})

    folder = tmp_path / "in<b onmouseover=alert(3)>"  # a file name cannot hold the script's "/"
    folder.mkdir()
    table(1).to_parquet(folder / "train.parquet")
    table(2).to_parquet(folder / "holdout.parquet")
    table(3).to_parquet(folder / "synth.parquet")
    run = write_run_records(tmp_path / "run", hostile=script)
    quick = EvaluationSettings(
        seed=3,
        fidelity_max_rows=120,
        privacy_max_synthetic_rows=100,
        detection_max_rows=100,
        detection_max_iter=10,
        progress=False,
    )
    evaluate(
        folder / "train.parquet",
        folder / "holdout.parquet",
        folder / "synth.parquet",
        tmp_path / "out",
        target="$\\bad$",
        settings=quick,
        provenance=Provenance.of_run(run),
    )
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in page and "<img src=x" not in page and "<b onmouseover" not in page
    assert html.escape(script) in page and html.escape(f'c"{image}') in page and "in&lt;b onmouseover" in page
    assert f"fp32{html.escape(script)}" in page and f"auto{html.escape(script)}" in page
    for _, path, value in shown_numbers(page):  # the paths name hostile columns and still resolve
        assert at(json.loads((tmp_path / "out" / "metrics.json").read_text()), path) == value


def test_the_cli_shows_the_runs_provenance_by_default(files, tmp_path):
    """conf/evaluate.yaml derives the provenance files from the run; provenance=null (or no run) shows none."""
    run = write_run_records(tmp_path / "run")
    (run / "data").mkdir()
    shutil.copy(files / "train.parquet", run / "data" / "train.parquet")
    read_table(files / "holdout.csv", "holdout").to_parquet(run / "data" / "test.parquet")
    shutil.copy(files / "synth.parquet", run / "synth.parquet")
    (run / "data" / "meta.json").write_text(json.dumps({"target": "price", "group_by": None, "order_by": None}))
    done = run_cli(f"run={run}", "fidelity_max_rows=200", "detection_max_iter=10", "progress=false")
    assert done.returncode == 0, done.stderr
    written = json.loads((run / "report" / "metrics.json").read_text())
    assert written["provenance"]["training"]["source"] == f"{run}/train_summary.json"
    assert written["provenance"]["model"]["source"] == f"{run}/checkpoints/config.yaml"
    assert written["embedding_audit"]["source"] == f"{run}/report/embedding_audit.json"
    assert load_stage_config("evaluate", [f"run={run}", "provenance=null"]).provenance is None
    assert set(load_stage_config("evaluate").provenance.values()) == {None}
