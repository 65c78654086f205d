"""nemo-tabular: synthetic tabular data with GPT models trained on megatron-core.

from nemo_tabular import TabularGPT
synthesizer = TabularGPT(max_minutes=5).fit(df)
synthetic = synthesizer.sample(1000)
"""

__version__ = "0.1.0"
__all__ = ["TabularGPT"]


def __getattr__(name: str):
    """TabularGPT on first use, so `import nemo_tabular.<module>` stays light (the CLI checks configs first)."""
    if name == "TabularGPT":
        from nemo_tabular.api import TabularGPT

        return TabularGPT
    raise AttributeError(f"module 'nemo_tabular' has no attribute {name!r}")
