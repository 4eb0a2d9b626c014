"""benchmarks/allreduce.py: the ring-allreduce cost model, and a quick 2-rank run."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.allreduce import (  # noqa: E402
    batch_for_efficiency,
    efficiency,
    projection,
    ring_allreduce_seconds,
)


def test_ring_allreduce_cost_model():
    # 2 (N-1)/N x bytes / bandwidth + 2 (N-1) x latency
    assert ring_allreduce_seconds(1e6, 1, 1e9, 1e-5) == 0.0
    assert ring_allreduce_seconds(1e6, 2, 1e9, 0.0) == pytest.approx(1e-3)
    assert ring_allreduce_seconds(1e6, 4, 1e9, 1e-5) == pytest.approx(1.5e-3 + 6e-5)
    # the bandwidth term tends to 2 x bytes / bandwidth, the latency term grows with N
    assert ring_allreduce_seconds(1e6, 512, 1e9, 0.0) == pytest.approx(2e-3, rel=1e-2)
    assert efficiency(9.0, 1.0) == 0.9
    # fixed 1 ms + 0.1 ms per example; 1 ms allreduce: 90 % needs 9 ms of compute: B = 80
    assert batch_for_efficiency(0.9, 1e-3, 1e-3, 1e-4) == pytest.approx(80)
    assert batch_for_efficiency(0.9, 1e-3, 1e-3, 0.0) != batch_for_efficiency(0.9, 1e-3, 1e-3, 0.0)  # NaN
    rows = projection({"m": {"bytes": 4e5, "compute_ms": {"32": 2.0, "128": 5.0}}}, networks=(("net", 1e9, 1e-6),),
                      ranks=(8,))
    assert len(rows) == 1 and rows[0]["allreduce_ms"] == pytest.approx(1e3 * (2 * 7 / 8 * 4e5 / 1e9 + 14e-6))
    assert rows[0]["efficiency"][32] == pytest.approx(2.0 / (2.0 + rows[0]["allreduce_ms"]))


def test_quick_run_on_two_ranks(tmp_path):
    pytest.importorskip("mpi4py", reason='mpi4py is not installed: pip install "graphengine-nn[mpi]"')
    if not (pathlib.Path(sys.executable).parent / "mpiexec.gforker").exists():
        pytest.skip("no mpiexec.gforker beside this Python (pip install mpich)")
    out = tmp_path / "allreduce.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "PMIX_", "OMPI_"))}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "allreduce.py"), "--quick", "--json", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(out.read_text())
    assert data["ranks"] == 2 and set(data["results"]) == {"MLP 784-100-10", "CNN (examples/cnn_mnist.py)"}
    assert data["results"]["MLP 784-100-10"]["params"] == 79510
    assert all(r["allreduce_ms"] > 0 and len(r["compute_ms"]) == 2 for r in data["results"].values())
    assert "batch for 90 %" in done.stdout and "InfiniBand HDR" in done.stdout
    again = subprocess.run([sys.executable, str(REPO / "benchmarks" / "allreduce.py"), "--model-only", "--from",
                            str(out)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.splitlines()[-1] in done.stdout
