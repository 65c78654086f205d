"""`nemo-tabular sample`: synthetic rows (mode=sample) or forecasts of given histories (mode=forecast)."""

from __future__ import annotations

import sys
import time

from omegaconf import DictConfig, OmegaConf


def run(cfg: DictConfig, bundle=None) -> str:
    """Do what cfg.mode asks and return a one-line summary; `bundle` is the model already open (the Python API
    keeps it between calls), else cfg.model_path is opened."""
    import torch

    from nemo_tabular.io import TableWriter, read_table
    from nemo_tabular.run_dir import PreparedData
    from nemo_tabular.sampling import SampleOptions, SamplingSettings, sample_to_file
    from nemo_tabular.sampling.copies import TrainingRows
    from nemo_tabular.sampling.forecast import ForecastOptions, forecast_paths, summarize_paths
    from nemo_tabular.sampling.parallel import planned_workers
    from nemo_tabular.sampling.sampler import filters_copies

    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))

    def prepared() -> PreparedData:  # the run's meta.json, read only where a count needs it (a bundle needs no run)
        return PreparedData(cfg.paths.data_dir)

    if bundle is None:
        bundle = open_configured_model(cfg)
    settings = SamplingSettings(float(cfg.temperature), int(cfg.top_k), float(cfg.top_p))
    started = time.perf_counter()
    if cfg.mode == "sample":
        conditions = cfg.conditions
        if isinstance(conditions, DictConfig):
            conditions = OmegaConf.to_container(conditions)
        n_rows = cfg.n_rows if cfg.n_rows is not None else prepared().split_count("train", "rows", "set n_rows")
        max_rows = cfg.max_rows_per_entity
        if max_rows is None and bundle.layout.sequential:
            max_rows = prepared().split_count("train", "longest_document_rows", "set max_rows_per_entity")
        reject = None
        if cfg.reject_copies_of is not None and filters_copies(conditions):
            reject = TrainingRows.from_table(bundle.tokenizer, cfg.reject_copies_of)
        options = SampleOptions(
            n_rows=int(n_rows),
            batch_size=int(cfg.batch_size),
            seed=int(cfg.seed),
            settings=settings,
            conditions=conditions,
            max_rows_per_entity=max_rows,
            n_entities=cfg.n_entities,
            use_cache=bool(cfg.kv_cache),
            reject_copies=reject,
        )
        workers = planned_workers(cfg.workers, int(n_rows), cfg.device)
        warn_if_huge(bundle, options, cfg.out, workers)
        rows = sample_to_file(bundle, cfg.out, options, chunk_rows=int(cfg.chunk_rows), workers=workers)
        seconds = time.perf_counter() - started
        dropped = f"; {reject.summary()}" if reject is not None else ""
        return f"wrote {rows:,} rows to {cfg.out} in {seconds:.1f}s ({rows / seconds:,.0f} rows/s){dropped}"
    spec = cfg.forecast
    options = ForecastOptions(
        horizon=int(spec.horizon),
        n_paths=int(spec.n_paths),
        quantiles=list(spec.quantiles),
        batch_size=int(cfg.batch_size),
        seed=int(cfg.seed),
        settings=settings,
        use_cache=bool(cfg.kv_cache),
        force_order=bool(spec.force_order),
    )
    paths = forecast_paths(bundle, read_table(spec.history, "history"), options)
    if spec.paths_out:
        with TableWriter(spec.paths_out) as writer:
            writer.write(paths)
    with TableWriter(spec.out) as writer:
        writer.write(summarize_paths(bundle, paths, options))
    return f"wrote forecasts of {len(paths):,} rows to {spec.out} in {time.perf_counter() - started:.1f}s"


def warn_if_huge(bundle, options, out: str, workers: int) -> None:
    """Before a run of more than MEASURE_ABOVE_ROWS rows, measure a short batch and print `warning: ...` with
    the estimate when the run would take over a day or outgrow the output disk's free space."""
    from nemo_tabular.sampling.conditions import is_table
    from nemo_tabular.sampling.estimate import MEASURE_ABOVE_ROWS, estimate_sampling

    if options.n_rows <= MEASURE_ABOVE_ROWS or is_table(options.conditions):  # a table of conditions sets the rows
        return
    if (warning := estimate_sampling(bundle, options, out, workers).warning()) is not None:
        print(f"warning: {warning}", file=sys.stderr, flush=True)


def open_configured_model(cfg: DictConfig):
    """cfg.model_path opened as the sample stage samples it (device, precision, trust_checkpoint)."""
    from nemo_tabular.sampling.loading import open_model, run_layout

    return open_model(
        cfg.model_path,
        run_layout(cfg.model_path, cfg.paths),
        device=cfg.device,
        precision=cfg.precision,
        trust=bool(cfg.trust_checkpoint),
    )
