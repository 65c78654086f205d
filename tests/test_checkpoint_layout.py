"""The checkpoint directory's files, as Megatron-LM and Megatron-Bridge expect them, and every reader of them.

Bridge is not a dependency (it needs Python 3.12 and CUDA): `bridge_*` below restate its documented
checks (megatron/bridge/training/utils/checkpoint_utils.py and checkpointing.py: checkpoint_exists,
read_metadata, get_checkpoint_name, read_train_state, the run_config keys its loader reads, the
tokenizer/ directory) so the layout is tested against them. The checkpoints are saved in this process
by the real save_checkpoint with a one-layer GPTModel; optimizer and scheduler are stand-ins, since
the layout does not depend on them (tests/test_training.py resumes real ones).
"""

import shutil

import pandas as pd
import pytest
import torch
import yaml
from conftest import TINY_GPT, load_tokenizer_settings, tiny_megatron_gpt
from omegaconf import OmegaConf

from nemo_tabular.tokenizer import TabularTokenizer

CFG = {
    "dataset": {"name": "toy"},
    "model": TINY_GPT,
    "parallel": {"tensor": 1, "pipeline": 1},
    "train": {"seed": 0, "global_batch": 8, "steps": 5},
}
TRAIN_STATE_KEYS = {
    "step",
    "consumed_train_samples",
    "skipped_train_samples",
    "consumed_valid_samples",
    "floating_point_operations_so_far",
    "do_train",
    "do_valid",
    "do_test",
}
DIST_FILES = {"metadata.json", ".metadata", "common.pt"}  # and the __*.distcp shards


class StandInOptimizer:
    def sharded_state_dict(self, model_state, is_loading=False):
        return {}


class StandInScheduler:
    def state_dict(self):
        return {"num_steps": 5}


# --- Megatron-Bridge's checks, restated ---------------------------------------------------------------


def bridge_checkpoint_exists(path) -> bool:
    """checkpoint_exists(): an iteration directory's markers, else latest_train_state.pt, else the tracker."""
    if any((path / marker).exists() for marker in ("run_config.yaml", "train_state.pt", "metadata.json", ".metadata")):
        return True
    return (path / "latest_train_state.pt").exists() or (path / "latest_checkpointed_iteration.txt").is_file()


def bridge_read_metadata(tracker) -> int:
    """read_metadata(): the tracker holds an iteration number > 0 (or 'release', which this project never writes)."""
    iteration = int(tracker.read_text().strip())
    assert iteration > 0
    return iteration


def bridge_checkpoint_name(checkpoints_path, iteration: int):
    """get_checkpoint_name(): iter_{:07d} under the base directory."""
    return checkpoints_path / f"iter_{iteration:07d}"


def bridge_run_config_reads(run_config: dict) -> tuple:
    """The run_config.yaml entries Bridge's torch_dist load reads (TP/PP check, RNG and optimizer decisions)."""
    return (
        run_config["model"]["tensor_model_parallel_size"],
        run_config["model"]["pipeline_model_parallel_size"],
        run_config["checkpoint"]["save_rng"],
        run_config["checkpoint"]["save_optim"],
        run_config["checkpoint"]["fully_parallel_save"],
    )


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer():
    table = pd.DataFrame({"x": [0.5, 1.5, 2.5, 0.25], "cut": ["Very Good", "Ideal", "Ideal", "Fair"]})
    return TabularTokenizer.fit(table, load_tokenizer_settings())


def build_model(tokenizer, seed: int = 0):
    from nemo_tabular.cpu_compat import enable_cpu_support, seed_model_parallel
    from nemo_tabular.training.checkpoint import ensure_single_process_group

    ensure_single_process_group()
    enable_cpu_support()
    seed_model_parallel(seed)
    return tiny_megatron_gpt(tokenizer)


def save(directory, step, model, tokenizer):
    from nemo_tabular.training.checkpoint import save_checkpoint

    return save_checkpoint(
        directory, step, model, StandInOptimizer(), StandInScheduler(), OmegaConf.create(CFG), tokenizer
    )


@pytest.fixture(scope="module")
def saved(tokenizer, tmp_path_factory):
    """A checkpoint directory after saves at steps 3 and 5, and the model saved."""
    directory = tmp_path_factory.mktemp("layout") / "checkpoints"
    model = build_model(tokenizer)
    save(directory, 3, model, tokenizer)
    save(directory, 5, model, tokenizer)
    return directory, model


@pytest.fixture
def checkpoint(saved, tmp_path):
    directory = tmp_path / "checkpoints"
    shutil.copytree(saved[0], directory)
    return directory


# --- the layout -------------------------------------------------------------------------------------


def test_file_names_are_those_megatron_lm_and_bridge_use(saved):
    directory, _ = saved
    assert {p.name for p in directory.iterdir()} == {
        "latest_checkpointed_iteration.txt",
        "latest_train_state.pt",
        "tokenizer.json",
        "config.yaml",
        "iter_0000003",
        "iter_0000005",
    }
    for iteration in ("iter_0000003", "iter_0000005"):
        names = {p.name for p in (directory / iteration).iterdir()}
        shards = {name for name in names if name.endswith(".distcp")}
        assert shards and names - shards == DIST_FILES | {"run_config.yaml", "train_state.pt", "tokenizer"}
        assert {p.name for p in (directory / iteration / "tokenizer").iterdir()} == {
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json",
            "tabular_tokenizer.json",
        }


def test_contents_are_what_bridge_reads(saved, tokenizer):
    from megatron.core import dist_checkpointing
    from transformers import AutoTokenizer

    directory, _ = saved
    assert (directory / "latest_checkpointed_iteration.txt").read_text() == "5"  # Megatron-LM writes str(iteration)
    assert bridge_checkpoint_exists(directory)
    iteration = bridge_checkpoint_name(directory, bridge_read_metadata(directory / "latest_checkpointed_iteration.txt"))
    assert iteration == directory / "iter_0000005" and bridge_checkpoint_exists(iteration)
    assert dist_checkpointing.check_is_distributed_checkpoint(str(iteration))  # Bridge's format check: torch_dist

    state = torch.load(iteration / "train_state.pt", weights_only=True)  # read_train_state loads weights-only
    assert set(state) == TRAIN_STATE_KEYS
    assert (state["step"].item(), state["consumed_train_samples"].item(), state["do_train"].item()) == (5, 40, True)
    assert (directory / "latest_train_state.pt").read_bytes() == (iteration / "train_state.pt").read_bytes()
    older = torch.load(directory / "iter_0000003" / "train_state.pt", weights_only=True)
    assert older["step"].item() == 3

    run_config = yaml.safe_load((iteration / "run_config.yaml").read_text())
    assert bridge_run_config_reads(run_config) == (1, 1, False, False, False)
    expected = OmegaConf.to_container(OmegaConf.load(directory / "config.yaml"))
    for key in ("tensor_model_parallel_size", "pipeline_model_parallel_size"):
        del run_config["model"][key]
    del run_config["checkpoint"]
    assert run_config == expected  # otherwise the step's own resolved config
    assert (iteration / "run_config.yaml").read_text().startswith("# This step's resolved nemo-tabular config")

    hf = AutoTokenizer.from_pretrained(iteration / "tokenizer")  # Bridge: HuggingFaceTokenizer(<iter>/tokenizer)
    assert len(hf) == tokenizer.vocab_size and hf.eos_token_id == tokenizer.eod_id
    assert hf.model_max_length == TINY_GPT["seq_length"]
    assert TabularTokenizer.load(iteration / "tokenizer" / "tabular_tokenizer.json").to_json() == tokenizer.to_json()


# --- the readers ------------------------------------------------------------------------------------


def test_inference_sampling_and_export_read_the_tracked_checkpoint(saved, tokenizer, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from nemo_tabular.export import save_hf
    from nemo_tabular.sampling import SampleOptions, TableLayout, iter_samples
    from nemo_tabular.sampling.loading import load_megatron_model, open_model
    from nemo_tabular.sampling.megatron_weights import standalone_from_megatron
    from nemo_tabular.training.checkpoint import latest_checkpoint, load_gpt_for_inference

    directory, model = saved
    assert latest_checkpoint(directory) == directory / "iter_0000005"
    loaded = load_gpt_for_inference(directory).state_dict()["embedding.word_embeddings.weight"]
    torch.testing.assert_close(loaded, model.state_dict()["embedding.word_embeddings.weight"], rtol=0, atol=0)
    bundle = open_model(directory, TableLayout())
    rows = pd.concat(iter_samples(bundle, SampleOptions(n_rows=8, batch_size=8)), ignore_index=True)
    assert len(rows) == 8 and tokenizer.valid_mask(rows).all()
    config, weights = standalone_from_megatron(load_megatron_model(directory))
    save_hf(tmp_path / "hf", config, weights, tokenizer)
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "hf").config.vocab_size == config.vocab_size
    assert len(AutoTokenizer.from_pretrained(tmp_path / "hf")) == tokenizer.vocab_size


def test_a_checkpoint_from_before_the_tracker_still_reads_and_the_next_save_converts_it(checkpoint, tokenizer):
    from nemo_tabular.training.checkpoint import latest_checkpoint, load_gpt_for_inference

    (checkpoint / "latest_checkpointed_iteration.txt").unlink()
    (checkpoint / "latest_train_state.pt").unlink()
    (checkpoint / "latest").write_text("iter_0000003")  # what this project wrote before
    assert latest_checkpoint(checkpoint) == checkpoint / "iter_0000003"
    load_gpt_for_inference(checkpoint)
    save(checkpoint, 7, build_model(tokenizer), tokenizer)
    assert (checkpoint / "latest_checkpointed_iteration.txt").read_text() == "7"
    assert not (checkpoint / "latest").exists() and latest_checkpoint(checkpoint) == checkpoint / "iter_0000007"


@pytest.mark.parametrize("text", ["release", "iter_0000005", ""])
def test_a_tracker_without_an_iteration_number_is_named(checkpoint, text):
    from nemo_tabular.training.checkpoint import latest_checkpoint
    from nemo_tabular.training.checkpoint_layout import CheckpointLayoutError

    tracker = checkpoint / "latest_checkpointed_iteration.txt"
    tracker.write_text(text)
    with pytest.raises(CheckpointLayoutError, match=f"^{tracker}: expected the newest checkpoint's iteration number"):
        latest_checkpoint(checkpoint)


def test_an_old_marker_pointing_outside_is_refused(checkpoint):
    from nemo_tabular.training.checkpoint import latest_checkpoint
    from nemo_tabular.training.checkpoint_layout import CheckpointLayoutError

    (checkpoint / "latest_checkpointed_iteration.txt").unlink()
    (checkpoint / "latest").write_text("../elsewhere")
    with pytest.raises(CheckpointLayoutError, match="expected the name of an iter_\\* directory"):
        latest_checkpoint(checkpoint)


def test_no_checkpoint_is_none_and_inference_says_train_first(tmp_path):
    from nemo_tabular.training.checkpoint import latest_checkpoint, load_gpt_for_inference

    assert latest_checkpoint(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="no latest_checkpointed_iteration.txt\\); train first"):
        load_gpt_for_inference(tmp_path)
