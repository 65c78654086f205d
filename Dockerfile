# GPU image for nemo-tabular: NGC PyTorch brings CUDA, NCCL, torch, TransformerEngine and apex;
# this adds megatron-core and the project on top without replacing any of them.
#   docker build -t nemo-tabular:0.1.0 .
#   docker run --gpus all --ipc=host -v "$PWD/runs:/workspace/nemo-tabular/runs" nemo-tabular:0.1.0 \
#       train dataset=diamonds model=tiny
# See docs/scale.md for multi-GPU runs and Slurm (pyxis/enroot).
FROM nvcr.io/nvidia/pytorch:25.12-py3

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /workspace/nemo-tabular

# The image pins its own torch, TransformerEngine, numpy... through PIP_CONSTRAINT
# (/etc/pip/constraint.txt): pip resolves our dependencies around them, or fails loudly on a
# conflict, instead of swapping in a PyPI torch. Editable, so a checkout mounted over this
# directory is what runs.
COPY . .
RUN python -m pip install -e . \
    && python -c "import importlib.util, megatron.core, torch; assert importlib.util.find_spec('transformer_engine'), 'no TransformerEngine in the base image'; print('torch', torch.__version__, 'megatron-core', megatron.core.__version__)"

COPY docker/entrypoint.sh /usr/local/bin/nemo-tabular-entrypoint
ENTRYPOINT ["/usr/local/bin/nemo-tabular-entrypoint"]
CMD ["--help"]
