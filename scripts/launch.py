"""`python scripts/launch.py key=value ... -- stage overrides`: the same as `nemo-tabular launch ...` (conf/launch.yaml)."""

import sys

from nemo_tabular.cli import main

if __name__ == "__main__":
    main(["launch", *sys.argv[1:]])
