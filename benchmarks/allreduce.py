"""Data-parallel cost on this machine, and a cost model projecting it to clusters.

Measured on N ranks of one machine (default 2, each with one BLAS thread, launched here
with MPICH's ``mpiexec.gforker``, loopback only):

* compute: one compiled training step (forward, backward, SGD update) per rank, the ranks
  running at the same time, for the MLP 784-100-10 (sigmoid) and the CNN of
  ``examples/cnn_mnist.py`` (conv 1→16 5×5, pool, conv 16→32 5×5, pool, dense 800→128→10),
  float32, at two per-rank batch sizes;
* allreduce: one ``Allreduce`` of a float32 buffer holding every gradient of the model
  (what ``DistributedOptimizer`` sends per step), after a barrier, ten times as many
  repeats (it is cheap); its 10th percentile is reported too, nearer the cost on an idle
  machine;

each the median of ``--repeats`` repeats (the machine is shared: medians, not means).

The cost model (:func:`ring_allreduce_seconds`): a ring allreduce of ``b`` bytes over
``N`` ranks sends ``2 (N-1)/N × b`` bytes per rank in ``2 (N-1)`` steps, so it takes
``2 (N-1)/N × b / bandwidth + 2 (N-1) × latency``. The step's compute does not overlap
the allreduce in graphengine (the gradients are averaged after backward), so the
efficiency is ``compute / (compute + allreduce)``, and the per-rank batch that reaches a
target efficiency ``E`` is ``E/(1-E) × allreduce / compute-per-example`` (compute taken
as ``a + b × batch``, fitted to the two measured batch sizes).

    python benchmarks/allreduce.py                  # launches itself on 2 ranks, prints, writes JSON
    python benchmarks/allreduce.py --ranks 2 --json out/allreduce.json
    python benchmarks/allreduce.py --quick          # a few repeats (the smoke test)
    python benchmarks/allreduce.py --model-only --from out/allreduce.json   # the projection tables again
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

REPO = pathlib.Path(__file__).resolve().parents[1]

# Networks of the projection: (name, bandwidth in bytes/s per direction, latency per message in s).
# Assumptions: the usable bandwidth of the link, and an MPI point-to-point latency typical of
# that fabric (TCP over 10 GbE; RDMA over 100 Gb/s Ethernet (RoCE); InfiniBand HDR 200 Gb/s).
NETWORKS = (
    ("10 Gb/s Ethernet (TCP)", 10e9 / 8 * 0.9, 30e-6),
    ("100 Gb/s Ethernet (RoCE)", 100e9 / 8 * 0.9, 5e-6),
    ("InfiniBand HDR (200 Gb/s)", 200e9 / 8 * 0.9, 1.5e-6),
)
RANKS = (8, 64, 512)


def ring_allreduce_seconds(nbytes: float, ranks: int, bandwidth: float, latency: float) -> float:
    """Time of a ring allreduce: ``2 (N-1)/N × bytes / bandwidth + 2 (N-1) × latency``."""
    if ranks < 2:
        return 0.0
    return 2 * (ranks - 1) / ranks * nbytes / bandwidth + 2 * (ranks - 1) * latency


def efficiency(compute_seconds: float, allreduce_seconds: float) -> float:
    """Share of a step spent computing when the allreduce does not overlap the compute."""
    return compute_seconds / (compute_seconds + allreduce_seconds)


def batch_for_efficiency(target: float, allreduce_seconds: float, fixed: float, per_example: float) -> float:
    """The per-rank batch ``B`` with ``(fixed + per_example × B) / (that + allreduce) = target``
    (NaN when the measurements give no positive time per example)."""
    if not per_example > 0:
        return float("nan")
    need = target / (1 - target) * allreduce_seconds  # compute time needed per step
    return max(0.0, (need - fixed) / per_example)


def models():
    import graphengine as ge

    return {
        "MLP 784-100-10": (lambda: ge.nn.Sequential(ge.nn.Dense(784, 100), "sigmoid", ge.nn.Dense(100, 10), seed=0),
                           (784,)),
        "CNN (examples/cnn_mnist.py)": (lambda: ge.nn.Sequential(
            ge.nn.Conv2d(1, 16, kernel_size=5, padding=2), "relu", ge.nn.MaxPool2d(2),
            ge.nn.Conv2d(16, 32, kernel_size=5), "relu", ge.nn.MaxPool2d(2), ge.nn.Flatten(),
            ge.nn.Dense(32 * 5 * 5, 128), "relu", ge.nn.Dense(128, 10), seed=0), (1, 28, 28)),
    }


def _median_ms(samples):
    return 1e3 * statistics.median(samples)


def measure(comm, repeats: int, batches) -> dict:
    """Per model: parameter count, bytes, compute ms per step at each batch size, and
    allreduce ms: medians over ``repeats`` (every rank measures; rank 0's are reported)."""
    import numpy as np

    import graphengine as ge

    out = {}
    for name, (make, shape) in models().items():
        model = make()
        g = ge.Graph("bench")
        x = g.input("x", shape=(None,) + shape)
        y = g.input("y", shape=(None,), dtype="int64")
        loss = ge.ops.cross_entropy(model(x), y, reduction="mean")
        params = g.params()
        count = int(sum(p.value.size for p in params))
        step = ge.compile_step(loss, ge.optimizers.create("sgd", params, lr=0.01))
        rng = np.random.default_rng(comm.rank)
        compute = {}
        for batch in batches:
            feeds = {"x": rng.normal(size=(batch,) + shape).astype(np.float32), "y": rng.integers(0, 10, batch)}
            for _ in range(3):
                step(feeds)
            samples = []
            for _ in range(repeats):
                comm.barrier()
                start = time.perf_counter()
                step(feeds)
                samples.append(time.perf_counter() - start)
            compute[int(batch)] = _median_ms(samples)
        buffer = np.ones(count, dtype=np.float32)
        for _ in range(5):
            comm.allreduce_(buffer)
        samples = []
        for _ in range(max(10 * repeats, 20)):
            comm.barrier()
            start = time.perf_counter()
            comm.allreduce_(buffer)
            samples.append(time.perf_counter() - start)
        out[name] = {"params": count, "bytes": count * 4, "compute_ms": compute, "allreduce_ms": _median_ms(samples),
                     "allreduce_p10_ms": 1e3 * float(np.percentile(samples, 10))}
    return out


def projection(results: dict, networks=NETWORKS, ranks=RANKS, target: float = 0.9) -> list:
    """Rows of the cost model: per model, network and rank count the allreduce time, the
    efficiency at each measured batch size and the per-rank batch reaching ``target``."""
    rows = []
    for name, r in results.items():
        (b1, t1), (b2, t2) = sorted((int(b), ms / 1e3) for b, ms in r["compute_ms"].items())[:2]
        per_example = (t2 - t1) / (b2 - b1)
        fixed = t1 - per_example * b1
        for net, bandwidth, latency in networks:
            for n in ranks:
                comm_s = ring_allreduce_seconds(r["bytes"], n, bandwidth, latency)
                rows.append({
                    "model": name, "network": net, "ranks": n, "allreduce_ms": comm_s * 1e3,
                    "efficiency": {b: efficiency(t, comm_s) for b, t in ((b1, t1), (b2, t2))},
                    "batch_for_target": batch_for_efficiency(target, comm_s, fixed, per_example),
                })
    return rows


def print_tables(data: dict) -> None:
    ranks = data["ranks"]
    print(f"measured on {ranks} ranks of this machine ({data['cpus']} CPUs), medians of {data['repeats']} repeats")
    print(f"{'model':30s} {'params':>8s} {'MB':>6s}  compute ms per step (per-rank batch)   allreduce ms "
          "(median, 10th percentile)")
    for name, r in data["results"].items():
        compute = ", ".join(f"{ms:.2f} ({b})" for b, ms in sorted((int(b), v) for b, v in r["compute_ms"].items()))
        print(f"{name:30s} {r['params']:8d} {r['bytes'] / 1e6:6.3f}  {compute:36s} {r['allreduce_ms']:.3f}, "
              f"{r.get('allreduce_p10_ms', float('nan')):.3f}")
    print()
    print(f"{'model':30s} {'network':28s} {'ranks':>5s} {'allreduce ms':>12s}  efficiency at batch       "
          "batch for 90 %")
    for row in projection(data["results"]):
        eff = ", ".join(f"{100 * e:.0f} % ({b})" for b, e in row["efficiency"].items())
        print(f"{row['model']:30s} {row['network']:28s} {row['ranks']:5d} {row['allreduce_ms']:12.3f}  {eff:25s} "
              f"{row['batch_for_target']:.0f}")


def _launch(args) -> int:
    """Not under MPI: start this script on ``--ranks`` ranks with mpiexec.gforker (loopback)."""
    launcher = pathlib.Path(sys.executable).parent / "mpiexec.gforker"
    if not launcher.exists():
        print("mpiexec.gforker not found beside this Python: pip install \"graphengine-nn[mpi]\", or launch with "
              "your MPI: mpiexec -n 2 python -m mpi4py benchmarks/allreduce.py", file=sys.stderr)
        return 2
    env = dict(os.environ, UCX_NET_DEVICES="lo", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [str(launcher), "-n", str(args.ranks), sys.executable, "-m", "mpi4py", str(pathlib.Path(__file__)),
               *sys.argv[1:]]
    return subprocess.run(command, env=env, timeout=args.timeout).returncode


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ranks", type=int, default=2, help="ranks to launch when not started by mpiexec (default 2)")
    p.add_argument("--repeats", type=int, default=30, help="repeats per measurement (medians; default 30)")
    p.add_argument("--batches", default="32,128", help="two per-rank batch sizes (default 32,128)")
    p.add_argument("--quick", action="store_true", help="a few repeats, small batches (smoke test)")
    p.add_argument("--json", default=None, help="write the measurements here")
    p.add_argument("--model-only", action="store_true", help="print the tables of --from without measuring")
    p.add_argument("--from", dest="source", default=None, help="a JSON file written by --json")
    p.add_argument("--timeout", type=float, default=900, help="seconds before a launched job is stopped")
    args = p.parse_args(argv)
    if args.model_only:
        if not args.source:
            p.error("--model-only needs --from FILE")
        print_tables(json.loads(pathlib.Path(args.source).read_text()))
        return 0
    sys.path.insert(0, str(REPO))
    import graphengine as ge

    if not ge.distributed.launched_by_mpi():
        return _launch(args)
    comm = ge.distributed.init()
    repeats = 3 if args.quick else args.repeats
    batches = (4, 8) if args.quick else tuple(int(b) for b in args.batches.split(","))
    results = measure(comm, repeats, batches)
    if comm.is_root:
        data = {"ranks": comm.size, "cpus": os.cpu_count(), "repeats": repeats, "quick": args.quick,
                "results": results}
        print_tables(data)
        if args.json:
            pathlib.Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            pathlib.Path(args.json).write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
