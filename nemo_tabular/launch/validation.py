"""Checks made before anything starts or is queued: cluster settings, the stage's overrides, and for
training the parallel layout against the nodes x GPUs asked for."""

from hydra import compose
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nemo_tabular.launch.cluster_values import check_cluster_values
from nemo_tabular.launch.errors import LaunchError
from nemo_tabular.launch.jobs import Job

SCHEDULERS = ("local", "slurm")


def check_cluster(cluster: DictConfig) -> None:
    """The cluster settings every backend relies on: a known scheduler, positive node/GPU counts, and values
    that cannot add a line, an sbatch option or a command to the script they are rendered into."""
    if cluster.scheduler not in SCHEDULERS:
        raise LaunchError(f"cluster.scheduler={cluster.scheduler!r}: expected one of {', '.join(SCHEDULERS)}")
    for key in ("nodes", "gpus_per_node"):
        value = cluster[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise LaunchError(f"cluster.{key}={value!r}: expected a positive integer")
    if cluster.scheduler == "local" and cluster.nodes != 1:
        raise LaunchError(
            f"cluster.nodes={cluster.nodes} with cluster=local: a local run has one node; use cluster=slurm"
        )
    check_cluster_values(OmegaConf.to_container(cluster, resolve=True), slurm=cluster.scheduler == "slurm")


def compose_stage_config(job: Job, overrides: list[str]) -> DictConfig:
    """The stage's own config with `overrides`, composed now so a typo fails here, not hours later in the queue."""
    try:
        return compose(config_name=job.config_name, overrides=overrides)
    except (HydraException, OmegaConfBaseException) as err:
        raise LaunchError(f"{job.name} config ({job.config_name}.yaml) with overrides {overrides}: {err}") from err


def check_parallel_layout(train_cfg: DictConfig, cluster: DictConfig) -> None:
    """The training config's TP/PP/DP layout, model shape and batch sizes against cluster.nodes x
    cluster.gpus_per_node, by the training code's own validation (one set of rules, one set of messages)."""
    try:
        from nemo_tabular.training.layout import validate_parallel_layout
    except ImportError as err:
        raise LaunchError(f"cannot check the parallel layout: nemo_tabular.training.layout is missing ({err})") from err
    try:
        validate_parallel_layout(
            train_cfg, world_size=cluster.nodes * cluster.gpus_per_node, gpus_per_node=cluster.gpus_per_node
        )
    except ValueError as err:
        raise LaunchError(f"{cluster.nodes} node(s) x {cluster.gpus_per_node} GPU(s): {err}") from err


def check_stage(job: Job, overrides: list[str], cluster: DictConfig) -> None:
    """Compose the stage's config; for a distributed stage also check its parallel layout fits the cluster."""
    stage_cfg = compose_stage_config(job, overrides)
    if job.distributed:
        check_parallel_layout(stage_cfg, cluster)
