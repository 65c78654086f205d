"""History continuation = forecasting: prompt with an entity's past rows, generate its next rows on many paths.

The order_by values of the future rows are extrapolated from the history's step (a date frequency
or the median difference) and forced, as are tokenized group_by columns, so every path covers the
same future dates. Histories longer than the context keep their most recent whole rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from nemo_tabular.tokenizer import RARE_LABEL, TabularTokenizer, TokenizerError
from nemo_tabular.tokenizer.errors import plain

from .bundle import Bundle
from .conditions import forced_tokens
from .constraints import SlotConstraints
from .engine import generate_rows, window_start
from .token_choice import SamplingSettings

PATH_COLUMN = "path"
STEP_COLUMN = "step"


@dataclass
class ForecastOptions:
    """horizon rows per path, n_paths paths per entity, the quantiles the summary reports."""

    horizon: int = 12
    n_paths: int = 100
    quantiles: list[float] = field(default_factory=lambda: [0.05, 0.25, 0.5, 0.75, 0.95])
    batch_size: int = 256
    seed: int = 0
    settings: SamplingSettings = field(default_factory=SamplingSettings)
    use_cache: bool = True
    force_order: bool = True


def next_values(past: pd.Series, kind: str, horizon: int) -> pd.Series:
    """The next `horizon` values of one order_by column: its date frequency, else its median step."""
    if len(past) < 2:
        raise TokenizerError(f"column {past.name!r}: forecasting needs at least two history rows to find the step")
    if kind == "datetime":
        dates = pd.to_datetime(past).reset_index(drop=True)
        recent = dates.iloc[-24:]
        freq = pd.infer_freq(recent) if len(recent) >= 3 else None
        if freq is not None:
            return pd.Series(pd.date_range(dates.iloc[-1], periods=horizon + 1, freq=freq)[1:], name=past.name)
        step = dates.diff().median()
        return pd.Series([dates.iloc[-1] + step * i for i in range(1, horizon + 1)], name=past.name)
    values = pd.to_numeric(past).reset_index(drop=True)
    step = values.diff().median()
    return pd.Series(values.iloc[-1] + step * np.arange(1, horizon + 1), name=past.name)


def future_order_values(
    history: pd.DataFrame, order_by: list[str], kinds: dict[str, str], horizon: int
) -> pd.DataFrame:
    """The order_by values of the next `horizon` rows.

    One column: extrapolated by next_values. Several (e.g. year, month): the last counts up by its
    usual step and wraps from its largest seen value to its smallest, carrying one into the one before.
    """
    if len(order_by) == 1:
        return next_values(history[order_by[0]], kinds[order_by[0]], horizon).to_frame()
    inner, outer = order_by[-1], order_by[-2]
    values = pd.to_numeric(history[inner])
    steps = values.diff()
    step = steps[steps > 0].median() if (steps > 0).any() else 1
    low, high = values.min(), values.max()
    row = history[order_by].iloc[-1].to_dict()
    rows = []
    for _ in range(horizon):
        row = dict(row)
        row[inner] = row[inner] + step
        if row[inner] > high:
            row[inner] = low
            row[outer] = row[outer] + 1
        rows.append(row)
    return pd.DataFrame(rows, columns=order_by)


def entity_label(tok: TabularTokenizer, name: str, value):
    """The group_by value as its token stands for it: an entity the tokenizer never saw (a held-out city) is
    the rare category where the column has one, as encoding the history's rows makes it."""
    spec = tok.column(name)
    if spec.kind == "category" and spec.rare and not pd.isna(value) and value not in set(spec.categories):
        return RARE_LABEL
    return value


def entity_forced_tokens(bundle: Bundle, history: pd.DataFrame, horizon: int, force_order: bool) -> np.ndarray:
    """(horizon, row_width - 1) ids: the entity's tokenized group_by values and, if asked, the future order_by values.

    The future order_by values reach past the training split's range where the tokenizer's time axis has
    headroom (tokenizer.order_headroom); past that they cannot be forced and the error says so.
    """
    tok, layout = bundle.tokenizer, bundle.layout
    fixed = pd.DataFrame(index=range(horizon))
    for name in layout.group_by:
        if name in tok.column_names:
            fixed[name] = [entity_label(tok, name, history[name].iloc[-1])] * horizon
    order_by = [name for name in layout.order_by if name in tok.column_names]
    if force_order and order_by:
        kinds = {name: tok.column(name).kind for name in order_by}
        future = future_order_values(history, order_by, kinds, horizon)
        for name in order_by:
            fixed[name] = future[name].to_numpy()
    try:
        return forced_tokens(tok, fixed)
    except TokenizerError as err:
        raise TokenizerError(
            f"{err} (a future order_by value outside the fitted range cannot be forced; "
            f"set force_order=false to let the model generate it, or prepare again with a "
            f"larger tokenizer.order_headroom)"
        ) from None


def prompt_tokens(bundle: Bundle, history: pd.DataFrame) -> np.ndarray:
    """End-of-document, then the history's rows (ending in end-of-row), cut to the context's window."""
    tok = bundle.tokenizer
    rows = tok.encode(history).reshape(-1)
    prompt = np.concatenate([[tok.eod_id], rows]).astype(np.int64)
    start = window_start(len(prompt), 1, tok.row_width, bundle.model.config.n_positions)
    return prompt[start:]


def forecast_entity(
    bundle: Bundle, history: pd.DataFrame, options: ForecastOptions, generator: torch.Generator
) -> pd.DataFrame:
    """n_paths x horizon decoded future rows of one entity, with path and step (1..horizon) columns."""
    tok, model = bundle.tokenizer, bundle.model
    device = model.wte.weight.device
    constraints = SlotConstraints(tok, model.config.vocab_size, device)
    prompt = torch.as_tensor(prompt_tokens(bundle, history), device=device)
    forced = torch.as_tensor(entity_forced_tokens(bundle, history, options.horizon, options.force_order), device=device)
    frames, cache = [], None
    for first in range(0, options.n_paths, options.batch_size):
        batch = min(options.batch_size, options.n_paths - first)
        result = generate_rows(
            model,
            constraints,
            prompt.expand(batch, -1),
            options.horizon,
            inner_terminators=(tok.eor_id,),
            last_terminators=(tok.eor_id,),
            eod_id=tok.eod_id,
            pad_id=tok.pad_id,
            settings=options.settings,
            generator=generator,
            forced=forced.expand(batch, -1, -1),
            use_cache=options.use_cache,
            cache=cache,
        )
        cache = result.cache
        frame = tok.decode(result.tokens[:, :, :-1].reshape(-1, tok.row_width - 1).cpu().numpy())
        frame.insert(0, STEP_COLUMN, np.tile(np.arange(1, options.horizon + 1), batch))
        frame.insert(0, PATH_COLUMN, np.repeat(np.arange(first, first + batch), options.horizon))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def forecast_paths(bundle: Bundle, history: pd.DataFrame, options: ForecastOptions) -> pd.DataFrame:
    """Sample paths for every entity of `history` (grouped by group_by, sorted by order_by)."""
    layout = bundle.layout
    if not layout.sequential:
        raise TokenizerError("forecasting needs a sequential table (a model trained with dataset.group_by)")
    keys = [name for name in layout.group_by if name in history.columns]
    generator = torch.Generator(bundle.model.wte.weight.device).manual_seed(options.seed)
    groups = history.groupby(keys, sort=False) if keys else [((), history)]
    frames = []
    for key, group in groups:
        if layout.order_by:
            group = group.sort_values(layout.order_by, kind="stable")
        try:
            paths = forecast_entity(bundle, group, options, generator)
        except TokenizerError as err:
            entity = {name: plain(value) for name, value in zip(keys, np.atleast_1d(key))}
            raise TokenizerError(f"entity {entity}: {err}") from None
        for name, value in reversed(list(zip(keys, np.atleast_1d(key)))):
            if name in paths.columns:
                paths = paths.drop(columns=name)
            paths.insert(0, name, value)
        frames.append(paths)
    return pd.concat(frames, ignore_index=True)


def summarize_paths(bundle: Bundle, paths: pd.DataFrame, options: ForecastOptions) -> pd.DataFrame:
    """Point forecasts (mean, median) and quantiles per entity, step and numeric column, in long form.

    With forced order_by values every path shares them, so they label the step; otherwise they are
    summarized like any other column.
    """
    layout, tok = bundle.layout, bundle.tokenizer
    keys = [name for name in layout.group_by if name in paths.columns] + [STEP_COLUMN]
    if options.force_order:
        keys += [name for name in layout.order_by if name in paths.columns]
    numeric = [
        spec.name
        for spec in tok.columns
        if spec.kind in ("float", "int") and spec.name not in keys and spec.name not in layout.group_by
    ]
    long = paths.melt(id_vars=keys, value_vars=numeric, var_name="column", value_name="value")
    grouped = long.groupby(keys + ["column"], sort=False)["value"]
    summary = grouped.agg(["mean", "median"])
    for q in options.quantiles:
        summary[f"q{q:g}"] = grouped.quantile(q)
    return summary.reset_index()
