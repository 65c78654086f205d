"""Shared fixtures: the repository's own config files, so tests use the defaults users get."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]


def load_tokenizer_settings(**overrides) -> dict:
    """conf/tokenizer/default.yaml as a dict, with keyword overrides."""
    settings = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "tokenizer" / "default.yaml"))
    settings.update(overrides)
    return settings


@pytest.fixture
def tokenizer_settings() -> dict:
    return load_tokenizer_settings()
