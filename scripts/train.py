"""Hydra entry for training: `torchrun --nproc_per_node=N scripts/train.py dataset=diamonds model=tiny ...`."""

import json
import sys

import hydra
import torch.distributed as dist
from omegaconf import DictConfig

from nemo_tabular.training.loop import train


@hydra.main(config_path="../conf", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        summary = train(cfg)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    print(json.dumps({k: v for k, v in summary.items() if k != "losses"}))


if __name__ == "__main__":
    main()
