"""Benchmark 6: GPU (CuPy backend), float32.

* an MLP 784-1024-1024-10 (ReLU, softmax cross-entropy, SGD) training step at batch 4096
  on ``g.to("cupy")``: the default path (``g.forward(feeds)``, ``run.backward``,
  ``opt.step``) and ``compile_step``, against PyTorch CUDA (``zero_grad``, forward,
  ``backward``, ``step``; child process, same GPU) and against a hand-written CuPy step
  (the same maths, cuBLAS matmuls; this process). Target: ``compile_step`` ≤ 1.2× PyTorch;
* a conv block at a ResNet size (batch 64, 64→64 channels, 3×3, padding 1, 32×32, ReLU,
  2×2 max pool), forward + backward through a graph (``fetch=``) against PyTorch CUDA;
* a 4096 × 4096 matmul through a graph (``g.forward(fetch=[y])``) against ``cupy.matmul``;
* whether a compiled step synchronises with the device (``cupyx.allow_synchronize(False)``
  around 20 steps: a host read or implicit copy inside the step would raise).

Every timed call ends with a device synchronisation. Without CuPy or a GPU it says so and
measures nothing; ``dry_run()`` runs the same code on NumPy at toy sizes (for tests).
"""

from __future__ import annotations

import numpy as np

from .timing import Row, interleaved, median, run_torch_child

NAME = "GPU (CuPy)"
TARGET = 1.2
LR = 0.01
SIZES = (784, 1024, 1024, 10)
CONV = (64, 64, 32, 64, 3, 1)  # batch, in channels, size, out channels, kernel, padding


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


def mlp_params(sizes=SIZES, seed=0):
    """He-initialised weights (in, out) and zero biases, float32, on the host."""
    rng = np.random.default_rng(seed)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        params[f"b{i}"] = np.zeros(n_out, dtype=np.float32)
    return params


def mlp_batch(size, sizes=SIZES, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((size, sizes[0])).astype(np.float32),
            rng.integers(0, sizes[-1], size=size).astype(np.int64))


def mlp_graph(params, backend):
    import graphengine as ge

    g = ge.Graph("mlp_gpu")
    h = g.input("x", shape=(None, params["W1"].shape[0]), dtype="float32")
    y = g.input("y", shape=(None,), dtype="int64")
    layers = len(params) // 2
    for i in range(1, layers + 1):
        h = h @ g.param(f"W{i}", params[f"W{i}"]) + g.param(f"b{i}", params[f"b{i}"])
        if i < layers:
            h = ge.ops.relu(h)
    loss = ge.ops.cross_entropy(h, y, reduction="mean")
    g.to(backend)
    return g, loss


def hand_step(xp, params, x, y):
    """One SGD step written by hand with ``xp`` (the floor: the same maths, no engine)."""
    layers = len(params) // 2
    acts = [x]
    for i in range(1, layers + 1):
        z = acts[-1] @ params[f"W{i}"] + params[f"b{i}"]
        acts.append(xp.maximum(z, 0) if i < layers else z)
    logits = acts[-1]
    e = xp.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[xp.arange(len(y)), y] -= 1
    d = p / len(y)
    for i in range(layers, 0, -1):
        a = acts[i - 1]
        dW, db = a.T @ d, d.sum(axis=0)
        if i > 1:
            d = (d @ params[f"W{i}"].T) * (a > 0)
        params[f"W{i}"] -= LR * dW
        params[f"b{i}"] -= LR * db


def conv_graph(backend, batch, cin, size, cout, kernel, padding, seed=0):
    import graphengine as ge

    rng = np.random.default_rng(seed)
    g = ge.Graph("conv_block")
    x = g.input("x", shape=(None, cin, size, size), dtype="float32")
    w = g.param("w", (rng.standard_normal((cout, cin, kernel, kernel)) / np.sqrt(cin * kernel * kernel))
                .astype(np.float32))
    b = g.param("b", np.zeros(cout, dtype=np.float32))
    out = ge.ops.max_pool2d(ge.ops.relu(ge.ops.conv2d(x, w, b, padding=padding)), kernel_size=2)
    loss = ge.ops.sum(out * out) * 0.5
    g.to(backend)
    X = g.xp.asarray(rng.standard_normal((batch, cin, size, size)).astype(np.float32))
    return g, x, w, b, loss, X


TORCH_SCRIPT = r"""
import json, sys, statistics
import numpy as np
import torch
size, repeats = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from benchmarks.gpu import mlp_params, mlp_batch, CONV, LR
from benchmarks.timing import interleaved
if not torch.cuda.is_available():
    print(json.dumps({"error": "torch has no CUDA here"})); sys.exit(0)
dev = torch.device("cuda")
torch.backends.cuda.matmul.allow_tf32 = False  # float32 maths, as CuPy's matmul
torch.backends.cudnn.allow_tf32 = False
params = mlp_params()
x, y = mlp_batch(size)
layers = []
for i in range(1, len(params) // 2 + 1):
    W = params[f"W{i}"]
    lin = torch.nn.Linear(W.shape[0], W.shape[1])
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(W.T.copy())); lin.bias.zero_()
    layers += [lin, torch.nn.ReLU()]
model = torch.nn.Sequential(*layers[:-1]).to(dev)
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
loss_fn = torch.nn.CrossEntropyLoss()
tx, ty = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
def mlp():
    optimizer.zero_grad(set_to_none=True)
    loss_fn(model(tx), ty).backward()
    optimizer.step()
    torch.cuda.synchronize()
batch, cin, hw, cout, k, pad = CONV
cx = torch.randn(batch, cin, hw, hw, device=dev, requires_grad=True)
conv = torch.nn.Conv2d(cin, cout, k, padding=pad).to(dev)
def conv_block():
    cx.grad = None; conv.zero_grad(set_to_none=True)
    out = torch.nn.functional.max_pool2d(torch.relu(conv(cx)), 2)
    (0.5 * (out * out).sum()).backward()
    torch.cuda.synchronize()
times = interleaved({"mlp": mlp, "conv": conv_block}, repeats, warmup=10, number=10)
print(json.dumps({"mlp": statistics.median(times["mlp"]), "conv": statistics.median(times["conv"]),
                  "torch_version": torch.__version__, "device": torch.cuda.get_device_name(0)}))
"""


def measure(xp, sync, size, conv_case, matmul_n, repeats, number=10):
    """The timings (seconds per call) on the array module ``xp``; ``sync`` waits for the device."""
    import graphengine as ge
    from graphengine.training_step import compile_step

    backend = "cupy" if xp is not np else "numpy"
    params = mlp_params()
    x_host, y_host = mlp_batch(size)
    x, y = xp.asarray(x_host), xp.asarray(y_host)
    feeds = {"x": x, "y": y}
    g_default, loss_default = mlp_graph(params, backend)
    opt_default = ge.optimizers.create("sgd", g_default.params(), lr=LR)
    g_step, loss_step = mlp_graph(params, backend)
    step = compile_step(loss_step, ge.optimizers.create("sgd", g_step.params(), lr=LR), keep_grads=False)
    hand = {k: xp.asarray(v) for k, v in params.items()}

    def default_path():
        run = g_default.forward(feeds)
        run.backward(loss_default)
        opt_default.step(run)
        sync()

    def compiled():
        step(feeds)
        sync()

    def floor():
        hand_step(xp, hand, x, y)
        sync()

    mlp_times = interleaved({"default": default_path, "compiled": compiled, "floor": floor}, repeats,
                            warmup=5, number=number)
    g_conv, cx, cw, cb, closs, CX = conv_graph(backend, *conv_case)

    def conv_block():
        run = g_conv.forward({cx: CX}, fetch=[closs, cx]).backward(closs)
        run.grad(cx), run.grad(cw), run.grad(cb)
        sync()

    rng = np.random.default_rng(0)
    gm = ge.Graph("matmul")
    a = gm.input("a", shape=(matmul_n, matmul_n), dtype="float32")
    bm = gm.param("b", rng.standard_normal((matmul_n, matmul_n)).astype(np.float32))
    out = a @ bm
    gm.to(backend)
    a_value = xp.asarray(rng.standard_normal((matmul_n, matmul_n)).astype(np.float32))

    def engine_matmul():
        gm.forward({"a": a_value}, fetch=[out])
        sync()

    def plain_matmul():
        xp.matmul(a_value, bm.value)
        sync()

    other = interleaved({"conv": conv_block, "matmul": engine_matmul, "plain_matmul": plain_matmul}, repeats,
                        warmup=3, number=number)
    times = {k: median(v) for k, v in {**mlp_times, **other}.items()}
    times["final_loss"] = float(np.asarray(ge.backends.asnumpy(step.value(loss_step))))
    return times, step, feeds


def synchronises(step, feeds) -> str | None:
    """None when 20 calls of ``step`` ran without a device synchronisation, else what did."""
    import cupyx

    try:
        with cupyx.allow_synchronize(False):
            for _ in range(20):
                step(feeds)
    except Exception as exc:  # cupyx.DeviceSynchronized, or what the step raised
        return f"{type(exc).__name__}: {exc}"
    return None


def dry_run() -> dict:
    """The whole measurement on NumPy at toy sizes: proves the code without a GPU."""
    times, _, _ = measure(np, lambda: None, 8, (2, 3, 8, 4, 3, 1), 16, repeats=1, number=1)
    return times


def run(quick: bool = False) -> list[Row]:
    what = "MLP 784-1024-1024-10 step at batch 4096 and a conv block against PyTorch CUDA; matmul against cuBLAS"
    why = gpu_unavailable()
    if why is not None:
        return [Row(NAME, what, note=f"not measured: {why} (no GPU in this session)")]
    import cupy

    sync = cupy.cuda.get_current_stream().synchronize
    device = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    size, repeats = (256, 3) if quick else (4096, 15)
    conv_case = (8, 16, 16, 16, 3, 1) if quick else CONV
    times, step, feeds = measure(cupy, sync, size, conv_case, 512 if quick else 4096, repeats)
    torch = run_torch_child(TORCH_SCRIPT, size, repeats, what="PyTorch CUDA comparison")
    torch = None if torch is None or "error" in torch else torch
    rows = []
    for key, label in (("compiled", "compile_step"), ("default", "default path (forward, backward, opt.step)")):
        case = f"batch {size} MLP step, {label}, on {device}"
        if torch is not None:
            rows.append(Row(NAME, case, times[key], torch["mlp"], f"PyTorch {torch['torch_version']} CUDA",
                            target=TARGET if key == "compiled" else None,
                            note="torch timed in a child process on the same GPU, TF32 off"))
        else:
            rows.append(Row(NAME, case, times[key], note="PyTorch with CUDA not available: no reference"))
        rows.append(Row(NAME, case, times[key], times["floor"], "hand-written CuPy step"))
    case = f"conv block {conv_case} forward + backward, on {device}"
    rows.append(Row(NAME, case, times["conv"], torch["conv"] if torch else None,
                    f"PyTorch {torch['torch_version']} CUDA (cuDNN)" if torch else "",
                    note="" if torch else "PyTorch with CUDA not available: no reference"))
    n = 512 if quick else 4096
    rows.append(Row(NAME, f"{n}×{n} float32 matmul through a graph on {device}", times["matmul"],
                    times["plain_matmul"], "cupy.matmul (cuBLAS)"))
    sync_issue = synchronises(step, feeds)
    rows.append(Row(NAME, "compile_step waits for the device inside a step", 0.0 if sync_issue is None else 1.0,
                    unit="count", note="no: 20 steps under cupyx.allow_synchronize(False)" if sync_issue is None
                    else f"yes: {sync_issue}"))
    return rows
