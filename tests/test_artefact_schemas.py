"""meta.json and a bundle's config.json are input like tokenizer.json: every field is bounded before anything is
sized from it, and a hostile value is one line naming the file and the field."""

import json
import resource
import time

import pandas as pd
import pytest
import torch
from conftest import load_tokenizer_settings

from nemo_tabular.run_dir import MAX_ROWS, MAX_VOCAB, MetaError, PreparedData
from nemo_tabular.sampling import GPT, GPTConfig, TableLayout, load_bundle, save_bundle
from nemo_tabular.sampling.bundle_schema import BundleError
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.tokenizer.schema import MAX_VOCAB as TOKENIZER_MAX_VOCAB

AGAIN = "; run nemo-tabular prepare again"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def meta_error(tmp_path, meta: dict) -> str:
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(MetaError) as err:
        _ = PreparedData(tmp_path).meta  # reading it is what raises
    return str(err.value)


def test_what_prepare_writes_passes(tmp_path):
    meta = {
        "dataset": "diamonds",
        "source": "package://plotnine/data/diamonds.csv",
        "columns": ["carat", "cut"],
        "group_by": [],
        "order_by": [],
        "target": "cut",
        "split_by": "document",
        "fractions": {"valid": 0.05, "test": 0.1},
        "seed": 1234,
        "limit_rows": None,
        "tokens_per_row": 5,
        "vocab_size": 40,
        "eor_id": 37,
        "eod_id": 38,
        "splits": {
            "train": {"rows": 10, "documents": 10, "tokens": 50, "longest_document_rows": 1},
            "valid": {"rows": 0, "documents": 0, "tokens": 0, "longest_document_rows": 0},
        },
        "tokenizer_fitted_on": "train",
        "held_out_outside_tokenizer": {"valid": {"carat": 2}},
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    assert PreparedData(tmp_path).meta == meta
    assert MAX_VOCAB == TOKENIZER_MAX_VOCAB


@pytest.mark.parametrize(
    "meta, message",
    [
        (
            {"splits": {"train": {"rows": 10**15}}},
            f"splits.train: rows must be an integer in [0, {MAX_ROWS}], got 1000000000000000",
        ),
        ({"splits": {"train": {"rows": 1e3}}}, f"splits.train: rows must be an integer in [0, {MAX_ROWS}], got 1000.0"),
        (
            {"splits": {"train": {"rows": 10, "longest_document_rows": 10**12}}},
            "splits.train: longest_document_rows is 1000000000000, more than its 10 rows",
        ),
        (
            {"tokens_per_row": 3, "splits": {"train": {"rows": 10, "tokens": 31}}},
            "splits.train: tokens must be rows x tokens_per_row = 30, got 31",
        ),
        ({"splits": {"holdout": {"rows": 1}}}, "splits has 'holdout'; expected only train, valid, test"),
        ({"splits": {"train": [1, 2]}}, "splits: train must be an object, got [1, 2]"),
        ({"vocab_size": 2**40}, f"vocab_size must be an integer in [1, {MAX_VOCAB}], got 1099511627776"),
        ({"vocab_size": 10, "eod_id": 10}, "eod_id must be an integer in [0, 9], got 10"),
        ({"tokens_per_row": "5"}, "tokens_per_row must be an integer in [1, 1048576], got '5'"),
        ({"columns": ["a"], "group_by": ["b"]}, "group_by names 'b', which is not in its columns"),
        ({"columns": ["a"], "target": "b"}, "target 'b' is not in its columns"),
        ({"group_by": [1]}, "group_by must be a list of column names, got [1]"),
        (
            {"dataset": "x" * 300},
            "dataset must be a non-empty string of at most 255 characters, got 'xxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...",
        ),
        ({"split_by": "random"}, "split_by must be one of document, time, got 'random'"),
        ({"fractions": {"test": 2}}, "fractions: test must be a number in [0, 1], got 2"),
        ({"seed": -1}, "seed must be an integer in [0, 9223372036854775807], got -1"),
        (
            {"held_out_outside_tokenizer": {"test": {"x": -3}}},
            f"held_out_outside_tokenizer.test: x must be an integer in [0, {MAX_ROWS}], got -3",
        ),
    ],
)
def test_a_hostile_meta_json_field_is_named(tmp_path, meta, message):
    assert meta_error(tmp_path, meta) == f"{tmp_path / 'meta.json'}: {message}{AGAIN}"


def test_split_rows_must_be_what_the_split_file_holds(tmp_path):
    (tmp_path / "meta.json").write_text(
        json.dumps({"splits": {"train": {"rows": 10**9, "longest_document_rows": 10**9}}})
    )
    pd.DataFrame({"x": [1, 2, 3]}).to_parquet(tmp_path / "train.parquet")
    with pytest.raises(MetaError) as err:
        PreparedData(tmp_path).split_count("train", "longest_document_rows")
    assert str(err.value) == (
        f"{tmp_path / 'meta.json'}: splits.train.rows is 1000000000, but "
        f"{tmp_path / 'train.parquet'} holds 3 rows{AGAIN}"
    )


@pytest.fixture
def bundle_dir(tmp_path):
    tokenizer = TabularTokenizer.fit(
        pd.DataFrame({"x": [0.5, 1.5, 2.5], "c": ["a", "b", "a"]}), load_tokenizer_settings()
    )
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=tokenizer.vocab_size,
            n_positions=16,
            n_layer=1,
            n_head=2,
            n_kv_head=1,
            head_dim=4,
            d_model=8,
            d_ff=16,
        )
    )
    return save_bundle(tmp_path / "bundle", model.config, model.state_dict(), tokenizer, TableLayout())


def rewrite_config(bundle_dir, **model_fields) -> str:
    path = bundle_dir / "config.json"
    meta = json.loads(path.read_text())
    meta["model"].update(model_fields)
    path.write_text(json.dumps(meta))
    return str(path)


def bundle_error(bundle_dir) -> str:
    with pytest.raises(BundleError) as err:
        load_bundle(bundle_dir)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_a_crafted_bundle_config_fails_at_once_and_allocates_nothing(bundle_dir):
    """d_model=2**16 with 1024 layers would be terabytes of weights; within bounds it is still refused by the
    weights file's header, before any parameter exists."""
    path = rewrite_config(bundle_dir, d_model=2**16, n_layer=1024, d_ff=2**18)
    before, start = peak_rss_mb(), time.perf_counter()
    assert bundle_error(bundle_dir) == (
        f"{bundle_dir / 'model.safetensors'}: holds 880 weights, but config.json's "
        f"model has {parameter_count(json.loads(open(path).read())['model']):,}"
    )
    assert time.perf_counter() - start < 2.0
    assert peak_rss_mb() - before < 50
    rewrite_config(bundle_dir, d_model=10**9)
    assert bundle_error(bundle_dir) == f"{path}: model: d_model must be an integer in [1, 65536], got 1000000000"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"n_layer": 0}, "model: n_layer must be an integer in [1, 1024], got 0"),
        ({"vocab_size": 2.5}, "model: vocab_size must be an integer in [1, 8388608], got 2.5"),
        ({"n_kv_head": 3, "n_head": 4}, "model: n_head (4) must be a multiple of n_kv_head (3)"),
        ({"layernorm_eps": -1}, "model: layernorm_eps must be a number in [1e-12, 0.1], got -1"),
        ({"tied_embeddings": "yes"}, "model: tied_embeddings must be true or false, got 'yes'"),
        (
            {"exec": "rm -rf /"},
            "model: unknown field 'exec'; expected only d_ff, d_model, head_dim, layernorm_eps, "
            "n_head, n_kv_head, n_layer, n_positions, tied_embeddings, vocab_size",
        ),
    ],
)
def test_a_hostile_bundle_field_is_named(bundle_dir, fields, message):
    path = rewrite_config(bundle_dir, **fields)
    assert bundle_error(bundle_dir) == f"{path}: {message}"


def parameter_count(model: dict) -> int:
    """The GPT's size by hand: embeddings, then per block two LayerNorms, qkv, proj and the MLP, then ln_f."""
    d, ff, hd, heads, kv = model["d_model"], model["d_ff"], model["head_dim"], model["n_head"], model["n_kv_head"]
    qkv = (heads + 2 * kv) * hd
    block = 4 * d + d * qkv + qkv + heads * hd * d + d + d * ff + ff + ff * d + d
    return (model["vocab_size"] + model["n_positions"]) * d + model["n_layer"] * block + 2 * d


def test_the_expected_shapes_are_the_models():
    from nemo_tabular.sampling.bundle_schema import expected_shapes
    from nemo_tabular.sampling.bundle_schema import parameter_count as counted

    for config in (
        GPTConfig(13, 16, 1, 2, 1, 4, 8, 16),
        GPTConfig(50, 33, 3, 4, 2, 6, 24, 40),
        GPTConfig(7, 9, 2, 3, 3, 5, 12, 20, tied_embeddings=False),
    ):
        model = GPT(config).state_dict()
        assert expected_shapes(config) == {name: tuple(tensor.shape) for name, tensor in model.items()}
        if config.tied_embeddings:
            assert counted(config) == parameter_count(config.to_json())


def test_bundle_shapes_layout_and_vocabulary_must_agree(bundle_dir):
    config = bundle_dir / "config.json"
    rewrite_config(bundle_dir, vocab_size=16, n_positions=26)  # as many weights, in other shapes
    assert bundle_error(bundle_dir) == (
        f"{bundle_dir / 'model.safetensors'}: tensor 'wte.weight' has shape [26, 8], "
        f"but config.json's model gives [16, 8]"
    )
    rewrite_config(bundle_dir, vocab_size=26, n_positions=32)
    assert bundle_error(bundle_dir) == (
        f"{bundle_dir / 'model.safetensors'}: holds 880 weights, but config.json's model has 1,008"
    )
    rewrite_config(bundle_dir, n_positions=16, vocab_size=26)
    meta = json.loads(config.read_text())
    meta["table"] = {"group_by": [["a"]]}
    config.write_text(json.dumps(meta))
    assert bundle_error(bundle_dir) == f"{config}: table: group_by must be a list of column names, got [['a']]"
    config.write_text("{broken")
    assert bundle_error(bundle_dir).startswith(f"{config}: not valid JSON (")
    config.write_text(" " * (2**20 + 1))
    assert (
        bundle_error(bundle_dir) == f"{config}: {2**20 + 1} bytes, more than any bundle config (1048576 bytes at most)"
    )


def test_a_sound_bundle_still_loads(bundle_dir):
    bundle = load_bundle(bundle_dir)
    assert bundle.model.config.d_model == 8 and not bundle.layout.sequential


def test_a_model_with_fewer_ids_than_its_tokenizer_is_refused(tmp_path):
    tokenizer = TabularTokenizer.fit(pd.DataFrame({"x": [0.5, 1.5, 2.5]}), load_tokenizer_settings())
    model = GPT(
        GPTConfig(
            vocab_size=tokenizer.vocab_size - 1,
            n_positions=8,
            n_layer=1,
            n_head=1,
            n_kv_head=1,
            head_dim=4,
            d_model=4,
            d_ff=8,
        )
    )
    path = save_bundle(tmp_path / "bundle", model.config, model.state_dict(), tokenizer, TableLayout())
    assert bundle_error(path) == (
        f"{path / 'config.json'}: model.vocab_size is {tokenizer.vocab_size - 1}, fewer ids "
        f"than its tokenizer's {tokenizer.vocab_size}"
    )
