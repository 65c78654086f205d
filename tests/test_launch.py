"""Launcher: the rendered Slurm scripts (read, linted and run against stand-in Slurm commands), the
Docker files' lint, layout validation, and a real 2-process training run through cluster=local."""

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from nemo_tabular.launch import LaunchError, launch
from nemo_tabular.launch.cli import hydra_quote, pass_through_overrides

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
# A 2 x 8 GPU job with TP2 PP2 (so DP4); a tiny model keeps the layout checks cheap.
TRAIN_2X8 = [
    "cluster=slurm",
    "cluster.nodes=2",
    "cluster.gpus_per_node=8",
    "job=train",
    "dry_run=true",
    "cluster.container_image=/images/nemo-tabular.sqsh",
]
# A few optimizer steps of the tiny model with TP2 on 2 CPU processes.
TINY_TRAIN_RUN = [
    "model=tiny",
    "parallel.tensor=2",
    "train.steps=3",
    "train.micro_batch=2",
    "train.global_batch=4",
    "train.warmup=1",
    "train.eval_every=0",
    "threads=1",
]
STAGE_2X8 = [
    "dataset=diamonds",
    "model=tiny",
    "parallel.tensor=2",
    "parallel.pipeline=2",
    "paths.root=${oc.env:SCRATCH}/runs",
    "+note='two words'",
]


def run_launch(*argv: str) -> int:
    """launch() on conf/launch.yaml composed from command-line style arguments, as scripts/launch.py does."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return launch(compose("launch", overrides=pass_through_overrides(list(argv))))


def rendered(capsys, *argv: str) -> str:
    """What a dry run prints."""
    assert run_launch(*argv) == 0
    return capsys.readouterr().out


def tool(name: str) -> str:
    """A lint tool from PATH or this interpreter's bin/, else a skip saying how to get it."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip(f"{name} is not installed; pip install -e '.[test]' brings it ({name}-py on PyPI)")
    return found


def fake_slurm(bin_dir: Path) -> None:
    """Stand-ins for scontrol (a 2-node allocation), and for srun and sbatch, which keep their arguments in
    bin/<name>.args, one per line; sbatch answers like `sbatch --parsable`."""
    scripts = {
        "scontrol": 'printf "gpu-node-001\\ngpu-node-002\\n"',
        "srun": 'printf "%s\\n" "$@" > "$(dirname "$0")/srun.args"',
        "sbatch": 'printf "%s\\n" "$@" > "$(dirname "$0")/sbatch.args"; echo "4242;cluster"',
    }
    bin_dir.mkdir()
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/usr/bin/env bash\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def run_with_fake_slurm(script: str, tmp_path: Path) -> list[str]:
    """Run a rendered sbatch script with bash against the stand-ins; srun's arguments as the job would pass them."""
    fake_slurm(tmp_path / "bin")
    (tmp_path / "job.sbatch").write_text(script)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}",
        "SLURM_JOB_NODELIST": "gpu-node-[001-002]",
        "SLURM_JOB_ID": "777",
        "SLURM_SUBMIT_DIR": "/home/me/project",
    }
    subprocess.run(["bash", str(tmp_path / "job.sbatch")], env=env, capture_output=True, text=True, check=True)
    return (tmp_path / "bin" / "srun.args").read_text().splitlines()


def test_train_sbatch_for_two_nodes_of_eight_gpus(capsys, tmp_path):
    script = rendered(capsys, *TRAIN_2X8, "--", *STAGE_2X8)
    for directive in ("--nodes=2", "--ntasks-per-node=1", "--gpus-per-node=8", "--exclusive"):
        assert f"#SBATCH {directive}\n" in script
    assert 'hosts=$(scontrol show hostnames "$SLURM_JOB_NODELIST")' in script
    assert "export CUDA_DEVICE_MAX_CONNECTIONS=1\n" in script
    assert "export TORCH_NCCL_ASYNC_ERROR_HANDLING=1\n" in script

    srun = run_with_fake_slurm(script, tmp_path)
    torchrun = srun.index("torchrun")
    assert srun[:torchrun] == [
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--kill-on-bad-exit=1",
        "--container-image=/images/nemo-tabular.sqsh",
        "--container-workdir=/workspace/nemo-tabular",
        "--container-mounts=/home/me/project/runs:/workspace/nemo-tabular/runs",
    ]
    assert srun[torchrun + 1 :] == [
        "--nnodes=2",
        "--nproc_per_node=8",
        "--rdzv_backend=c10d",
        "--rdzv_endpoint=gpu-node-001:29500",
        "--rdzv_id=777",
        "-m",
        "nemo_tabular.cli",
        "train",
        *STAGE_2X8,
    ]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(
            [
                *TRAIN_2X8,
                "cluster.partition=gpu",
                "cluster.account=proj",
                "cluster.cpus_per_task=64",
                "cluster.srun_args=['--mpi=none']",
                "--",
                *STAGE_2X8,
            ],
            id="train",
        ),
        pytest.param(
            ["cluster=slurm", "job=train", "dry_run=true", "--", "model=tiny", "train.micro_batch=4"],
            id="train-on-host",
        ),
        pytest.param(["cluster=slurm", "job=prep", "dry_run=true", "--", "dataset=txhousing"], id="prep"),
        pytest.param(
            [
                "cluster=slurm",
                "job=sample",
                "dry_run=true",
                "cluster.container_image=/images/x.sqsh",
                "--",
                "n_rows=10",
            ],
            id="sample",
        ),
    ],
)
def test_rendered_script_is_shellcheck_clean(argv, capsys, tmp_path):
    shellcheck = tool("shellcheck")
    path = tmp_path / "job.sbatch"
    path.write_text(rendered(capsys, *argv))
    result = subprocess.run([shellcheck, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_prep_job_is_one_cpu_task_and_runs_from_the_checkout_without_a_container(capsys, tmp_path):
    script = rendered(capsys, "cluster=slurm", "cluster.nodes=4", "job=prep", "dry_run=true", "--", "dataset=txhousing")
    assert "#SBATCH --nodes=1\n" in script and "--gpus-per-node" not in script and "--exclusive" not in script
    srun = run_with_fake_slurm(script, tmp_path)
    assert not any(arg.startswith("--container") for arg in srun)
    assert srun[-5:] == ["python", "-m", "nemo_tabular.cli", "prepare", "dataset=txhousing"]


def test_submit_writes_the_script_and_calls_sbatch(capsys, tmp_path, monkeypatch):
    fake_slurm(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    log_dir = tmp_path / "logs"
    assert run_launch("cluster=slurm", "job=prep", f"cluster.log_dir={log_dir}", "--", "dataset=diamonds") == 0
    assert "as Slurm job 4242" in capsys.readouterr().out
    (submitted,) = log_dir.glob("nemo-tabular-prep-*.sbatch")
    assert (tmp_path / "bin" / "sbatch.args").read_text().split() == ["--parsable", str(submitted)]
    assert f"#SBATCH --output={log_dir}/%x-%j.out" in submitted.read_text()


def test_local_dry_run_prints_the_torchrun_command(capsys):
    out = rendered(capsys, "cluster=local", "cluster.gpus_per_node=2", "job=train", "dry_run=true", "--", "model=tiny")
    assert "-m torch.distributed.run --standalone --nnodes=1 --nproc_per_node=2" in out
    assert out.rstrip().endswith("-m nemo_tabular.cli train model=tiny")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["job=evaluate"], "unknown job 'evaluate'"),
        (["cluster.nodes=2"], "a local run has one node"),
        (["cluster=slurm", "cluster.gpus_per_node=0"], "cluster.gpus_per_node=0"),
        (["--", "model=no_such_model"], "model=no_such_model"),
        (["cluster=slurm", "--", "parallel.tensor=3"], "world size 8 is not a multiple of tensor x pipeline"),
        (
            ["cluster=slurm", "cluster.nodes=2", "cluster.gpus_per_node=2", "--", "parallel.tensor=4"],
            "parallel.tensor=4 exceeds the 2 GPUs of a node",
        ),
        (
            ["cluster=slurm", "--", "model=tiny", "model.num_layers=5", "parallel.pipeline=2"],
            "model.num_layers=5 is not divisible by parallel.pipeline=2",
        ),
        (
            ["cluster=slurm", "--", "model=tiny", "parallel.tensor=8"],
            "model.num_attention_heads=4 is not divisible by parallel.tensor=8",
        ),
        (
            ["cluster=slurm", "cluster.nodes=2", "--", "parallel.pipeline=16"],
            r"model=auto: no size of the ladder splits over parallel.tensor=1 and parallel.pipeline=16",
        ),
        (["cluster=slurm", "--", "model.num_layers=5"], "model.num_layers=5 with model=auto: model=auto sets"),
        (
            ["cluster=slurm", "--", "train.global_batch=48"],
            r"train.global_batch=48 is not divisible by train.micro_batch x data parallel = 8 x 8",
        ),
    ],
)
def test_bad_launch_settings_are_clear_errors(argv, message):
    with pytest.raises(LaunchError, match=message):
        run_launch("job=train", "dry_run=true", *argv)


def test_pass_through_keeps_overrides_verbatim():
    argv = ["cluster=slurm", "--", "a=1", "paths.root=${oc.env:HOME}/x y", "q='quoted'", "b=c\\"]
    assert pass_through_overrides(argv) == [
        "cluster=slurm",
        "overrides=[" + ",".join(hydra_quote(arg) for arg in argv[2:]) + "]",
    ]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("launch", overrides=pass_through_overrides(argv))
    assert list(cfg.overrides) == argv[2:]
    with pytest.raises(LaunchError, match="not both"):
        pass_through_overrides(["overrides=[a=1]", "--", "b=2"])


def test_docker_files_lint_clean():
    hadolint = tool("hadolint")
    shellcheck = tool("shellcheck")
    for command in ([hadolint, str(REPO / "Dockerfile")], [shellcheck, str(REPO / "docker" / "entrypoint.sh")]):
        result = subprocess.run(command, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_entrypoint_runs_stages_by_name(tmp_path):
    """Stages go to the CLI module (prep is prepare), commands on PATH run as given; a stand-in `python`
    prints what it was asked to run."""
    (tmp_path / "python").write_text('#!/usr/bin/env bash\necho "python $*"\n')
    (tmp_path / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}

    def entrypoint(*args: str) -> str:
        return subprocess.run(
            ["bash", str(REPO / "docker" / "entrypoint.sh"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert entrypoint("train", "model=tiny", "x=a b") == "python -m nemo_tabular.cli train model=tiny x=a b"
    assert entrypoint("prep", "dataset=diamonds") == "python -m nemo_tabular.cli prepare dataset=diamonds"
    assert entrypoint("echo", "as is") == "as is"
    assert entrypoint() == "python -m nemo_tabular.cli"
    assert entrypoint("--help") == "python -m nemo_tabular.cli --help"


def test_sample_job_gets_one_gpu_and_uses_it(capsys, tmp_path):
    script = rendered(capsys, "cluster=slurm", "job=sample", "dry_run=true", "--", "dataset=diamonds", "n_rows=1000")
    assert "#SBATCH --gpus-per-node=1\n" in script
    srun = run_with_fake_slurm(script, tmp_path)
    assert srun[-6:] == ["-m", "nemo_tabular.cli", "sample", "device=cuda", "dataset=diamonds", "n_rows=1000"]


RECIPES = sorted(path.stem for path in (CONF / "recipe").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES)
def test_recipes_fit_their_gpus(recipe, capsys, tmp_path):
    script = rendered(
        capsys, "cluster=slurm", f"recipe={recipe}", "job=train", "dry_run=true", "--", "dataset=diamonds"
    )
    srun = run_with_fake_slurm(script, tmp_path)
    with initialize_config_dir(str(CONF), version_base="1.3"):
        recipe_cfg = compose("launch", overrides=[f"recipe={recipe}"])
    expected_tail = [*recipe_cfg.recipe_overrides, "dataset=diamonds"]
    assert srun[-len(expected_tail) :] == expected_tail
    assert f"--nnodes={recipe_cfg.cluster.nodes}" in srun
    assert f"--nproc_per_node={recipe_cfg.cluster.gpus_per_node}" in srun


def test_recipe_layout_reaches_training_only(capsys):
    out = rendered(capsys, "cluster=slurm", "recipe=20b_16gpu", "job=prep", "dry_run=true", "--", "dataset=diamonds")
    assert "model=20b" not in out and "#SBATCH --nodes=1\n" in out


@pytest.mark.slow
def test_two_process_training_through_the_local_launcher(tmp_path):
    """prep, then train with TP2 on 2 CPU processes, both started by the launcher's local backend."""
    local = ["cluster=local", "cluster.gpus_per_node=2", "+cluster.env.OMP_NUM_THREADS=1"]
    stage = ["dataset=diamonds", f"paths.root={tmp_path / 'runs'}"]
    assert run_launch(*local, "job=prep", "--", *stage, "limit_rows=2000", "workers=1") == 0
    assert run_launch(*local, "job=train", "--", *stage, *TINY_TRAIN_RUN) == 0
    assert any((tmp_path / "runs" / "diamonds" / "checkpoints").iterdir())
