"""The HF export as HF tools use it: AutoTokenizer, AutoModelForCausalLM, constrained generate(), the model card.

The model is a small megatron GPTModel (random weights, as test_export builds it) mapped to the
standalone GPT and exported; constrained generation must decode every row whatever the weights.
"""

import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import load_tokenizer_settings
from test_export import megatron_gpt, megatron_world  # noqa: F401 - megatron_world is a fixture

from nemo_tabular.export import save_hf, standalone_from_megatron
from nemo_tabular.export.hf_generation import SlotLogitsProcessor, decode_generated, load_tabular_tokenizer
from nemo_tabular.sampling import TableLayout, load_bundle, save_bundle
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError
from nemo_tabular.tokenizer.hf import token_names

ROWS = 64


@pytest.fixture(scope="module")
def table():
    """Every kind a slot can hold: float digits, a category with a space and missing values, int digits, dates."""
    return pd.DataFrame(
        {
            "price": [0.5, 1.25, 3.0, 7.5, 2.0, 4.25],
            "cut": ["Very Good", "Ideal", None, "Very Good", "Fair", "Ideal"],
            "carats": [1, 2, 3, 400, 17, 90],
            "day": pd.to_datetime(["2020-01-01", "2020-03-01", "2021-01-01", "2020-01-05", "2022-06-30", "2020-02-02"]),
        }
    )


@pytest.fixture(scope="module")
def tokenizer(table):
    return TabularTokenizer.fit(table, load_tokenizer_settings())


@pytest.fixture(scope="module")
def export_dir(megatron_world, tokenizer, tmp_path_factory):  # noqa: F811 - the imported fixture
    config, weights = standalone_from_megatron(megatron_gpt(tokenizer.vocab_size + 7, 2, True))  # padded vocab
    path = tmp_path_factory.mktemp("hf") / "export"
    save_hf(path, config, weights, tokenizer, provenance={"dataset": "toy", "trained steps": 3})
    return path


def generate(model, processor=None, rows: int = ROWS, seed: int = 0) -> torch.Tensor:
    from transformers import LogitsProcessorList

    prompt = torch.full((rows, 1), model.config.bos_token_id)
    torch.manual_seed(seed)
    processors = LogitsProcessorList([processor] if processor is not None else [])
    return model.generate(
        prompt,
        attention_mask=torch.ones_like(prompt),
        do_sample=True,
        top_k=0,
        max_new_tokens=model.config.n_positions - 1,
        logits_processor=processors,
        pad_token_id=model.config.pad_token_id,
    )


def test_export_holds_hf_files_and_the_tabular_tokenizer_under_its_own_name(export_dir, tokenizer):
    names = {path.name for path in export_dir.iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "tabular_tokenizer.json",
        "README.md",
    } <= names
    hf = json.loads((export_dir / "tokenizer.json").read_text())
    assert hf["model"]["type"] == "WordLevel" and len(hf["model"]["vocab"]) == tokenizer.vocab_size
    assert [t["content"] for t in hf["added_tokens"]] == ["<pad>", "<eod>", "<eor>"]
    assert load_tabular_tokenizer(export_dir).to_json() == tokenizer.to_json()


def test_auto_classes_load_and_special_tokens_match_the_model(export_dir, tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2LMHeadModel

    model = AutoModelForCausalLM.from_pretrained(export_dir)
    hf = AutoTokenizer.from_pretrained(export_dir)
    assert isinstance(model, GPT2LMHeadModel)
    assert (
        (hf.bos_token_id, hf.eos_token_id, hf.pad_token_id)
        == (model.config.bos_token_id, model.config.eos_token_id, model.config.pad_token_id)
        == (tokenizer.eod_id, tokenizer.eod_id, tokenizer.pad_id)
    )
    assert len(hf) == tokenizer.vocab_size and hf.convert_tokens_to_ids("<eor>") == tokenizer.eor_id
    assert hf.model_max_length == model.config.n_positions


def test_auto_tokenizer_round_trips_a_row(export_dir, tokenizer, table):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(export_dir)
    for row in range(len(table)):
        ids = [tokenizer.eod_id, *tokenizer.encode(table.iloc[[row]])[0].tolist()]
        tokens = hf.convert_ids_to_tokens(ids)
        assert hf.convert_tokens_to_ids(tokens) == ids
        assert hf(hf.decode(ids), add_special_tokens=False).input_ids == ids  # text -> the same ids
    first = hf.convert_ids_to_tokens(tokenizer.encode(table.iloc[[0]])[0].tolist())
    assert first[0].startswith("price:0:") and first[2] == "cut:Very▁Good" and first[-1] == "<eor>"
    assert "cut:<nan>" in hf.get_vocab()


def test_token_names_are_unique_even_when_values_print_alike(tokenizer_settings):
    tok = TabularTokenizer.fit(pd.DataFrame({"c": [1, "1", "a b", "a\tb"]}), tokenizer_settings)
    names = token_names(tok)
    assert len(set(names)) == len(names) == tok.vocab_size
    assert sum(name.startswith("c:1") for name in names) == 2 and sum(name.startswith("c:a▁b") for name in names) == 2


def test_constrained_generate_decodes_every_row(export_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(export_dir).eval()
    processor = SlotLogitsProcessor.from_pretrained(export_dir)
    ids = generate(model, processor)
    rows = decode_generated(ids, processor.tokenizer)
    assert len(rows) == ROWS and list(rows.columns) == tokenizer.column_names
    assert tokenizer.valid_mask(rows).all()
    assert (ids[:, tokenizer.row_width] == tokenizer.eod_id).all()  # each document ends after one row
    unconstrained = decode_generated(generate(model), tokenizer, errors="skip")
    assert len(unconstrained) < ROWS  # the random model often puts ids in the wrong slot: why the processor exists
    with pytest.raises(TokenizerError, match="sequence"):
        decode_generated(generate(model), tokenizer)


def test_processor_follows_rows_and_terminators(tokenizer):
    eod, eor, width = tokenizer.eod_id, tokenizer.eor_id, tokenizer.row_width
    row = tokenizer.encode(
        pd.DataFrame({"price": [1.25], "cut": ["Ideal"], "carats": [2], "day": pd.to_datetime(["2020-03-01"])})
    )[0].tolist()
    flat, sequential = SlotLogitsProcessor(tokenizer), SlotLogitsProcessor(tokenizer, sequential=True)
    ids = torch.tensor([[eod] + row[: width - 1]])  # every slot written: the terminator's turn
    scores = torch.zeros(1, tokenizer.vocab_size + 7)
    assert torch.isfinite(flat(ids, scores)).nonzero()[:, 1].tolist() == [eod]
    assert torch.isfinite(sequential(ids, scores)).nonzero()[:, 1].tolist() == [eod, eor]
    after_rows = torch.tensor([[eod] + row[:-1] + [eor] + row[:2]])  # an entity's second row, third slot
    lo, hi = tokenizer.slot_ranges()[2]
    assert torch.isfinite(sequential(after_rows, scores)).nonzero()[:, 1].tolist() == list(range(lo, hi))
    with pytest.raises(ValueError, match="wrong tokenizer"):
        flat(ids, torch.zeros(1, tokenizer.vocab_size - 1))


def test_model_card_names_columns_provenance_and_its_code_runs(export_dir, tokenizer):
    card = (export_dir / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: transformers\n")
    for name in tokenizer.column_names:
        assert f"| `{name}` |" in card
    assert "- dataset: toy" in card and "- trained steps: 3" in card
    code = re.search(r"```python\n(.*?)```", card, re.S).group(1).replace("EXPORT_DIR", str(export_dir))
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # the card's own instructions, as a user would run them
    assert len(scope["rows"]) == ROWS and tokenizer.valid_mask(scope["rows"]).all()


def test_old_exports_and_bundles_are_told_apart(megatron_world, tokenizer, tmp_path):  # noqa: F811
    old = tmp_path / "old-hf"
    old.mkdir()
    tokenizer.save(old / "tokenizer.json")  # an export from before: the project's tokenizer under HF's name
    with pytest.raises(FileNotFoundError, match="no tabular_tokenizer.json there.*export the checkpoint again"):
        SlotLogitsProcessor.from_pretrained(old)
    config, weights = standalone_from_megatron(megatron_gpt(tokenizer.vocab_size, 4, True))
    bundle = save_bundle(tmp_path / "bundle", config, weights, tokenizer, TableLayout())
    assert json.loads((bundle / "config.json").read_text())["version"] == 2
    assert not (bundle / "tokenizer.json").exists() and (bundle / "tabular_tokenizer.json").is_file()
    meta = json.loads((bundle / "config.json").read_text())  # rewrite it as a version 1 bundle
    (bundle / "config.json").write_text(json.dumps({**meta, "version": 1}))
    (bundle / "tabular_tokenizer.json").rename(bundle / "tokenizer.json")
    assert load_bundle(bundle).tokenizer.to_json() == tokenizer.to_json()
    save_hf(tmp_path / "hf", config, weights, tokenizer)
    with pytest.raises(ValueError, match="a Hugging Face model directory"):
        load_bundle(tmp_path / "hf")


def test_decode_generated_names_rows_cut_short(tokenizer):
    row = tokenizer.encode(
        pd.DataFrame({"price": [1.25], "cut": ["Ideal"], "carats": [2], "day": pd.to_datetime(["2020-03-01"])})
    )[0]
    ids = np.array(
        [
            [tokenizer.eod_id, *row[:-1], tokenizer.eod_id, tokenizer.pad_id, tokenizer.pad_id],
            [tokenizer.eod_id, *row[:-1], tokenizer.eor_id, *row[:2]],
        ]
    )
    with pytest.raises(TokenizerError, match="sequence 1: 1 stretch"):
        decode_generated(ids, tokenizer)
    rows = decode_generated(ids, tokenizer, errors="skip", sequence_column="entity")
    assert rows["entity"].tolist() == [0, 1] and rows["cut"].tolist() == ["Ideal", "Ideal"]


def test_provenance_comes_from_the_checkpoint_config_and_train_summary(tmp_path):
    from omegaconf import OmegaConf

    from nemo_tabular.export.model_card import checkpoint_provenance

    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    assert checkpoint_provenance(checkpoints) == {"checkpoint": str(checkpoints)}  # nothing there: no error
    OmegaConf.save(
        OmegaConf.create(
            {
                "dataset": {"name": "diamonds", "source": "package://plotnine/data/diamonds.csv"},
                "model": {"num_layers": 2, "hidden_size": 64, "seq_length": 256},
                "train": {"steps": 600, "global_batch": 32, "seed": 1234},
            }
        ),
        checkpoints / "config.yaml",
    )
    (tmp_path / "run" / "train_summary.json").write_text(
        json.dumps(
            {
                "end_step": 600,
                "final_valid_loss": 1.5,
                "seconds": 180.0,
                "tokens_per_s": 9000.4,
                "tensor": 1,
                "pipeline": 1,
                "data": 2,
                "precision": "fp32",
            }
        )
    )
    found = checkpoint_provenance(checkpoints)
    assert found["dataset"] == "diamonds" and found["layers x hidden"] == "2 x 64" and found["trained steps"] == 600
    assert found["training minutes"] == 3.0 and found["tokens/s"] == 9000
    assert found["processes (tensor x pipeline x data)"] == "1 x 1 x 2"
