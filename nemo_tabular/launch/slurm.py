"""Slurm backend: render a stage's sbatch script from the Slurm templates (scripts/slurm/) and submit it."""

import shutil
import subprocess
import time
from pathlib import Path

import jinja2
from omegaconf import DictConfig, OmegaConf

from nemo_tabular.launch.cluster_values import check_cluster_values
from nemo_tabular.launch.command import program_argv, shell_join, shell_word
from nemo_tabular.launch.errors import LaunchError
from nemo_tabular.launch.jobs import Job
from nemo_tabular.resources import resource_dir


def _environment() -> jinja2.Environment:
    """Jinja2 over scripts/slurm/, strict about missing values, keeping the templates' line layout."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("slurm")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["sh"] = shell_word  # every configured value reaches the script through it
    return env


def sbatch_context(job: Job, cluster: DictConfig, overrides: list[str]) -> dict:
    """The values the templates use: the job's share of the cluster settings and its command line."""
    settings = OmegaConf.to_container(cluster, resolve=True)
    check_cluster_values(settings, slurm=True)  # launch() checked already; a direct render must not skip it
    nodes = settings["nodes"] if job.distributed else 1
    gpus_per_node = settings["gpus_per_node"] if job.distributed else int(job.needs_gpu)
    return {
        **settings,
        "description": f"nemo-tabular {job.name}: nemo-tabular {job.stage} on {nodes} node(s) x {gpus_per_node} GPU(s)",
        "template": f"{job.name}.sbatch.j2",
        "nodes": nodes,
        "gpus_per_node": gpus_per_node,
        "exclusive": settings["exclusive"] and job.distributed,
        "program": shell_join(program_argv(job, overrides)),
    }


def render_sbatch(job: Job, cluster: DictConfig, overrides: list[str]) -> str:
    """The sbatch script that runs `job` with `overrides` on the cluster `cluster` describes."""
    return _environment().get_template(f"{job.name}.sbatch.j2").render(sbatch_context(job, cluster, overrides))


def submit(script: str, cluster: DictConfig) -> tuple[str, Path]:
    """Write `script` to cluster.log_dir (where the job's output goes too) and sbatch it: (job id, script path)."""
    sbatch = shutil.which("sbatch")
    if sbatch is None:
        raise LaunchError("sbatch not found: submit from a Slurm login node, or print the script with dry_run=true")
    log_dir = Path(cluster.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)  # Slurm does not create the --output directory
    path = log_dir / f"{cluster.job_name}-{time.strftime('%Y%m%d-%H%M%S')}.sbatch"
    path.write_text(script)
    result = subprocess.run([sbatch, "--parsable", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise LaunchError(f"sbatch {path} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout.strip().split(";")[0], path
