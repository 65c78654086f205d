"""`python -m nemo_tabular.cli STAGE ...`: what the launcher and torchrun run (no console script needed)."""

from nemo_tabular.cli import main

main()
