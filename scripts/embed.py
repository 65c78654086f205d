"""`python scripts/embed.py key=value ...`: the same as `nemo-tabular embed key=value ...` (see conf/embed.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["embed", *sys.argv[1:]])
