"""evaluate() and scripts/evaluate.py: files written, every plot present, stable schema, clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nemo_tabular.evaluation import EvaluationError, EvaluationSettings, evaluate
from nemo_tabular.evaluation.report import METRICS_KEYS

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


def test_report_html_holds_a_plot_per_column_and_the_heatmap(report):
    metrics, out = report
    page = (out / "report.html").read_text()
    assert page.count('<img class="column-plot"') == len(metrics["columns"]) == 6
    assert page.count('<img class="association-heatmap"') == 1
    assert page.count('src="data:image/png;base64,') == 7
    for name in metrics["columns"]:
        assert f'alt="column {name}"' in page
    assert "http" not in page  # self-contained: nothing to fetch


def test_report_states_the_validity_definition(report):
    metrics, out = report
    page = (out / "report.html").read_text()
    section = page[page.index("<h2>Validity</h2>"):]
    assert section.startswith(
        "<h2>Validity</h2><p>Against the training split: a row is valid when every value lies within the training "
        "split: numbers and dates inside its [min, max], categories among its values, missing values only where it "
        "has them.</p><table><tr><th>metric</th><th>value</th></tr><tr><td>valid_share</td>")
    for name in metrics["validity"]["column_invalid_share"]:
        assert f"<td>column_invalid_share.{name}</td>" in section


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
        )
    )
    assert written["schema_version"] == 3
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
    }
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
    }
    assert set(written["privacy"]["dcr_p5"]) == {"synthetic_to_train", "holdout_to_train", "ratio"}
    assert set(written["detection"]) == {"model", "folds", "roc_auc", "score", "rows"}
    assert written["detection"]["rows"] == {"holdout": 300, "synthetic": 300}
    assert set(written["validity"]) == {"method", "definition", "valid_share", "column_invalid_share"}
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
    for name in ("metrics.json", "report.html"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
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

    metrics = evaluate(
        table(1), table(2), table(3), tmp_path, group_by="shop", order_by=["month"], settings=FAST
    )
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
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["settings"]["tokenizer"] is False
    failed = run_cli(
        *common, f"synth={tmp_path / 'absent.parquet'}", "target=price", f"out={tmp_path / 'other'}"
    )
    assert failed.returncode == 1
    assert f"error: {tmp_path / 'absent.parquet'}: synthetic file not found" in failed.stderr
    assert "Traceback" not in failed.stderr
