"""Hydra entry for data prep: `python data_prep/prepare.py dataset=txhousing tokenizer.base=50 seed=7`."""

import sys
import time

import hydra
from omegaconf import DictConfig

from nemo_tabular.data.errors import DataPrepError
from nemo_tabular.data.prepare import prepare_dataset, summary


@hydra.main(config_path="../conf", config_name="prepare", version_base="1.3")
def main(cfg: DictConfig) -> None:
    """Prepare the configured dataset and print a summary; bad input exits 1 with a one-line error."""
    started = time.perf_counter()
    try:
        output = prepare_dataset(cfg)
    except DataPrepError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    print(summary(output, time.perf_counter() - started))


if __name__ == "__main__":
    main()
