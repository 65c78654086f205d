"""The tabular tokenizer's ids as a Hugging Face tokenizer: a WordLevel vocabulary AutoTokenizer loads.

HF tools (AutoTokenizer, Megatron-Bridge's HuggingFaceTokenizer) read `tokenizer.json` in the
`tokenizers` library's format. This module writes that file from the project's tokenizer, one
readable name per id, so `convert_ids_to_tokens` shows what a row says:

- ids 0, 1, 2: `<pad>`, `<eod>` (BOS and EOS, as the model's config says) and `<eor>`;
- a numeric column's digit slots: `<column>:<digit>:<value>`, e.g. `price:0:3` is the first digit
  of price's code with value 3, and `price:0:<nan>` its missing-value id;
- a categorical column's slot: `<column>:<category>`, e.g. `cut:Ideal`, `cut:<nan>`, `cut:<rare>`.

Whitespace inside a name becomes "▁" (as SentencePiece writes it), so the space-joined text of
`decode(ids)` encodes back to the same ids; a name that two ids would share gets `#<id>` appended.
Turning ids into values still needs the project's tokenizer (the digits form codes, the codes
values): the HF tokenizer is a vocabulary, not a decoder of rows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nemo_tabular.io import write_text

from .codecs import RARE_LABEL, CategoryCodec, NumericCodec
from .tokenizer import TabularTokenizer

PAD_TOKEN, EOD_TOKEN, EOR_TOKEN = "<pad>", "<eod>", "<eor>"
NAN_TOKEN = "<nan>"
HF_TOKENIZER_FILE = "tokenizer.json"
HF_TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
HF_SPECIAL_TOKENS_FILE = "special_tokens_map.json"


def readable(text: str) -> str:
    """`text` with every whitespace character as "▁", so a whitespace pre-tokenizer keeps it whole."""
    return "".join("▁" if char.isspace() else char for char in text)


def slot_value_names(codec: NumericCodec | CategoryCodec) -> list[list[str]]:
    """For each slot of one column, the value each local id stands for, as text."""
    spec = codec.spec
    if isinstance(codec, CategoryCodec):
        values = [str(value) for value in spec.categories]
        values += [NAN_TOKEN] * int(spec.nullable) + [RARE_LABEL] * int(spec.rare)
        return [values]
    slots = [[str(int(value)) for value in digits] for digits in codec.digit_values]
    if spec.nullable:
        slots[0].append(NAN_TOKEN)
    return slots


def token_names(tokenizer: TabularTokenizer) -> list[str]:
    """One unique, readable name per id 0..vocab_size-1 (see the module docstring for the scheme)."""
    names = [PAD_TOKEN, EOD_TOKEN, EOR_TOKEN]
    for codec in tokenizer.codecs:
        slots = slot_value_names(codec)
        numeric = isinstance(codec, NumericCodec)
        for digit, values in enumerate(slots):
            prefix = f"{codec.spec.name}:{digit}:" if numeric else f"{codec.spec.name}:"
            names += [readable(prefix + value) for value in values]
    if len(names) != tokenizer.vocab_size:  # the slot sizes and these names come from the same codecs
        raise AssertionError(f"{len(names)} token names for a vocabulary of {tokenizer.vocab_size}")
    return unique_names(names)


def unique_names(names: list[str]) -> list[str]:
    """`names` with `#<id>` appended to each repeat of an earlier name (categories "1" and 1, say)."""
    seen: set[str] = set()
    out = []
    for index, name in enumerate(names):
        while name in seen:
            name = f"{name}#{index}"
        seen.add(name)
        out.append(name)
    return out


def hf_tokenizer(tokenizer: TabularTokenizer):
    """A `tokenizers.Tokenizer`: WordLevel over token_names, split on whitespace, special tokens marked.

    It has no unknown token: text naming no id fails to encode instead of becoming a wrong id.
    """
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    names = token_names(tokenizer)
    hf = Tokenizer(models.WordLevel({name: index for index, name in enumerate(names)}))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    hf.add_special_tokens(
        [AddedToken(name, special=True, normalized=False) for name in (PAD_TOKEN, EOD_TOKEN, EOR_TOKEN)]
    )
    return hf


def tokenizer_config(model_max_length: int | None) -> dict:
    """tokenizer_config.json: the fast tokenizer class both transformers 4.x and 5.x resolve, and the specials.

    BOS and EOS are both `<eod>` and pad is `<pad>`, the ids GPT2Config gets from the export.
    """
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": EOD_TOKEN,
        "eos_token": EOD_TOKEN,
        "pad_token": PAD_TOKEN,
        "additional_special_tokens": [EOR_TOKEN],
        "clean_up_tokenization_spaces": False,
    }
    if model_max_length is not None:
        config["model_max_length"] = int(model_max_length)
    return config


def save_hf_tokenizer(
    tokenizer: TabularTokenizer, directory: str | os.PathLike, model_max_length: int | None = None
) -> list[Path]:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into `directory`.

    Written with the `tokenizers` library alone (no transformers import), each file atomically;
    returns the paths written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = tokenizer_config(model_max_length)
    special = {key: config[key] for key in ("bos_token", "eos_token", "pad_token", "additional_special_tokens")}
    files = {
        HF_TOKENIZER_FILE: hf_tokenizer(tokenizer).to_str(pretty=True),
        HF_TOKENIZER_CONFIG_FILE: json.dumps(config, indent=1),
        HF_SPECIAL_TOKENS_FILE: json.dumps(special, indent=1),
    }
    for name, text in files.items():
        write_text(directory / name, text)
    return [directory / name for name in files]
