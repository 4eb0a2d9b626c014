"""docs/distributed.md: its Python blocks run as written (as scripts, one process), and
its loop without fit keeps 2 MPI ranks bit-identical. The GPU block needs CuPy and a GPU
and is left to the NCCL tests."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "distributed.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_doc_has_the_blocks_this_test_expects():
    blocks = _blocks()
    assert len(blocks) == 4
    assert "fit(model, X_shard" in blocks[0] and "DistributedOptimizer" in blocks[1]
    assert "select_gpu" in blocks[2] and "ProcessPoolExecutor" in blocks[3]


@pytest.mark.parametrize("index", [0, 1, 3])
def test_python_blocks_run_as_scripts(index, tmp_path):
    script = tmp_path / f"block{index}.py"
    script.write_text(_blocks()[index], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "OMPI_"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    if index == 0:
        ranks, global_batch, accuracy = done.stdout.split()
        assert (ranks, global_batch) == ("1", "32") and float(accuracy) > 0.9
    if index == 3:
        assert done.stdout.splitlines()[0].split()[:3] == ["rank", "lr", "hidden"]


def test_the_loop_without_fit_on_two_ranks(mpi_job, tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(_blocks()[1], encoding="utf-8")
    result = mpi_job(script, ranks=2, timeout=60)
    assert result.returncode == 0, result.output
