"""Milvus Lite vector store and the vector-search privacy audit, on hand-made embeddings."""

import numpy as np
import pandas as pd
import pytest

from nemo_tabular.embeddings.audit import privacy_audit
from nemo_tabular.embeddings.store import RowVectorStore, VectorStoreError, connect


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def store(tmp_path):
    client = connect(str(tmp_path / "rows.db"))
    yield RowVectorStore(client, "rows", dim=16)
    client.close()


def test_search_finds_the_row_itself_and_filters(store):
    train, holdout = unit_vectors(200, 16, 0), unit_vectors(50, 16, 1)
    rows = pd.DataFrame({"colour": ["red", "blue"] * 100, "price": np.arange(200.0)})
    store.upsert("train", np.arange(200), train, rows)
    store.upsert("holdout", np.arange(50), holdout, rows.iloc[:50])
    hits = store.search(train[[7]], k=3)[0]
    assert hits[0]["id"] == 7 and hits[0]["split"] == "train" and hits[0]["price"] == 7.0
    blue = store.search(train[[7]], k=5, filter='colour == "blue" and split == "train"')[0]
    assert all(h["colour"] == "blue" for h in blue) and 7 in [h["id"] for h in blue]
    red = store.search(train[[7]], k=5, filter='colour == "red"')[0]
    assert all(h["colour"] == "red" for h in red)


def test_upsert_is_idempotent(store):
    vectors = unit_vectors(30, 16, 2)
    rows = pd.DataFrame({"x": np.arange(30)})
    store.upsert("train", np.arange(30), vectors, rows)
    store.upsert("train", np.arange(30), vectors, rows)
    assert store.count("train") == 30


def test_dimension_mismatch_and_bad_uri_raise(tmp_path, store):
    with pytest.raises(
        VectorStoreError, match="collection 'rows' holds vectors of dimension 16, but this model gives 8"
    ):
        RowVectorStore(store.client, "rows", dim=8)
    with pytest.raises(VectorStoreError, match="dimension 4, collection 'rows' expects 16"):
        store.upsert("train", np.arange(2), unit_vectors(2, 4, 0), pd.DataFrame({"x": [1, 2]}))
    with pytest.raises(VectorStoreError, match="neither a Milvus Lite file"):
        connect(str(tmp_path / "rows.sqlite"))


def test_audit_flags_a_planted_copy_of_a_training_row(store):
    # twice as many training rows as holdout rows: the share must use an equal-size training pool
    train, holdout = unit_vectors(600, 16, 3), unit_vectors(300, 16, 4)
    pool = np.arange(600) % 2 == 0
    store.upsert("train", np.arange(600), train, pd.DataFrame({"x": np.arange(600), "audit_pool": pool}))
    store.upsert("holdout", np.arange(300), holdout, pd.DataFrame({"x": np.arange(300), "audit_pool": True}))
    synthetic = unit_vectors(400, 16, 5)
    synthetic[17] = train[123]
    report = privacy_audit(store, synthetic, holdout)
    flagged = {f["synthetic_row"]: f for f in report["flagged"]}
    assert 17 in flagged and flagged[17]["nearest_train_row"] == 123
    assert flagged[17]["distance"] < 1e-5
    assert report["copy_rate"] == pytest.approx(1 / 400)
    # vectors drawn independently of train and holdout are no nearer the (equal-size) training pool
    assert 0.42 < report["share_closer_to_train"] < 0.58


@pytest.mark.parametrize(
    "expression, reason",
    [
        ('split == "train" and colour ==', "unexpected end of expression at column 31; expression cannot be empty"),
        ("split = train", "unexpected character '=' at column 7; did you mean '=='?"),
    ],
)
def test_a_filter_milvus_cannot_parse_is_one_line_naming_it(store, expression, reason, capfd):
    store.upsert("train", np.arange(3), unit_vectors(3, 16, 6), pd.DataFrame({"colour": ["red", "blue", "red"]}))
    with pytest.raises(VectorStoreError) as err:
        store.search(unit_vectors(1, 16, 7), k=2, filter=expression)
    assert str(err.value) == (
        f"filter={expression!r}: Milvus cannot use this filter ({reason}); it is a Milvus "
        f'boolean expression over split and the row\'s columns, e.g. split == "train" and '
        f"price > 1000"
    )
    assert "Traceback" not in capfd.readouterr().err
