"""PreparedData: the one reader of a prepared data directory's meta.json, with errors that say what to do."""

import json

import pytest

from nemo_tabular.run_dir import PreparedData


def test_paths_and_counts_come_from_the_data_directory(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"target": "price", "splits": {"train": {"rows": 3, "tokens": 57}}}))
    prepared = PreparedData(str(tmp_path))
    assert prepared.is_prepared() and prepared.data_dir == tmp_path
    assert prepared.tokenizer_path == tmp_path / "tokenizer.json"
    assert prepared.split_path("valid") == tmp_path / "valid.parquet"
    assert prepared.split_path("train", ".idx") == tmp_path / "train.idx"
    assert prepared.meta["target"] == "price"
    assert prepared.split_count("train", "rows") == 3 and prepared.split_count("train", "tokens") == 57
    with pytest.raises(ValueError, match="split 'holdout': expected one of train, valid, test"):
        prepared.split_path("holdout")


def test_a_missing_or_old_meta_json_is_named_with_what_to_do(tmp_path):
    meta = tmp_path / "meta.json"
    with pytest.raises(FileNotFoundError) as missing:
        PreparedData(tmp_path).split_count("train", "rows", instead="set n_rows")
    assert str(missing.value) == f"{meta}: not found; run nemo-tabular prepare first or set n_rows"
    meta.write_text(json.dumps({"splits": {"train": {"rows": 3}}}))
    with pytest.raises(ValueError) as old:
        PreparedData(tmp_path).split_count("train", "longest_document_rows", instead="set max_rows_per_entity")
    assert str(old.value) == (
        f"{meta}: no 'longest_document_rows' (prepared by an older version); prepare the "
        "dataset again or set max_rows_per_entity"
    )
    meta.write_text("{not json")
    with pytest.raises(ValueError, match=f"{meta}: not valid JSON .*; run nemo-tabular prepare again"):
        _ = PreparedData(tmp_path).meta  # reading it is what raises
    meta.write_text("[1, 2]")
    with pytest.raises(ValueError, match="expected a JSON object"):
        _ = PreparedData(tmp_path).meta  # reading it is what raises
