"""The benchmark suite still runs (quick smoke mode: tiny sizes, a few seconds).

This checks that every benchmark runs and reports its ratios; it makes no assertion on
time: speed is measured by running the suite (``python -m benchmarks.run``), see
docs/benchmarks.md.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_quick_suite_runs_and_prints_ratios(tmp_path):
    out = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("per_op", "mlp", "mlp_adam", "build", "memory", "diagrams", "gpu", "conv"):
        assert f"[{name}]" in done.stdout
    assert "ratio" in done.stdout
    assert "MISSED" not in done.stdout  # quick mode gives no verdicts
    data = json.loads(out.read_text())
    assert data["quick"] is True and data["machine"]["cpus"] >= 1
    assert data["machine"]["blas_threads"] == "1"
    benchmarks = {row["benchmark"] for row in data["rows"]}
    assert len(benchmarks) == 8
    measured = [row for row in data["rows"] if row["ratio"] is not None]
    assert {row["benchmark"] for row in measured} >= {
        "per-op overhead", "MLP training step", "MLP 784-512-512-10 ReLU, Adam", "build and first run",
        "peak memory, deep MLP"}
    assert all(row["ratio"] > 0 for row in measured)
    cases = " | ".join(row["case"] for row in data["rows"])
    for case in ("default path", "fetch=[loss]", "compile_step", "linear", "live-set minimum", "peak RSS"):
        assert case in cases or any(case in (row["reference_name"] or "") for row in data["rows"]), case
    # torch is never imported by the quick suite: its rows say they are skipped
    torch_rows = [row for row in data["rows"] if "PyTorch" in row["case"] and row["benchmark"] != "GPU (CuPy)"]
    assert len(torch_rows) >= 4
    assert all("skipped in quick mode" in row["note"] and row["value"] is None for row in torch_rows)


def test_markdown_table(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--only", "per_op", "--markdown"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| benchmark | case | ratio |" in done.stdout


def test_the_gpu_benchmark_runs_its_code_on_numpy_at_toy_sizes():
    """benchmarks/gpu.py measures on CuPy only; its dry run proves the same code here."""
    from benchmarks import gpu

    times = gpu.dry_run()
    assert {"default", "compiled", "floor", "conv", "matmul", "plain_matmul"} <= times.keys()
    assert all(t > 0 for k, t in times.items() if k != "final_loss") and np.isfinite(times["final_loss"])
