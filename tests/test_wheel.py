"""The wheel alone runs the pipeline: built from this checkout, installed into a fresh venv, and driven through
its `nemo-tabular` command from an empty directory (no checkout, no conf/ beside it)."""

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from conftest import REPO
from plotnine.data import diamonds


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True, cwd=cwd, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_runs_every_stage_from_an_empty_directory(tmp_path):
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", dist, REPO, cwd=tmp_path)
    wheel = next(dist.glob("nemo_tabular-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for packaged in (
        "nemo_tabular/_resources/conf/prepare.yaml",
        "nemo_tabular/_resources/conf/dataset/default.yaml",
        "nemo_tabular/_resources/slurm/train.sbatch.j2",
        "nemo_tabular/_resources/docker/entrypoint.sh",
    ):
        assert packaged in names
    assert any(name.endswith("entry_points.txt") for name in names)

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).stdout.strip()
    )
    # the dependencies (torch, megatron-core, ...) come from this environment, as system site packages would;
    # a path line in a .pth does not run that directory's own .pth files, so this checkout's editable install stays out
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel, cwd=tmp_path)

    work = tmp_path / "empty"
    work.mkdir()
    where = run(python, "-c", "import nemo_tabular.resources as r; print(r.__file__); print(r.config_dir())", cwd=work)
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    diamonds.head(1200).to_csv(work / "gems.csv", index=False)
    command = venv / "bin" / "nemo-tabular"
    assert "prepared gems" in run(command, "prepare", "source=gems.csv", "dataset.target=price", cwd=work).stdout
    run(command, "train", "run=runs/gems", "train.steps=3", "train.eval_every=0", "threads=1", cwd=work)
    assert "wrote 300 rows" in run(command, "sample", "run=runs/gems", "n_rows=300", cwd=work).stdout
    report = run(command, "evaluate", "run=runs/gems", "detection_folds=2", cwd=work).stdout
    assert report.startswith("runs/gems/report: quality ")
    assert sorted(path.name for path in work.iterdir()) == ["gems.csv", "runs"]  # nothing else written
