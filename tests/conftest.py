"""Shared fixtures: the repository's own config files, so tests use the defaults users get."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from nemo_tabular.config import register_resolvers

REPO = Path(__file__).resolve().parents[1]
register_resolvers()  # conf/'s ${table_name:...}, ${run_path:...}, ... for tests that compose configs themselves


def load_tokenizer_settings(**overrides) -> dict:
    """conf/tokenizer/default.yaml as a dict, with keyword overrides."""
    settings = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"))
    settings.update(overrides)
    return settings


@pytest.fixture
def tokenizer_settings() -> dict:
    return load_tokenizer_settings()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and the test machine's cores are shared.

    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
