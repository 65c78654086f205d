"""Constrained sampling: every row valid (untrained models), determinism, KV cache, conditions, files."""

import json
import subprocess
import sys
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import REPO, load_tokenizer_settings
from omegaconf import OmegaConf

from nemo_tabular.sampling import (
    GPT,
    Bundle,
    GPTConfig,
    SampleOptions,
    SamplingSettings,
    TableLayout,
    iter_samples,
    load_bundle,
    parallel,
    sample_to_file,
    save_bundle,
)
from nemo_tabular.sampling.conditions import forced_tokens
from nemo_tabular.sampling.constraints import SlotConstraints
from nemo_tabular.sampling.copies import TrainingRows, row_fingerprints
from nemo_tabular.sampling.engine import generate_rows, window_start
from nemo_tabular.sampling.parallel import sample_share, share_options, split_evenly
from nemo_tabular.sampling.sampler import expected_rows, filters_copies
from nemo_tabular.sampling.token_choice import choose_tokens, draw_from
from nemo_tabular.tokenizer import TabularTokenizer, TokenizerError

pytestmark = pytest.mark.usefixtures("one_thread")


def random_gpt(vocab_size: int, n_positions: int, seed: int = 0, hostile_id: int | None = None) -> GPT:
    """An untrained GPT; `hostile_id` gets a huge output embedding, so unmasked sampling would pick it."""
    torch.manual_seed(seed)
    model = GPT(
        GPTConfig(
            vocab_size=vocab_size,
            n_positions=n_positions,
            n_layer=2,
            n_head=2,
            n_kv_head=1,
            head_dim=8,
            d_model=16,
            d_ff=32,
        )
    )
    if hostile_id is not None:
        with torch.no_grad():
            model.wte.weight[hostile_id] *= 1000
    return model.eval()


@pytest.fixture(scope="module")
def diamonds() -> pd.DataFrame:
    return pd.read_csv(files("plotnine") / "data" / "diamonds.csv").sample(3000, random_state=0)


@pytest.fixture(scope="module")
def flat(diamonds, tmp_path_factory) -> Bundle:
    """A random model with the diamonds tokenizer, saved and reloaded as a bundle."""
    columns = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "dataset" / "diamonds.yaml").columns)
    tok = TabularTokenizer.fit(diamonds, load_tokenizer_settings(), columns)
    path = tmp_path_factory.mktemp("flat") / "bundle"
    model = random_gpt(tok.vocab_size + 3, 32, hostile_id=tok.pad_id)
    save_bundle(path, model.config, model.state_dict(), tok, TableLayout())
    return load_bundle(path)


@pytest.fixture(scope="module")
def txhousing() -> pd.DataFrame:
    table = pd.read_csv(files("plotnine") / "data" / "txhousing.csv").drop(columns="date")
    return table[table.city.isin(["Austin", "Abilene", "Waco"])].reset_index(drop=True)


@pytest.fixture(scope="module")
def sequential(txhousing) -> Bundle:
    tok = TabularTokenizer.fit(txhousing, load_tokenizer_settings())
    model = random_gpt(tok.vocab_size, 3 * tok.row_width + 2, hostile_id=tok.eod_id)
    return Bundle(model, tok, TableLayout(["city"], ["year", "month"]))


def sample(bundle: Bundle, **options) -> pd.DataFrame:
    return pd.concat(iter_samples(bundle, SampleOptions(**options)), ignore_index=True)


@pytest.mark.parametrize(
    "settings",
    [SamplingSettings(), SamplingSettings(temperature=1.7, top_k=5), SamplingSettings(temperature=0.7, top_p=0.9)],
)
def test_every_flat_row_is_valid_over_many_seeds(flat, settings):
    for seed in range(8):
        rows = sample(flat, n_rows=150, batch_size=64, seed=seed, settings=settings)
        assert len(rows) == 150
        assert list(rows.columns) == flat.tokenizer.column_names
        assert flat.tokenizer.valid_mask(rows).all()


def test_sequential_entities_are_valid_and_bounded(sequential):
    tok = sequential.tokenizer
    rows = sample(sequential, n_rows=60, batch_size=8, seed=3)
    assert len(rows) >= 60 and tok.valid_mask(rows).all()
    per_entity = rows.groupby("entity").size()
    assert per_entity.max() <= (sequential.model.config.n_positions - 1) // tok.row_width
    entities = sample(sequential, n_rows=1, n_entities=5, batch_size=2, seed=3, max_rows_per_entity=7)
    assert entities.entity.nunique() == 5 and entities.groupby("entity").size().max() <= 7


def test_every_row_of_an_entity_keeps_the_key_of_its_first_row(sequential):
    rows = sample(sequential, n_rows=1, n_entities=6, batch_size=6, seed=4, max_rows_per_entity=8)
    sizes = rows.groupby("entity").size()
    assert sizes.max() > 1  # the key is copied, not drawn: a random model would mix cities otherwise
    assert (rows.groupby("entity").city.nunique() == 1).all()


def test_sequential_batches_hold_only_the_entities_the_remaining_rows_need(sequential):
    rows = sample(sequential, n_rows=30, batch_size=64, seed=3, max_rows_per_entity=4)
    assert 30 <= len(rows) < 30 + 4  # the last batch asks for ceil(left / 4) entities of at most 4 rows


def test_sample_script_caps_entities_at_the_longest_training_entity(sequential, tmp_path):
    bundle_dir = tmp_path / "bundle"
    save_bundle(
        bundle_dir, sequential.model.config, sequential.model.state_dict(), sequential.tokenizer, sequential.layout
    )
    meta = tmp_path / "txhousing" / "data" / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"splits": {"train": {"rows": 20}}}))
    out = tmp_path / "synth.csv"
    command = [
        sys.executable,
        str(REPO / "scripts" / "sample.py"),
        f"model_path={bundle_dir}",
        "dataset=txhousing",
        f"paths.root={tmp_path}",
        f"out={out}",
        "reject_copies_of=null",
        "seed=2",
    ]
    old = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert old.returncode == 1
    assert (
        f"error: {meta}: no 'longest_document_rows' (prepared by an older version); prepare the dataset "
        "again or set max_rows_per_entity"
    ) in old.stderr
    meta.write_text(json.dumps({"splits": {"train": {"rows": 20, "longest_document_rows": 2}}}))
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(out)
    assert len(rows) >= 20 and rows.groupby("entity").size().max() == 2  # the context alone would allow 3


@pytest.mark.parametrize("room_rows", [1, 6])
def test_a_slide_keeps_the_most_recent_whole_rows_that_leave_the_room_asked_for(room_rows):
    lead, width, n_positions = 1, 19, 256
    for length in range(lead + 7 * width, lead + 40 * width + 1, width):
        start = window_start(length, lead, width, n_positions, room_rows)
        assert start == 0 or ((start - lead) % width == 0 and start < length)  # a row boundary, rows kept
        assert length - start + room_rows * width <= n_positions  # the room is there
        assert start == 0 or length - (start - width) + room_rows * width > n_positions  # no row too many dropped


def test_same_seed_same_rows_and_kv_cache_changes_nothing(flat, sequential):
    first = sample(flat, n_rows=100, batch_size=50, seed=11)
    pd.testing.assert_frame_equal(first, sample(flat, n_rows=100, batch_size=50, seed=11))
    pd.testing.assert_frame_equal(first, sample(flat, n_rows=100, batch_size=50, seed=11, use_cache=False))
    assert not first.equals(sample(flat, n_rows=100, batch_size=50, seed=12))
    # entities longer than the context slide the window: with and without the cache alike
    long = dict(n_rows=1, n_entities=4, batch_size=4, seed=5, max_rows_per_entity=8)
    pd.testing.assert_frame_equal(sample(sequential, **long), sample(sequential, **long, use_cache=False))


def test_dict_conditions_fix_columns_in_every_row(flat):
    rows = sample(flat, n_rows=120, batch_size=40, seed=1, conditions={"cut": "Fair", "carat": 0.71, "price": 500})
    assert (rows.cut == "Fair").all() and np.allclose(rows.carat, 0.71) and (rows.price == 500).all()
    assert flat.tokenizer.valid_mask(rows).all()


def test_table_conditions_give_one_row_per_condition_row(flat, tmp_path):
    wanted = pd.DataFrame({"color": ["D", "J", "E", "D", "G"], "clarity": ["IF", "SI2", "VS1", "I1", "IF"]})
    wanted.to_csv(tmp_path / "wanted.csv", index=False)
    rows = sample(flat, n_rows=10_000, batch_size=2, seed=0, conditions=str(tmp_path / "wanted.csv"))
    pd.testing.assert_frame_equal(rows[["color", "clarity"]], wanted)


def test_sequential_conditions_hold_in_every_row_of_the_entity(sequential):
    rows = sample(sequential, n_rows=1, n_entities=3, batch_size=3, seed=2, conditions={"city": "Waco"})
    assert (rows.city == "Waco").all()


@pytest.mark.parametrize(
    "conditions,message",
    [
        ({"colour": "D"}, "unknown column 'colour'.*'color'"),
        ({"cut": "Superb"}, "condition on column 'cut': 'Superb' is not a known category; known: .*'Ideal'"),
        ({"carat": 99.0}, r"condition on column 'carat': 99.0 is outside the fitted range \[0.2"),
        ({"price": "cheap"}, "'price'.*'cheap', not a number"),
    ],
)
def test_bad_conditions_raise_clear_errors(flat, conditions, message):
    with pytest.raises(TokenizerError, match=message):
        sample(flat, n_rows=5, conditions=conditions)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_streamed_file_equals_samples_and_leaves_no_temp_files(flat, tmp_path, suffix):
    options = SampleOptions(n_rows=230, batch_size=50, seed=4)
    out = tmp_path / f"synth{suffix}"
    assert sample_to_file(flat, out, options, chunk_rows=60, progress=False) == 230
    written = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    pd.testing.assert_frame_equal(written, sample(flat, n_rows=230, batch_size=50, seed=4), check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_failed_sampling_leaves_no_file(flat, tmp_path):
    with pytest.raises(TokenizerError):
        sample_to_file(
            flat, tmp_path / "x.parquet", SampleOptions(n_rows=5, conditions={"cut": "nope"}), progress=False
        )
    assert list(tmp_path.iterdir()) == []


def test_top_k_one_and_tiny_top_p_are_greedy():
    logits = torch.randn(6, 40, generator=torch.Generator().manual_seed(0))
    allowed = torch.zeros(40, dtype=torch.bool)
    allowed[10:30] = True
    greedy = logits[:, 10:30].argmax(-1) + 10
    g = torch.Generator().manual_seed(1)
    for settings in (SamplingSettings(temperature=0), SamplingSettings(top_k=1), SamplingSettings(top_p=1e-6)):
        assert torch.equal(choose_tokens(logits, allowed, settings, g), greedy)


def test_sample_script_writes_rows_and_reports_bad_conditions(flat, tmp_path):
    bundle_dir = tmp_path / "bundle"
    save_bundle(bundle_dir, flat.model.config, flat.model.state_dict(), flat.tokenizer, TableLayout())
    out = tmp_path / "synth.csv"
    # fp32 as in this process: precision=auto would take bf16 on a CPU with native bf16 and draw other rows
    common = [
        sys.executable,
        str(REPO / "scripts" / "sample.py"),
        f"model_path={bundle_dir}",
        f"run={tmp_path / 'diamonds'}",
        "precision=fp32",
    ]
    missing = subprocess.run(common + ["n_rows=40", f"out={out}"], capture_output=True, text=True, cwd=REPO)
    train = tmp_path / "diamonds" / "data" / "train.parquet"
    assert (
        missing.returncode == 1 and f"error: {train}: training rows (reject_copies_of) file not found" in missing.stderr
    )
    train.parent.mkdir(parents=True)
    sample(flat, n_rows=40, batch_size=40, seed=3).to_parquet(train)  # the rows seed 3 gives: all are dropped
    done = subprocess.run(
        common + ["n_rows=40", "batch_size=40", f"out={out}", "seed=3"], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert "wrote 40 rows" in done.stdout and "of sampled rows" not in done.stdout
    assert "dropped 40 copies of training rows" in done.stdout
    assert pd.read_csv(out).merge(pd.read_parquet(train)).empty
    # with workers, a worker's error reaches the script the same way
    bad = subprocess.run(
        common + ["n_rows=4", f"out={out}", "conditions={cut:Superb}", "workers=2"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert bad.returncode == 1 and "error: condition on column 'cut': 'Superb'" in bad.stderr
    assert Path(out).exists()


def test_inverse_cdf_draws_follow_the_probabilities_and_never_pick_a_zero():
    probs = torch.tensor([[0.0, 0.2, 0.0, 0.5, 0.3, 0.0]]).expand(100_000, -1)
    drawn = draw_from(probs, torch.Generator().manual_seed(0))
    share = torch.bincount(drawn, minlength=6) / len(drawn)
    assert torch.allclose(share, probs[0], atol=0.01) and share[[0, 2, 5]].sum() == 0
    one_hot = torch.eye(5)[[4, 0, 2]]  # all mass on one id, first and last included
    assert draw_from(one_hot, torch.Generator().manual_seed(1)).tolist() == [4, 0, 2]


def test_a_draw_that_reaches_the_total_takes_the_last_possible_id(monkeypatch):
    """u x total can round up to the total itself; stood in for here by u = 1 (torch.rand never returns it)."""
    monkeypatch.setattr(torch, "rand", lambda n, _, **kw: torch.ones(n, 1, dtype=kw["dtype"]))
    probs = torch.tensor([[0.2, 0.8, 0.0, 0.0], [0.1, 0.0, 0.3, 0.6], [0.5, 0.0, 0.5, 0.0]])
    assert draw_from(probs, torch.Generator()).tolist() == [1, 3, 2]


def test_compact_cache_and_shared_prompt_match_the_full_forward():
    model = random_gpt(50, 32)
    ids = torch.randint(0, 50, (3, 10), generator=torch.Generator().manual_seed(0))
    ids[:, :4] = ids[:1, :4]  # a prompt shared by the batch
    with torch.no_grad():
        full = model(ids)
        one = model.new_cache(1, 4)
        model.features(ids[:1, :4], one)
        cache = model.new_cache(3, 10)
        cache.fill_from(one)
        rest = model(ids[:, 4:], cache)
        torch.testing.assert_close(rest, full[:, 4:], atol=1e-5, rtol=0)
        with pytest.raises(ValueError, match="exceeds the KV cache's 10"):
            model(ids[:, :1], cache)


@pytest.mark.parametrize("n_kv_head", [2, 1])
def test_one_token_step_equals_the_full_forward(n_kv_head):
    torch.manual_seed(0)
    model = GPT(
        GPTConfig(
            vocab_size=50, n_positions=32, n_layer=2, n_head=2, n_kv_head=n_kv_head, head_dim=8, d_model=16, d_ff=32
        )
    ).eval()
    ids = torch.randint(0, 50, (3, 10), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        cache = model.new_cache(3, 10)
        steps = torch.stack([model.step(ids[:, t], cache) for t in range(10)], dim=1)
        torch.testing.assert_close(steps, model.features(ids), atol=1e-5, rtol=0)
        with pytest.raises(ValueError, match="exceeds the KV cache's 10"):
            model.step(ids[:, 0], cache)


def test_input_vectors_in_place_of_ids_give_the_same_states_step_by_step():
    """features_of / step_of take any input vectors (a column's summed digits): one step equals the full pass."""
    model = random_gpt(50, 32)
    inputs = torch.randn(3, 6, model.config.d_model, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        cache = model.new_cache(3, 6)
        steps = torch.stack([model.step_of(inputs[:, t].clone(), cache) for t in range(6)], dim=1)
        torch.testing.assert_close(steps, model.features_of(inputs), atol=1e-5, rtol=0)
        ids = torch.tensor([[4, 7], [9, 1], [0, 3]])
        torch.testing.assert_close(model.features_of(model.wte(ids)), model.features(ids), atol=0, rtol=0)


def test_bfloat16_bundle_samples_valid_deterministic_rows(flat, tmp_path):
    save_bundle(tmp_path / "bundle", flat.model.config, flat.model.state_dict(), flat.tokenizer, TableLayout())
    half = load_bundle(tmp_path / "bundle", dtype=torch.bfloat16)
    assert half.model.wte.weight.dtype == torch.bfloat16
    rows = sample(half, n_rows=200, batch_size=64, seed=2, conditions={"cut": "Ideal"})
    assert half.tokenizer.valid_mask(rows).all() and (rows.cut == "Ideal").all()
    pd.testing.assert_frame_equal(rows, sample(half, n_rows=200, batch_size=64, seed=2, conditions={"cut": "Ideal"}))


def test_row_fingerprints_match_equal_rows_only():
    rows = np.random.default_rng(0).integers(0, 70_000, size=(200_000, 6))
    rows = np.unique(rows, axis=0)
    prints = row_fingerprints(rows)
    assert len(np.unique(prints)) == len(rows)  # no collision among distinct rows
    np.testing.assert_array_equal(row_fingerprints(rows[::-1].copy()), prints[::-1])
    swapped = rows[:, [1, 0, 2, 3, 4, 5]]  # the same ids in other columns are another row
    assert not np.isin(row_fingerprints(swapped[rows[:, 0] != rows[:, 1]]), prints).any()


def test_rejected_copies_of_training_rows_are_drawn_again(flat):
    first = sample(flat, n_rows=100, batch_size=50, seed=4)
    training = TrainingRows(training_tokens(first, flat))
    again = sample(flat, n_rows=100, batch_size=50, seed=4, reject_copies=training)
    # the same seed redraws both first batches exactly: every row of them is a copy and is replaced
    assert len(again) == 100 and training.rejected == 100 and training.checked == 200
    assert training.summary() == "dropped 100 copies of training rows"
    training.rejected = 101
    assert training.summary().startswith("dropped 101 copies of training rows (50% of sampled rows: the model has")
    assert not training.copies(training_tokens(again, flat)).any()
    assert flat.tokenizer.valid_mask(again).all()
    pd.testing.assert_frame_equal(
        again, sample(flat, n_rows=100, batch_size=50, seed=4, reject_copies=TrainingRows(training_tokens(first, flat)))
    )


def test_filtered_flat_sampling_draws_full_batches_and_keeps_exactly_n_rows(flat):
    training = TrainingRows(training_tokens(sample(flat, n_rows=50, batch_size=50, seed=6), flat))
    rows = sample(flat, n_rows=10, batch_size=50, seed=6, reject_copies=training)
    # the first batch repeats the 50 training rows; the second is a full batch too, cut to the 10 rows still owed
    assert len(rows) == 10 and training.checked == 100 and training.rejected >= 50
    assert not training.copies(training_tokens(rows, flat)).any()


def training_tokens(frame: pd.DataFrame, bundle: Bundle) -> np.ndarray:
    return bundle.tokenizer.encode(frame)[:, :-1]


def test_conditions_that_only_allow_training_rows_fail_clearly(flat):
    row = sample(flat, n_rows=1, batch_size=1, seed=0)
    every_column = {name: row[name].iloc[0] for name in flat.tokenizer.column_names}
    with pytest.raises(ValueError, match="20 batches in a row held only copies of training rows"):
        sample(
            flat,
            n_rows=5,
            batch_size=5,
            seed=0,
            conditions=every_column,
            reject_copies=TrainingRows(training_tokens(row, flat)),
        )


def test_copies_are_filtered_unless_a_table_of_conditions_owes_each_output():
    assert filters_copies(None) and filters_copies({"cut": "Fair"})
    assert not filters_copies("wanted.csv") and not filters_copies(pd.DataFrame({"cut": ["Fair"]}))


def test_a_copied_row_of_an_entity_is_drawn_again_in_place(sequential):
    options = dict(n_rows=1, n_entities=3, batch_size=3, seed=3, max_rows_per_entity=6)
    first = sample(sequential, **options)
    longest = first.groupby("entity").size().idxmax()
    entity = first[first.entity == longest].reset_index(drop=True)
    assert len(entity) >= 3
    training = TrainingRows(training_tokens(entity.drop(columns="entity").iloc[[2]], sequential))
    again = sample(sequential, **options, reject_copies=training)
    assert training.rejected >= 1 and training.left_out == 0 and again.entity.nunique() == 3
    assert not training.copies(training_tokens(again.drop(columns="entity"), sequential)).any()

    # everything drawn before the copied row is unchanged, in every entity of the batch
    def before(frame):
        return frame.groupby("entity").head(2).reset_index(drop=True)

    pd.testing.assert_frame_equal(before(again), before(first))
    # drawing again rewinds the KV cache: the same rows without one
    without_cache = sample(
        sequential,
        **options,
        use_cache=False,
        reject_copies=TrainingRows(training_tokens(entity.drop(columns="entity").iloc[[2]], sequential)),
    )
    pd.testing.assert_frame_equal(again, without_cache)


def test_a_row_that_every_draw_copies_is_left_out_and_kept_as_history(sequential):
    tok, model = sequential.tokenizer, sequential.model
    constraints = SlotConstraints(tok, model.config.vocab_size, "cpu")
    city = tok.column_slots("city").start
    austin, waco = forced_tokens(tok, pd.DataFrame({"city": ["Austin", "Waco"]}))[:, city].tolist()
    forced = torch.full((3, 1, tok.row_width - 1), -1, dtype=torch.long)
    forced[:, 0, city] = torch.tensor([austin, waco, waco])  # the first sequence's rows all "copy"
    calls = []

    def austin_rows(ids):
        calls.append(len(ids))
        return (ids[:, city] == austin).numpy()

    prompt = torch.full((3, 1), tok.eod_id, dtype=torch.long)
    result = generate_rows(
        model,
        constraints,
        prompt,
        4,
        inner_terminators=(tok.eor_id,),
        last_terminators=(tok.eod_id,),
        eod_id=tok.eod_id,
        pad_id=tok.pad_id,
        settings=SamplingSettings(),
        generator=torch.Generator().manual_seed(0),
        forced=forced,
        is_copy=austin_rows,
        max_draws=3,
    )
    assert result.n_rows.tolist() == [4, 4, 4]
    assert result.left_out.tolist() == [[True] * 4, [False] * 4, [False] * 4]
    assert calls == [3] * 3 * 4  # three draws of every row, each checking the three sequences


def test_progress_expects_n_rows_unless_conditions_or_entities_set_the_target():
    assert expected_rows(SampleOptions(n_rows=7, n_entities=2), sequential=False) == 7
    assert expected_rows(SampleOptions(n_rows=7, n_entities=2), sequential=True) is None
    assert expected_rows(SampleOptions(n_rows=7, conditions={"cut": "Fair"}), sequential=False) == 7
    assert expected_rows(SampleOptions(n_rows=7, conditions="wanted.csv"), sequential=False) is None


def test_work_is_split_evenly_into_shares_with_their_own_seeds(flat):
    assert split_evenly(5, 2) == [3, 2] and split_evenly(1, 4) == [1] and split_evenly(8, 4) == [2] * 4
    options = SampleOptions(n_rows=5, seed=7)
    assert share_options(options, 1, sequential=False) == [options]
    shares = share_options(options, 2, sequential=False)
    assert [s.n_rows for s in shares] == [3, 2] and len({s.seed for s in shares} | {7}) == 3
    entities = share_options(SampleOptions(n_rows=1, n_entities=3), 4, sequential=True)
    assert [s.n_entities for s in entities] == [1, 1, 1]
    wanted = pd.DataFrame({"cut": ["Fair", "Good", "Ideal"]})
    blocks = [s.conditions for s in share_options(SampleOptions(conditions=wanted), 2, sequential=False)]
    pd.testing.assert_frame_equal(pd.concat(blocks, ignore_index=True), wanted)
    assert [len(b) for b in blocks] == [2, 1]
    meta = Bundle(random_gpt(flat.model.config.vocab_size, 8).to("meta"), flat.tokenizer, TableLayout())
    with pytest.raises(ValueError, match="workers=2 runs sampling processes on CPU cores; on meta, use workers=1"):
        sample_to_file(meta, "x.parquet", SampleOptions(), workers=2)


def test_workers_write_their_shares_in_order_and_add_up_copy_counts(flat, tmp_path):
    options = SampleOptions(n_rows=101, batch_size=20, seed=3)
    first_share = share_options(options, 2, sequential=False)[0]
    copied = training_tokens(sample(flat, **vars(replace(first_share, n_rows=20))), flat)  # its first batch
    options.reject_copies = TrainingRows(copied)
    out = tmp_path / "synth.parquet"
    assert sample_to_file(flat, out, options, chunk_rows=30, progress=False, workers=2) == 101
    in_process = TrainingRows(copied)
    shares = share_options(replace(options, reject_copies=in_process), 2, sequential=False)
    expected = pd.concat([sample(flat, **vars(share)) for share in shares], ignore_index=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)
    assert (options.reject_copies.checked, options.reject_copies.rejected) == (in_process.checked, in_process.rejected)
    assert in_process.rejected >= 20
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_workers_number_entities_on_and_keep_a_condition_table_in_order(flat, sequential, tmp_path):
    options = SampleOptions(n_rows=1, n_entities=5, batch_size=2, seed=0, max_rows_per_entity=3)
    assert sample_to_file(sequential, tmp_path / "s.csv", options, progress=False, workers=2) > 0
    written = pd.read_csv(tmp_path / "s.csv")
    parts = [sample(sequential, **vars(share)) for share in share_options(options, 2, sequential=True)]
    parts[1]["entity"] += parts[0].entity.max() + 1
    pd.testing.assert_frame_equal(written, pd.concat(parts, ignore_index=True), check_dtype=False)
    assert written.entity.unique().tolist() == [0, 1, 2, 3, 4]
    wanted = pd.DataFrame({"color": ["D", "J", "E", "D", "G"], "clarity": ["IF", "SI2", "VS1", "I1", "IF"]})
    sample_to_file(
        flat, tmp_path / "c.parquet", SampleOptions(batch_size=2, conditions=wanted), progress=False, workers=3
    )
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "c.parquet")[["color", "clarity"]], wanted)


def test_a_workers_error_is_raised_and_leaves_no_file(flat, tmp_path):
    row = sample(flat, n_rows=1, batch_size=1, seed=0)
    every_column = {name: row[name].iloc[0] for name in flat.tokenizer.column_names}
    options = SampleOptions(
        n_rows=4, batch_size=2, conditions=every_column, reject_copies=TrainingRows(training_tokens(row, flat))
    )
    with pytest.raises(ValueError, match="20 batches in a row held only copies of training rows"):
        sample_to_file(flat, tmp_path / "x.parquet", options, progress=False, workers=2)
    assert list(tmp_path.iterdir()) == []


class Unpicklable(Exception):
    def __reduce__(self):
        raise TypeError("cannot pickle")


def test_a_worker_sends_its_error_with_where_it_happened(flat, tmp_path, monkeypatch):
    class Messages(list):
        put = list.append

    sent = Messages()
    sample_share(1, flat, SampleOptions(n_rows=3, conditions={"cut": "nope"}), str(tmp_path / "p.parquet"), 10, 1, sent)
    ((kind, share, err),) = sent
    assert (kind, share, type(err)) == ("error", 1, TokenizerError)
    assert "in sampling worker 1:" in err.__notes__[0] and "Traceback" in err.__notes__[0]

    def fail(*_):
        raise Unpicklable("odd failure")

    monkeypatch.setattr(parallel, "iter_samples", fail)
    sent.clear()
    sample_share(0, flat, SampleOptions(n_rows=3), str(tmp_path / "p.parquet"), 10, 1, sent)
    ((_, _, err),) = sent
    assert type(err) is RuntimeError and str(err).startswith("Unpicklable: odd failure\nin sampling worker 0:")
    assert list(tmp_path.iterdir()) == []
