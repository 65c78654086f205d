"""`python scripts/evaluate.py key=value ...`: the same as `nemo-tabular evaluate key=value ...` (see conf/evaluate.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["evaluate", *sys.argv[1:]])
