"""Launching MPI jobs from tests: ``mpi_job(script, *args, ranks=2)`` runs
``mpiexec.gforker -n ranks python -m mpi4py script args`` as a subprocess with a timeout.

Only MPICH's ``gforker`` launcher is used: it starts the ranks with fork and opens no
network listener (the hydra launchers listen on every interface). ``UCX_NET_DEVICES=lo``
keeps MPICH's UCX layer on the loopback interface, so every byte stays on 127.0.0.1.
Without mpi4py or the launcher the tests skip, saying what to install.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
JOBS = pathlib.Path(__file__).resolve().parent / "jobs"
LAUNCHER = "mpiexec.gforker"


def find_launcher() -> str | None:
    """MPICH's gforker launcher beside this Python (the mpich wheel puts it there), or on PATH."""
    beside = pathlib.Path(sys.executable).parent / LAUNCHER
    if beside.exists():
        return str(beside)
    return shutil.which(LAUNCHER)


def job_environment() -> dict:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith(("PMI_", "PMIX_", "OMPI_", "MPI_"))]:
        del env[key]  # a test run under a launcher must not leak its rank into the job
    env.update(UCX_NET_DEVICES="lo", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""), PYTHONHASHSEED="0", MPLBACKEND="Agg")
    return env


@dataclass
class JobResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_job(args, timeout: float) -> JobResult:
    """Run a job in its own process group; on timeout kill the whole group and fail."""
    import time

    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=job_environment(),
                               cwd=str(ROOT), start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        pytest.fail(f"MPI job {' '.join(map(str, args))} did not end within {timeout} s (a hang); output:\n"
                    f"{stdout}\n{stderr}")
    return JobResult(process.returncode, stdout, stderr, time.perf_counter() - start)


def _launcher():
    pytest.importorskip("mpi4py", reason='mpi4py is not installed: pip install "graphengine-nn[mpi]"')
    launcher = find_launcher()
    if launcher is None:
        pytest.skip(f"no {LAUNCHER} launcher (MPICH's, opens no network listener): pip install mpich")

    def launch(script, *args, ranks: int = 2, module: str | None = "mpi4py", timeout: float = 60):
        python = [sys.executable] + (["-m", module] if module else [])
        return run_job([launcher, "-n", str(ranks), *python, str(JOBS / script), *map(str, args)], timeout)

    return launch


@pytest.fixture
def mpi_job():
    """``mpi_job(script, *args, ranks=2, module="mpi4py", timeout=60)`` -> JobResult."""
    return _launcher()


@pytest.fixture(scope="session")
def two_rank_job(tmp_path_factory):
    """The folder where jobs/train_two_ranks.py (run once, 2 ranks) wrote its reports:
    the collectives, the training, the errors; read by several test modules."""
    out = tmp_path_factory.mktemp("two_ranks")
    result = _launcher()("train_two_ranks.py", out, ranks=2, timeout=90)
    assert result.returncode == 0, result.output
    (out / "stdout.txt").write_text(result.stdout)
    return out
