"""Hydra entry for sampling: `python scripts/sample.py dataset=diamonds n_rows=100000 out=synth.parquet`.

mode=sample writes synthetic rows (optionally conditioned); mode=forecast continues the entities of
forecast.history and writes point forecasts and quantiles (see conf/sample.yaml).
"""

import sys
import time

import hydra
import torch
from omegaconf import DictConfig, OmegaConf

from nemo_tabular.sampling.loading import open_model
from nemo_tabular.run_dir import PreparedData
from nemo_tabular.sampling import SampleOptions, SamplingSettings, TableLayout, sample_to_file
from nemo_tabular.sampling.copies import TrainingRows
from nemo_tabular.sampling.parallel import planned_workers
from nemo_tabular.sampling.sampler import filters_copies
from nemo_tabular.sampling.forecast import ForecastOptions, forecast_paths, summarize_paths
from nemo_tabular.io import TableWriter, read_table


def write(frame, path) -> None:
    with TableWriter(path) as writer:
        writer.write(frame)


def run(cfg: DictConfig) -> str:
    """Do what cfg.mode asks and return a one-line summary."""
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    bundle = open_model(cfg.model_path, TableLayout.from_json(cfg.dataset), device=cfg.device, precision=cfg.precision)
    settings = SamplingSettings(float(cfg.temperature), int(cfg.top_k), float(cfg.top_p))
    prepared = PreparedData(cfg.paths.data_dir)
    started = time.perf_counter()
    if cfg.mode == "sample":
        conditions = cfg.conditions
        if isinstance(conditions, DictConfig):
            conditions = OmegaConf.to_container(conditions)
        n_rows = cfg.n_rows if cfg.n_rows is not None else prepared.split_count("train", "rows", "set n_rows")
        max_rows = cfg.max_rows_per_entity
        if max_rows is None and bundle.layout.sequential:
            max_rows = prepared.split_count("train", "longest_document_rows", "set max_rows_per_entity")
        reject = None
        if cfg.reject_copies_of is not None and filters_copies(conditions):
            reject = TrainingRows.from_table(bundle.tokenizer, cfg.reject_copies_of)
        options = SampleOptions(n_rows=int(n_rows), batch_size=int(cfg.batch_size), seed=int(cfg.seed),
                                settings=settings, conditions=conditions, max_rows_per_entity=max_rows,
                                n_entities=cfg.n_entities, use_cache=bool(cfg.kv_cache), reject_copies=reject)
        workers = planned_workers(cfg.workers, int(n_rows), cfg.device)
        rows = sample_to_file(bundle, cfg.out, options, chunk_rows=int(cfg.chunk_rows), workers=workers)
        seconds = time.perf_counter() - started
        dropped = f"; {reject.summary()}" if reject is not None else ""
        return f"wrote {rows:,} rows to {cfg.out} in {seconds:.1f}s ({rows / seconds:,.0f} rows/s){dropped}"
    if cfg.mode == "forecast":
        spec = cfg.forecast
        if spec.history is None:
            raise ValueError("mode=forecast needs forecast.history=<CSV or Parquet of past rows>")
        if cfg.workers not in (1, "auto"):
            raise ValueError(f"workers={cfg.workers}: forecasting runs in one process; set workers=1 or auto")
        options = ForecastOptions(horizon=int(spec.horizon), n_paths=int(spec.n_paths),
                                  quantiles=list(spec.quantiles), batch_size=int(cfg.batch_size),
                                  seed=int(cfg.seed), settings=settings, use_cache=bool(cfg.kv_cache),
                                  force_order=bool(spec.force_order))
        paths = forecast_paths(bundle, read_table(spec.history, "history"), options)
        if spec.paths_out:
            write(paths, spec.paths_out)
        write(summarize_paths(bundle, paths, options), spec.out)
        return f"wrote forecasts of {len(paths):,} rows to {spec.out} in {time.perf_counter() - started:.1f}s"
    raise ValueError(f"mode must be sample or forecast, got {cfg.mode!r}")


@hydra.main(config_path="../conf", config_name="sample", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Bad input (unknown column or value, missing file) exits 1 with a one-line error."""
    try:
        print(run(cfg))
    except (ValueError, FileNotFoundError) as err:  # TokenizerError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
