"""`python scripts/sample.py key=value ...`: the same as `nemo-tabular sample key=value ...` (see conf/sample.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["sample", *sys.argv[1:]])
