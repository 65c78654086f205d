"""`python scripts/search.py key=value ...`: the same as `nemo-tabular search key=value ...` (see conf/search.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["search", *sys.argv[1:]])
