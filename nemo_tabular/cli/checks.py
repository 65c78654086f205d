"""Typed checks of every stage's settings, on the composed config, before any heavy import or any work.

Each rule names the key and what it accepts (`temperature='hot': expected a number >= 0`), so a typo costs
a second instead of a checkpoint load. Hydra already refuses keys that do not exist.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nemo_tabular.config import NO_RUN, user_error
from nemo_tabular.errors import ConfigError

MISSING = object()


@dataclass(frozen=True)
class Rule:
    """What one key accepts: a kind (int, number, bool, text, choice), bounds, and words/null allowed besides."""

    kind: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    words: tuple = ()  # strings accepted besides the kind, e.g. ("auto",)
    nullable: bool = False

    def problem(self, value) -> str | None:
        """None when value is acceptable, else what the key expects."""
        if value is None and self.nullable or value in self.words:
            return None
        if self.kind == "choice":
            return None if value in self.choices else self.expected()
        if self.kind == "bool":
            return None if isinstance(value, bool) else self.expected()
        if self.kind == "text":
            return None if isinstance(value, str) and value else self.expected()
        if self.kind == "names":  # column names: one, or a list of them
            names = [value] if isinstance(value, str) else value
            ok = isinstance(names, list) and all(isinstance(name, str) and name for name in names)
            return None if ok else self.expected()
        if self.kind == "numbers":
            ok = (
                isinstance(value, list)
                and value
                and all(Rule("number", self.minimum, self.maximum).problem(item) is None for item in value)
            )
            return None if ok else self.expected()
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None or not math.isfinite(number):
            return self.expected()
        if self.kind == "int" and number != int(number):
            return self.expected()
        if self.minimum is not None and number < self.minimum or self.maximum is not None and number > self.maximum:
            return self.expected()
        return None

    def expected(self) -> str:
        if self.kind == "choice":
            text = "one of " + ", ".join(map(str, self.choices))
        else:
            text = {
                "int": "a whole number",
                "number": "a number",
                "bool": "true or false",
                "text": "a non-empty string",
                "names": "a column name or a list of them",
                "numbers": "a list of numbers",
            }[self.kind]
            if self.minimum is not None and self.maximum is not None:
                text += f" in [{self.minimum:g}, {self.maximum:g}]"
            elif self.minimum is not None:
                text += f" >= {self.minimum:g}"
            elif self.maximum is not None:
                text += f" <= {self.maximum:g}"
        extras = [*map(repr, self.words), *(["null"] if self.nullable else [])]
        return text + "".join(f" or {extra}" for extra in extras)


def whole(minimum: float | None = None, *words: str, null: bool = False) -> Rule:
    return Rule("int", minimum=minimum, words=words, nullable=null)


def number(minimum: float | None = None, maximum: float | None = None, *words: str, null: bool = False) -> Rule:
    return Rule("number", minimum=minimum, maximum=maximum, words=words, nullable=null)


def one_of(*choices) -> Rule:
    return Rule("choice", choices=choices)


FLAG = Rule("bool")
TEXT = Rule("text")
PATH_OR_NULL = Rule("text", nullable=True)
NAMES = Rule("names", nullable=True)
ANY_TEXT = Rule("text", words=("",))  # may be empty (search's filter: "" = all rows)
PATHS = {f"paths.{key}": TEXT for key in ("root", "run_dir", "data_dir", "checkpoint_dir")}
RUN = {"run": PATH_OR_NULL, "dataset.name": PATH_OR_NULL}  # a later stage reads only the dataset's name
MILVUS = {
    "milvus.uri": TEXT,
    "milvus.token": PATH_OR_NULL,
    "milvus.index_type": TEXT,
    "milvus.metric": one_of("COSINE", "IP", "L2"),
}
# keys whose value is checked where it is read, by the code that understands it
FREE_FORM = {
    "sample": {"conditions"},  # a {column: value} mapping or a table file: sampling/conditions.py
    "launch": {"overrides", "recipe_overrides", "cluster.env"},
}  # launch/validation.py and the stage
THREADS = whole(1, null=True)
SEED = whole(0)

TOKENIZER = {
    "base": whole(2, "auto"),
    "max_code_len": whole(1),
    "decimals": whole(0, null=True),
    "max_decimals": whole(0),
    "transform": one_of("none", "log1p", "yeo-johnson", "quantile"),
    "fill_all": FLAG,
    "min_count": whole(1),
    "max_categories": whole(1),
    "datetime_unit": one_of("s", "m", "h", "D"),
    "out_of_range": one_of("error", "clip"),
    "nullable": FLAG,
    "order_headroom": number(0),
}
MODEL_SHAPE = {
    "num_layers": whole(1, "auto"),
    "hidden_size": whole(1, "auto"),
    "num_attention_heads": whole(1, "auto"),
    "ffn_hidden_size": whole(1, "auto"),
    "num_query_groups": whole(1, null=True),
    "seq_length": whole(2),
    "dropout": number(0, 0.999, "auto"),
    "init_method_std": number(0),
    "vocab_multiple": whole(1),
}

RULES: dict[str, dict[str, Rule]] = {
    "prepare": {
        **PATHS,
        "source": PATH_OR_NULL,
        "dataset.name": PATH_OR_NULL,
        "dataset.source": PATH_OR_NULL,
        "dataset.group_by": NAMES,
        "dataset.order_by": NAMES,
        "dataset.drop": NAMES,
        "dataset.first_columns": NAMES,
        "dataset.target": PATH_OR_NULL,
        "split.valid": number(0, 0.9),
        "split.test": number(0, 0.9),
        "seed": SEED,
        "chunk_rows": whole(1),
        "workers": whole(1),
        "limit_rows": whole(1, null=True),
        "tokenizer_path": PATH_OR_NULL,
        **{f"tokenizer.{key}": rule for key, rule in TOKENIZER.items()},
    },
    "train": {
        **PATHS,
        **RUN,
        "model.name": TEXT,
        "parallel.tensor": whole(1),
        "parallel.pipeline": whole(1),
        "train.micro_batch": whole(1),
        "train.global_batch": whole(1),
        "train.steps": whole(0, "auto"),
        "train.epochs": number(0),
        "train.max_minutes": number(0.01, null=True),
        "train.min_steps": whole(0),
        "train.stop_at": whole(1, null=True),
        "train.lr": number(0, None, "auto"),
        "train.min_lr": number(0, None, "auto"),
        "train.warmup": whole(0),
        "train.weight_decay": number(0),
        "train.clip_grad": number(0),
        "train.seed": SEED,
        "train.eval_every": whole(0, "auto"),
        "train.patience": whole(1, null=True),
        "train.eval_iters": whole(1),
        "train.save_every": whole(0),
        "train.reset_attention": FLAG,
        "precision": one_of("auto", "bf16", "fp32"),
        "resume": FLAG,
        "init_from": PATH_OR_NULL,
        "trust_checkpoint": FLAG,
        "threads": THREADS,
        **{f"model.{key}": rule for key, rule in MODEL_SHAPE.items()},
    },
    "sample": {
        **PATHS,
        "paths.run_dir": PATH_OR_NULL,
        **RUN,
        "forecast.quantiles": Rule("numbers", minimum=0, maximum=1),
        "mode": one_of("sample", "forecast"),
        "model_path": TEXT,
        "trust_checkpoint": FLAG,
        "device": TEXT,
        "precision": one_of("auto", "fp32", "bf16"),
        "threads": THREADS,
        "workers": whole(1, "auto"),
        "seed": SEED,
        "batch_size": whole(1),
        "kv_cache": FLAG,
        "temperature": number(0),
        "top_k": whole(0),
        "top_p": number(1e-9, 1),
        "out": TEXT,
        "n_rows": whole(1, null=True),
        "max_rows_per_entity": whole(1, null=True),
        "n_entities": whole(1, null=True),
        "chunk_rows": whole(1),
        "reject_copies_of": PATH_OR_NULL,
        "forecast.history": PATH_OR_NULL,
        "forecast.horizon": whole(1),
        "forecast.n_paths": whole(1),
        "forecast.force_order": FLAG,
        "forecast.out": TEXT,
        "forecast.paths_out": PATH_OR_NULL,
    },
    "evaluate": {
        **PATHS,
        "paths.run_dir": PATH_OR_NULL,
        **RUN,
        "group_by": NAMES,
        "order_by": NAMES,
        "real": TEXT,
        "holdout": TEXT,
        "synth": TEXT,
        "out": TEXT,
        "target": PATH_OR_NULL,
        "tokenizer": PATH_OR_NULL,
        "seed": SEED,
        "fidelity_max_rows": whole(1, null=True),
        "utility_max_rows": whole(1, null=True),
        "privacy_max_synthetic_rows": whole(1, null=True),
        "privacy_max_reference_rows": whole(1, null=True),
        "detection_max_rows": whole(2, null=True),
        "detection_folds": whole(2),
        "detection_max_iter": whole(1),
        "threads": THREADS,
        "progress": FLAG,
        **{f"provenance.{key}": PATH_OR_NULL for key in ("train_summary", "model_config", "embedding_audit")},
        **{f"forecast.{key}": PATH_OR_NULL for key in ("history", "future", "paths")},
    },
    "embed": {
        **PATHS,
        **RUN,
        **MILVUS,
        **{f"tables.{split}": PATH_OR_NULL for split in ("train", "holdout", "synthetic")},
        "model_path": TEXT,
        "trust_checkpoint": FLAG,
        "collection": TEXT,
        "table": PATH_OR_NULL,
        "split": one_of("train", "holdout", "synthetic"),
        "max_rows": whole(1, null=True),
        "seed": SEED,
        "batch_size": whole(1),
        "threads": whole(1),
        "audit.n_synthetic": whole(0),
        "audit.quantile": number(0, 1),
        "audit.out": TEXT,
    },
    "export": {
        **PATHS,
        **RUN,
        "checkpoint": TEXT,
        "trust_checkpoint": FLAG,
        "bundle_dir": PATH_OR_NULL,
        "hf_dir": PATH_OR_NULL,
    },
    "search": {
        **PATHS,
        **RUN,
        **MILVUS,
        "filter": ANY_TEXT,
        "model_path": TEXT,
        "trust_checkpoint": FLAG,
        "collection": TEXT,
        "query": TEXT,
        "k": whole(1),
        "threads": whole(1),
        "out": PATH_OR_NULL,
        "show_vectors": FLAG,
    },
    "launch": {
        "job": TEXT,
        "dry_run": FLAG,
        "cluster.scheduler": one_of("local", "slurm"),
        "cluster.nodes": whole(1),
        "cluster.gpus_per_node": whole(1),
    },
}


COLUMN_KEYS = {**TOKENIZER, "kind": one_of("float", "int", "category", "datetime", "bool")}


def column_overrides(cfg: DictConfig) -> list[str]:
    """dataset.columns.<name>.<key>: any tokenizer key (or kind) per column, each checked like the tokenizer's own."""
    columns = lookup(cfg, "dataset.columns")
    if columns in (None, MISSING):
        return []
    if not isinstance(columns, dict):
        return [f"dataset.columns={columns!r}: expected a mapping {{column: {{key: value}}}}"]
    problems = []
    for column, settings in columns.items():
        if not isinstance(settings, dict):
            problems.append(f"dataset.columns.{column}={settings!r}: expected a mapping of tokenizer keys")
            continue
        for key, value in settings.items():
            rule = COLUMN_KEYS.get(key)
            if rule is None:
                problems.append(
                    f"dataset.columns.{column}.{key}: no such tokenizer key; expected one of {', '.join(COLUMN_KEYS)}"
                )
            elif (expected := rule.problem(value)) is not None:
                problems.append(f"dataset.columns.{column}.{key}={value!r}: expected {expected}")
    return problems


def prepare_sources(cfg: DictConfig) -> list[str]:
    """Your own table comes through source=; a demo dataset brings its own file, so both at once is ambiguous."""
    own = cfg.get("source")
    if cfg.dataset.source is None:
        return ["no table to prepare: set source=<your CSV or Parquet file> (or dataset=<a demo table>)"]
    if own is not None and cfg.dataset.source != own:
        return [
            f"source={own} names your own table, but the dataset config brings its own "
            f"(dataset.source={cfg.dataset.source}); drop dataset=... for your table, or set dataset.source"
        ]
    return []


def sample_modes(cfg: DictConfig) -> list[str]:
    """Forecasting needs histories and runs in one process."""
    if cfg.mode != "forecast":
        return []
    problems = []
    if cfg.forecast.history is None:
        problems.append("mode=forecast needs forecast.history=<CSV or Parquet of past rows>")
    if cfg.workers not in (1, "auto"):
        problems.append(f"workers={cfg.workers}: forecasting runs in one process; set workers=1 or auto")
    return problems


def export_outputs(cfg: DictConfig) -> list[str]:
    if cfg.bundle_dir is None and cfg.hf_dir is None:
        return ["bundle_dir=null and hf_dir=null: nothing to export; set one of them"]
    return []


CROSS_CHECKS: dict[str, tuple[Callable[[DictConfig], list[str]], ...]] = {
    "prepare": (column_overrides, prepare_sources),
    "sample": (sample_modes,),
    "export": (export_outputs,),
}


# Stages that judge files outside a run (evaluate real=... holdout=... synth=...): there a key that derives from a
# run nobody named is checked where it is read, so paths.data_dir cannot refuse explicit files.
# sample: an exported bundle samples and forecasts without a run (model_path=<bundle>), so only model_path must
# resolve at check time; reject_copies_of and the n_rows default say "which run?" where they are read.
RUN_OPTIONAL = {"evaluate", "sample"}
NEEDS_RUN = {"sample": {"model_path"}}


def lookup(cfg: DictConfig, key: str, run_optional: bool = False):
    """cfg's value at a dotted key (resolving interpolations), or MISSING where the composed config lacks it
    (or, with `run_optional`, where it derives from a run nobody named); an interpolation that fails is the
    user error behind it."""
    try:
        value = OmegaConf.select(cfg, key, default=MISSING, throw_on_missing=False)
        return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
    except OmegaConfBaseException as err:
        error = user_error(err)
        if run_optional and str(error) == NO_RUN:
            return MISSING
        raise error from None


def check_config(stage: str, cfg: DictConfig, rules: Mapping[str, Mapping[str, Rule]] = RULES) -> None:
    """Raise one ConfigError listing every key of `stage` with a value it cannot use."""
    problems = []
    for key, rule in rules.get(stage, {}).items():
        value = lookup(cfg, key, run_optional=stage in RUN_OPTIONAL and key not in NEEDS_RUN.get(stage, ()))
        if value is MISSING:
            continue
        if (expected := rule.problem(value)) is not None:
            problems.append(f"{key}={value!r}: expected {expected}")
    if not problems:
        problems = [problem for check in CROSS_CHECKS.get(stage, ()) for problem in check(cfg)]
    if problems:
        raise ConfigError("; ".join(problems))
