#!/usr/bin/env bash
# Container entrypoint: `<image> STAGE [hydra overrides...]` runs that stage in the project directory:
#   prep              -> python data_prep/prepare.py
#   NAME              -> python scripts/NAME.py        (train, sample, evaluate, launch, ...)
#   anything else     -> run as given                  (torchrun ..., bash, python ...)
set -euo pipefail

usage() {
    echo "usage: STAGE [hydra overrides...] | COMMAND [args...]"
    echo "stages: prep $(find scripts -maxdepth 1 -name '*.py' -printf '%f\n' 2>/dev/null | sed 's/\.py$//' | sort | tr '\n' ' ')"
    echo "multi-GPU training: torchrun --nproc_per_node=gpu scripts/train.py [overrides...]"
}

stage=${1:---help}
case "$stage" in
    -h | --help)
        usage
        ;;
    prep | prepare)
        shift
        exec python data_prep/prepare.py "$@"
        ;;
    *)
        if [[ -f "scripts/${stage}.py" ]]; then
            shift
            exec python "scripts/${stage}.py" "$@"
        fi
        exec "$@"
        ;;
esac
