"""docs/distributed.md: its Python blocks run as written (in one process), and
its loop without fit keeps 2 MPI ranks bit-identical. The GPU block needs CuPy and a GPU
and is left to the NCCL tests."""

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "distributed.md"


def _blocks():
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_doc_has_the_blocks_this_test_expects():
    blocks = _blocks()
    assert len(blocks) == 4
    assert "fit(model, X_shard" in blocks[0] and "DistributedOptimizer" in blocks[1]
    assert "select_gpu" in blocks[2] and "ProcessPoolExecutor" in blocks[3]


def test_the_training_blocks_run_in_one_process(capsys, monkeypatch):
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        monkeypatch.delenv(name, raising=False)
    blocks = _blocks()
    exec(compile(blocks[0], "docs/distributed.md", "exec"), {"__name__": "docs_block"})
    ranks, global_batch, accuracy = capsys.readouterr().out.split()
    assert (ranks, global_batch) == ("1", "32") and float(accuracy) > 0.9
    namespace = {"__name__": "docs_block"}
    exec(compile(blocks[1], "docs/distributed.md", "exec"), namespace)
    assert namespace["opt"].steps == 20


def test_the_search_block_runs_as_a_script(tmp_path):
    script = tmp_path / "search.py"  # a script: the process pool pickles its build function by name
    script.write_text(_blocks()[3], encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "OMPI_"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].split()[:3] == ["rank", "lr", "hidden"]


def test_the_loop_without_fit_on_two_ranks(mpi_job, tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(_blocks()[1], encoding="utf-8")
    result = mpi_job(script, ranks=2, timeout=60)
    assert result.returncode == 0, result.output
