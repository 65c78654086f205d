"""Row embeddings end to end: a model bundle, Milvus Lite, search by example, the planted-copy audit."""

import json
import subprocess
import sys
from importlib.resources import files

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, load_tokenizer_settings
from omegaconf import OmegaConf

from nemo_tabular.embeddings import RowEmbedder, RowVectorStore, connect
from nemo_tabular.embeddings.pipeline import embed_run, search_rows
from nemo_tabular.sampling import GPT, GPTConfig, TableLayout, load_bundle, save_bundle
from nemo_tabular.tokenizer import TabularTokenizer


@pytest.fixture(scope="module")
def tables():
    rows = pd.read_csv(files("plotnine") / "data" / "diamonds.csv").drop_duplicates()
    rows = rows.sample(900, random_state=1).reset_index(drop=True)
    return rows.iloc[:600].reset_index(drop=True), rows.iloc[600:].reset_index(drop=True)


@pytest.fixture(scope="module")
def bundle_dir(tables, tmp_path_factory):
    columns = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "diamonds.yaml").columns)
    tok = TabularTokenizer.fit(pd.concat(tables), load_tokenizer_settings(), columns)
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=tok.vocab_size, n_positions=32, n_layer=2, n_head=2, n_kv_head=2, head_dim=8, d_model=16, d_ff=32
        )
    )
    path = tmp_path_factory.mktemp("model") / "bundle"
    save_bundle(path, model.config, model.state_dict(), tok, TableLayout())
    return path


def test_embeddings_are_unit_length_and_deterministic(bundle_dir, tables):
    embedder = RowEmbedder(load_bundle(bundle_dir), batch_size=64)
    first, again = embedder.embed(tables[0].iloc[:100]), embedder.embed(tables[0].iloc[:100])
    assert first.shape == (100, 16) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, again)


def test_search_audit_and_filters(bundle_dir, tables, tmp_path):
    train, holdout = tables
    paths = {
        "train": tmp_path / "train.parquet",
        "holdout": tmp_path / "holdout.parquet",
        "synthetic": tmp_path / "synth.parquet",
    }
    train.to_parquet(paths["train"])
    holdout.to_parquet(paths["holdout"])
    synthetic = holdout.iloc[:100].copy()
    synthetic.iloc[42] = train.iloc[321]  # a planted copy of a training row
    synthetic.to_parquet(paths["synthetic"])
    embedder = RowEmbedder(load_bundle(bundle_dir))
    client = connect(str(tmp_path / "rows.db"))
    store = RowVectorStore(client, "diamonds", embedder.dim)
    summary = embed_run(store, embedder, {k: str(v) for k, v in paths.items()}, None, 0, 1000, 0.01)
    assert summary["rows"] == {"train": 600, "holdout": 300, "synthetic": 100}
    flagged = {f["synthetic_row"]: f["nearest_train_row"] for f in summary["audit"]["flagged"]}
    assert flagged.get(42) == 321

    hits = search_rows(store, embedder, train.iloc[[5, 77]], k=3, filter='split == "train"')
    assert hits[hits["rank"] == 0]["id"].tolist() == [5, 77]
    ideal = search_rows(store, embedder, train.iloc[[5]], k=5, filter='split == "train" and cut == "Ideal"')
    assert (ideal["cut"] == "Ideal").all() and len(ideal) == 5
    # re-running upserts in place instead of adding rows
    embed_run(store, embedder, {"train": str(paths["train"])}, None, 0, 1000, 0.01)
    assert store.count("train") == 600
    client.close()


def test_embed_and_search_scripts(bundle_dir, tables, tmp_path):
    train, holdout = tables
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    train.to_parquet(data / "train.parquet")
    holdout.to_parquet(data / "test.parquet")
    (data / "meta.json").write_text(json.dumps({"dataset": "run", "group_by": [], "order_by": []}))
    common = [f"run={tmp_path / 'run'}", f"model_path={bundle_dir}", "max_rows=200"]
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "embed.py"), *common], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[0])["rows"] == {"train": 200, "holdout": 200}
    (tmp_path / "q.json").write_text(train.iloc[[3]].to_json(orient="records"))
    found = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "search.py"),
            *common[:2],
            f"query={tmp_path / 'q.json'}",
            "k=2",
            "filter=",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert found.returncode == 0, found.stderr
    assert "train" in found.stdout
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "embed.py"), *common[:2], "milvus.uri=/nowhere/store.sqlite"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert bad.returncode == 1 and "neither a Milvus Lite file" in bad.stderr


def test_search_cli_readme_filter_hits_without_vectors_and_a_bad_filter_in_one_line(bundle_dir, tables, tmp_path):
    """README's search line (Hydra-quoted filter) parses and filters; hits print without their 16-float vectors
    unless show_vectors=true; a filter Milvus cannot parse is one line naming it."""
    import shlex

    train, holdout = tables
    data = tmp_path / "run" / "data"
    data.mkdir(parents=True)
    train.to_parquet(data / "train.parquet")
    holdout.to_parquet(data / "test.parquet")
    (data / "meta.json").write_text(json.dumps({"dataset": "run", "group_by": [], "order_by": []}))
    cli = [sys.executable, "-m", "nemo_tabular.cli"]
    common = [f"run={tmp_path / 'run'}", f"model_path={bundle_dir}"]
    done = subprocess.run([*cli, "embed", *common, "max_rows=200"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    (tmp_path / "row.json").write_text(train.iloc[[3]].to_json(orient="records"))
    readme = (REPO / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("nemo-tabular search "))
    readme_filter = next(arg for arg in shlex.split(line) if arg.startswith("filter="))

    def search(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*cli, "search", *common, "query=row.json", "k=3", *args], capture_output=True, text=True, cwd=tmp_path
        )

    found = search(readme_filter, f"out={tmp_path / 'hits.csv'}")
    assert found.returncode == 0, found.stderr[-3000:]
    hits = pd.read_csv(tmp_path / "hits.csv")
    assert len(hits) == 3 and (hits["split"] == "train").all() and (hits["cut"] == "Ideal").all()
    assert "vector" not in hits.columns
    printed = search()
    assert printed.returncode == 0 and "vector" not in printed.stdout.splitlines()[0].split()
    with_vectors = search("show_vectors=true", f"out={tmp_path / 'vectors.csv'}")
    assert with_vectors.returncode == 0, with_vectors.stderr[-3000:]
    assert len(json.loads(pd.read_csv(tmp_path / "vectors.csv")["vector"][0])) == 16
    bad = search("filter='split == \"train\" and cut =='")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "error: filter='split == \"train\" and cut ==': Milvus cannot use this filter (unexpected end of expression "
        "at column 28; expression cannot be empty); it is a Milvus boolean expression over split and the row's "
        'columns, e.g. split == "train" and price > 1000'
    )
    assert "MilvusException" not in bad.stderr  # pymilvus' own logged traceback stays quiet
