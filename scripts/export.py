"""`python scripts/export.py key=value ...`: the same as `nemo-tabular export key=value ...` (see conf/export.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["export", *sys.argv[1:]])
