"""README.md for a Hugging Face export: what the model generates, its columns, how to sample and decode, and provenance.

The card is what a person opening the export directory (or its Hub page) reads first, so it says the
two things HF tools cannot work out alone: generate() needs SlotLogitsProcessor for every row to
decode, and ids become values only through the project's tokenizer (tabular_tokenizer.json).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from omegaconf import OmegaConf

from nemo_tabular.sampling.bundle import TableLayout
from nemo_tabular.sampling.model import GPTConfig
from nemo_tabular.tokenizer import TabularTokenizer
from nemo_tabular.tokenizer.codecs import NumericCodec

from .hf_generation import TABULAR_TOKENIZER_FILE

MAX_LISTED_CATEGORIES = 8


def column_rows(tokenizer: TabularTokenizer) -> list[str]:
    """One Markdown table row per column: name, kind, tokens per row, and what values it can take."""
    rows = []
    for codec in tokenizer.codecs:
        spec = codec.spec
        if isinstance(codec, NumericCodec):
            values = f"{codec.format_grid(spec.low)} to {codec.format_grid(spec.high)}"
            if spec.kind == "float":
                values += f", {spec.decimals} decimals"
        else:
            shown = ", ".join(f"`{value}`" for value in spec.categories[:MAX_LISTED_CATEGORIES])
            more = len(spec.categories) - MAX_LISTED_CATEGORIES
            values = f"{len(spec.categories)} categories: {shown}" + (f" and {more} more" if more > 0 else "")
        extras = [name for name, on in (("missing", spec.nullable), ("rare", getattr(spec, "rare", False))) if on]
        if extras:
            values += f" (+ {' and '.join(extras)})"
        rows.append(f"| `{spec.name}` | {spec.kind} | {codec.width} | {values.replace('|', '&#124;')} |")
    return rows


def checkpoint_provenance(checkpoint_dir: str | os.PathLike) -> dict[str, object]:
    """What the training checkpoint says about how the model was made (config.yaml, train_summary.json).

    Missing files give fewer entries, never an error: provenance is informative, not required.
    """
    checkpoint_dir = Path(checkpoint_dir)
    found: dict[str, object] = {"checkpoint": str(checkpoint_dir)}
    config_file = checkpoint_dir / "config.yaml"
    if config_file.is_file():
        cfg = OmegaConf.to_container(OmegaConf.load(config_file))
        dataset, model, train = cfg.get("dataset", {}), cfg.get("model", {}), cfg.get("train", {})
        found.update(
            {
                "dataset": dataset.get("name"),
                "source": dataset.get("source"),
                "layers x hidden": f"{model.get('num_layers')} x {model.get('hidden_size')}",
                "context (tokens)": model.get("seq_length"),
                "planned steps": train.get("steps"),
                "global batch (sequences)": train.get("global_batch"),
                "seed": train.get("seed"),
            }
        )
    summary_file = checkpoint_dir.parent / "train_summary.json"
    if summary_file.is_file():
        summary = json.loads(summary_file.read_text())
        seconds = summary.get("seconds")
        found.update(
            {
                "trained steps": summary.get("end_step"),
                "final validation loss": summary.get("final_valid_loss"),
                "training minutes": round(seconds / 60, 2) if isinstance(seconds, (int, float)) else None,
                "tokens/s": round(summary["tokens_per_s"]) if summary.get("tokens_per_s") else None,
                "processes (tensor x pipeline x data)": f"{summary.get('tensor')} x {summary.get('pipeline')} x {summary.get('data')}",
                "precision": summary.get("precision"),
            }
        )
    return {key: value for key, value in found.items() if value is not None}


def usage(layout: TableLayout) -> str:
    """The code block that samples 64 rows (or entities) and decodes them."""
    sequential = ", sequential=True" if layout.sequential else ""
    tokens = "model.config.n_positions - 1" if layout.sequential else "processor.row_width"
    return f"""```python
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList
from nemo_tabular.export.hf_generation import SlotLogitsProcessor, decode_generated

model = AutoModelForCausalLM.from_pretrained("EXPORT_DIR").eval()
processor = SlotLogitsProcessor.from_pretrained("EXPORT_DIR"{sequential})  # reads {TABULAR_TOKENIZER_FILE}
prompt = torch.full((64, 1), model.config.bos_token_id)  # every document starts after <eod>
ids = model.generate(prompt, attention_mask=torch.ones_like(prompt), do_sample=True, top_k=0,
                     max_new_tokens={tokens}, logits_processor=LogitsProcessorList([processor]),
                     pad_token_id=model.config.pad_token_id)
rows = decode_generated(ids, processor.tokenizer)  # a pandas DataFrame, one row per generated row
tokenizer = AutoTokenizer.from_pretrained("EXPORT_DIR")
print(tokenizer.convert_ids_to_tokens(ids[0]))  # readable token names
```"""


def model_card(
    tokenizer: TabularTokenizer,
    config: GPTConfig,
    layout: TableLayout | None = None,
    provenance: Mapping[str, object] | None = None,
) -> str:
    """The export's README.md as Markdown (with the Hub's YAML front matter)."""
    layout = layout or TableLayout()
    name = (provenance or {}).get("dataset") or "a table"
    if layout.sequential:
        documents = (
            f"one document per entity (`group_by` {layout.group_by}, ordered by {layout.order_by}): "
            f"rows end with `<eor>`, the entity's last row with `<eod>`"
        )
    else:
        documents = "one document per row: `<eod>`, the row's tokens, `<eod>`"
    facts = "\n".join(f"- {key}: {value}" for key, value in (provenance or {}).items()) or "- not recorded"
    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [tabular, synthetic-data, nemo-tabular]
---
# Synthetic rows of {name}: a GPT-2 layout model from nemo-tabular

A {config.n_layer}-layer GPT (hidden size {config.d_model}, {config.n_head} heads, context {config.n_positions}
tokens) trained with megatron-core by nemo-tabular to generate rows of {name}, exported as a
`GPT2LMHeadModel`. It writes token ids, not text: each row is {tokenizer.row_width - 1} tokens, one per
slot (a numeric column's code digits, a category's value) in column order, then a terminator. Documents
are {documents}. Ids 0, 1 and 2 are `<pad>`, `<eod>` (BOS and EOS) and `<eor>`.

## Columns

| column | kind | tokens | values |
| --- | --- | --- | --- |
{chr(10).join(column_rows(tokenizer))}

## Sample and decode

Each slot takes only its own ids. `SlotLogitsProcessor` keeps `generate()` to them, so every row
decodes; without it some rows hold an id of another slot and do not. Decoding (digits to codes to
values) needs the `nemo_tabular` package and `{TABULAR_TOKENIZER_FILE}`:

{usage(layout)}

`tokenizer.json` is a WordLevel vocabulary over the same ids (`AutoTokenizer` loads it): a numeric
column's digits are named `<column>:<digit>:<value>`, a category `<column>:<value>`, so token lists
read as what they say; the digits of a code are not the column's value.

## Files

- `config.json`, `model.safetensors`, `generation_config.json`: the GPT2LMHeadModel
- `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`: the HF tokenizer
- `{TABULAR_TOKENIZER_FILE}`: nemo-tabular's tokenizer (column specs, slot ranges), for decoding rows

## Training provenance

{facts}
"""
