"""One code path for every launch: validate, then run here (local) or render and submit (slurm)."""

from omegaconf import DictConfig, OmegaConf

from nemo_tabular.launch.command import local_argv, shell_join
from nemo_tabular.launch.jobs import Job, get_job
from nemo_tabular.launch.local import run_local
from nemo_tabular.launch.slurm import render_sbatch, submit
from nemo_tabular.launch.validation import check_cluster, check_stage


def stage_overrides(cfg: DictConfig, job: Job) -> list[str]:
    """The stage's Hydra overrides in order of precedence: the job's GPU defaults on Slurm, the
    recipe's (a training layout, so for the distributed stage only), then the user's; later ones win."""
    gpu_defaults = list(job.gpu_overrides) if cfg.cluster.scheduler == "slurm" else []
    recipe = OmegaConf.to_container(cfg.recipe_overrides, resolve=True) if job.distributed else []
    return gpu_defaults + [str(item) for item in recipe + OmegaConf.to_container(cfg.overrides, resolve=True)]


def launch(cfg: DictConfig) -> int:
    """Start the stage `cfg.job` as the launch config says (or print what would run, with dry_run); returns an exit code."""
    job = get_job(cfg.job)
    cluster = cfg.cluster
    check_cluster(cluster)
    overrides = stage_overrides(cfg, job)
    check_stage(job, overrides, cluster)
    if cluster.scheduler == "local":
        if cfg.dry_run:
            print(shell_join(local_argv(job, overrides, cluster.gpus_per_node)))
            return 0
        return run_local(job, cluster, overrides)
    script = render_sbatch(job, cluster, overrides)
    if cfg.dry_run:
        print(script, end="")
        return 0
    job_id, path = submit(script, cluster)
    print(
        f"submitted {path} as Slurm job {job_id}; its output goes to {cluster.log_dir}/{cluster.job_name}-{job_id}.out"
    )
    return 0
