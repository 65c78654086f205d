#!/usr/bin/env bash
# Container entrypoint: `<image> STAGE [hydra overrides...]` runs that stage of the nemo-tabular CLI:
#   prepare, train, sample, evaluate, embed, search, export, launch (prep = prepare)
#   anything that is a command on PATH runs as given (torchrun ..., bash, python ...)
# `<image>` alone or `<image> --help` lists the stages.
set -euo pipefail

if [[ $# -gt 0 && "$1" == "prep" ]]; then
    shift
    set -- prepare "$@"
fi
if [[ $# -eq 0 || "$1" == -* ]] || ! command -v "$1" >/dev/null 2>&1; then
    exec python -m nemo_tabular.cli "$@"
fi
exec "$@"
