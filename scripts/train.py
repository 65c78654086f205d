"""`python scripts/train.py key=value ...`: the same as `nemo-tabular train key=value ...` (see conf/train.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
