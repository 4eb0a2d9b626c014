"""Benchmark 6: GPU (CuPy backend).

* the MLP training step of benchmark 2 (784-100-10, sigmoid, softmax cross-entropy, SGD)
  at batch 4096, float32, on ``g.to("cupy")`` through ``compile_step``, against PyTorch
  CUDA (``zero_grad``, forward, ``backward``, ``step``) in a child process; target ≤ 1.2×;
* a large matmul (4096 × 4096 float32) through a graph (``g.forward(fetch=[y])``) against
  CuPy's own ``cupy.matmul`` (cuBLAS), interleaved in this process.

Every timed call ends with a device synchronisation. Without CuPy or a GPU it says so and
measures nothing.
"""

from __future__ import annotations


import numpy as np

from .mlp import LR, batch, build_graph, initial_params
from .timing import Row, interleaved, median, run_torch_child

NAME = "GPU (CuPy)"
TARGET = 1.2


def gpu_unavailable() -> str | None:
    """Why the GPU benchmark cannot run here, or None when it can."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or CUDA libraries missing
        return f"CuPy is not importable ({type(exc).__name__}: {exc})"
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "CuPy sees no GPU"
    except Exception as exc:
        return f"CuPy sees no usable GPU ({exc})"
    return None


TORCH_SCRIPT = r"""
import json, sys, statistics
import numpy as np
import torch
size, repeats = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from benchmarks.mlp import initial_params, batch, LR
from benchmarks.timing import interleaved
if not torch.cuda.is_available():
    print(json.dumps({"error": "torch has no CUDA here"})); sys.exit(0)
dev = torch.device("cuda")
params = initial_params()
x, y = batch(size)
model = torch.nn.Sequential(torch.nn.Linear(784, 100), torch.nn.Sigmoid(), torch.nn.Linear(100, 10)).to(dev)
with torch.no_grad():
    model[0].weight.copy_(torch.from_numpy(params["W1"].T.copy())); model[0].bias.zero_()
    model[2].weight.copy_(torch.from_numpy(params["W2"].T.copy())); model[2].bias.zero_()
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
loss_fn = torch.nn.CrossEntropyLoss()
tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
def step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(tx), ty)
    loss.backward()
    optimizer.step()
    torch.cuda.synchronize()
times = interleaved({"torch": step}, repeats, warmup=10, number=20)
print(json.dumps({"torch": statistics.median(times["torch"]), "torch_version": torch.__version__,
                  "device": torch.cuda.get_device_name(0)}))
"""


def torch_cuda_step(size: int, repeats: int):
    data = run_torch_child(TORCH_SCRIPT, size, repeats, what="PyTorch CUDA comparison")
    return None if data is None or "error" in data else data


def run(quick: bool = False) -> list[Row]:
    why = gpu_unavailable()
    if why is not None:
        return [Row(NAME, "MLP step at batch 4096 against PyTorch CUDA; 4096² matmul against cupy.matmul",
                    note=f"not measured: {why} (no GPU in this session)")]
    import cupy

    import graphengine as ge
    from graphengine.training_step import compile_step

    sync = cupy.cuda.get_current_stream().synchronize
    device = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    size, repeats = (256, 3) if quick else (4096, 21)
    rows = []
    # the MLP step
    g, loss = build_graph(initial_params())
    g.to("cupy")
    step = compile_step(loss, ge.optimizers.create("sgd", g.params(), lr=LR))
    x, y = (cupy.asarray(a) for a in batch(size))
    feeds = {"x": x, "y": y}

    def engine_step():
        step(feeds)
        sync()

    engine = median(interleaved({"engine": engine_step}, repeats, warmup=10, number=20)["engine"])
    torch = torch_cuda_step(size, repeats)
    if torch is None:
        rows.append(Row(NAME, f"batch {size} MLP step, compile_step on {device}", engine,
                        note="PyTorch with CUDA not available: no reference"))
    else:
        rows.append(Row(NAME, f"batch {size} MLP step, compile_step on {device}", engine, torch["torch"],
                        f"PyTorch {torch['torch_version']} CUDA", target=TARGET,
                        note="torch timed in a child process on the same GPU"))
    # a large matmul through a graph against cuBLAS through CuPy
    n = 512 if quick else 4096
    rng = np.random.default_rng(0)
    gm = ge.Graph("matmul")
    a = gm.input("a", shape=(n, n), dtype="float32")
    b = gm.param("b", rng.normal(size=(n, n)).astype(np.float32))
    out = a @ b
    gm.to("cupy")
    a_value = cupy.asarray(rng.normal(size=(n, n)).astype(np.float32))
    b_value = b.value

    def engine_matmul():
        gm.forward({"a": a_value}, fetch=[out])
        sync()

    def cupy_matmul():
        cupy.matmul(a_value, b_value)
        sync()

    times = interleaved({"engine": engine_matmul, "cupy": cupy_matmul}, repeats, warmup=5, number=10)
    rows.append(Row(NAME, f"{n}×{n} float32 matmul through a graph on {device}", median(times["engine"]),
                    median(times["cupy"]), "cupy.matmul (cuBLAS)"))
    return rows
