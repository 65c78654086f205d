"""`python data_prep/prepare.py key=value ...`: the same as `nemo-tabular prepare key=value ...` (conf/prepare.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["prepare", *sys.argv[1:]])
