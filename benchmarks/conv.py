"""Benchmark 7: convolution (conv2d forward + backward, and a LeNet training step).

Cases, float32, NCHW:

* conv2d forward + backward at LeNet sizes, batch 128: conv1 1→6 channels, 5×5, 28×28,
  padding 2 (no input gradient: it is the network's input) and conv2 6→16, 5×5, 14×14;
* conv2d forward + backward at a ResNet-block size: batch 64, 64→64 channels, 3×3,
  32×32, padding 1 (dx, dW and dbias);
* a LeNet training step at batch 128: conv(1→6, 5, pad 2)-relu-maxpool 2-conv(6→16, 5)-
  relu-maxpool 2-dense 400→120-relu-120→84-relu-84→10, softmax cross-entropy, SGD, through
  ``ge.compile_step``.

The engine runs through a graph (``g.forward(feeds, fetch=[y])``, ``run.backward(y,
grad=seed)``, the gradients read; the training step through ``compile_step``). Each case
is timed interleaved with a hand-written NumPy reference (sliding_window_view +
tensordot, col2im by a loop over kernel offsets) in this process. PyTorch eager CPU runs
the same cases in a child process (this process never imports torch) with the same
number of threads (``torch.set_num_threads`` from the benchmark's thread setting),
interleaved with the same NumPy reference there; the engine / PyTorch ratio is the
engine's ratio to NumPy here over PyTorch's ratio to NumPy there. Target: within 1.5× of
PyTorch. Each conv row's note says what limits it: the share of the time spent in the
BLAS matmuls (measured by timing the same matmuls alone) and the GFLOP/s reached.
"""

from __future__ import annotations

import os

import numpy as np

from .timing import Row, interleaved, median, run_torch_child

NAME = "convolution"
TARGET_TORCH = 1.5
LR = 0.01

# name: (batch, in_channels, size, out_channels, kernel, padding, input needs a gradient)
CASES = {
    "LeNet conv1": (128, 1, 28, 6, 5, 2, False),
    "LeNet conv2": (128, 6, 14, 16, 5, 0, True),
    "ResNet block conv": (64, 64, 32, 64, 3, 1, True),
}
QUICK_CASES = {
    "LeNet conv1": (4, 1, 12, 6, 5, 2, False),
    "ResNet block conv": (4, 8, 8, 8, 3, 1, True),
}


def case_arrays(batch, cin, size, cout, kernel, padding, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, cin, size, size)).astype(np.float32)
    w = (rng.standard_normal((cout, cin, kernel, kernel)) / np.sqrt(cin * kernel * kernel)).astype(np.float32)
    b = (0.1 * rng.standard_normal(cout)).astype(np.float32)
    out = size + 2 * padding - kernel + 1
    seed_grad = rng.standard_normal((batch, cout, out, out)).astype(np.float32)
    return x, w, b, seed_grad


def numpy_conv_step(x, w, b, seed_grad, padding, need_x):
    """The hand-written NumPy reference: forward and backward of conv2d (stride 1)."""
    from numpy.lib.stride_tricks import sliding_window_view

    def step():
        kh, kw = w.shape[2:]
        xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
        win = sliding_window_view(xp, (kh, kw), axis=(2, 3))            # (N, C, Ho, Wo, kh, kw)
        y = np.tensordot(win, w, axes=([1, 4, 5], [1, 2, 3])).transpose(0, 3, 1, 2) + b[:, None, None]
        gw = np.tensordot(seed_grad, win, axes=([0, 2, 3], [0, 2, 3]))   # (O, C, kh, kw)
        gb = seed_grad.sum(axis=(0, 2, 3))
        gx = None
        if need_x:
            ho, wo = seed_grad.shape[2:]
            gxp = np.zeros(xp.shape, dtype=x.dtype)
            for p in range(kh):
                for q in range(kw):
                    gxp[:, :, p:p + ho, q:q + wo] += np.tensordot(seed_grad, w[:, :, p, q], axes=([1], [0])
                                                                  ).transpose(0, 3, 1, 2)
            gx = gxp[:, :, padding:padding + x.shape[2], padding:padding + x.shape[3]]
        return y, gx, gw, gb

    return step


def engine_conv_step(x, w, b, seed_grad, padding, need_x):
    """conv2d through a graph: fetched forward, backward from the seed, the gradients read."""
    import graphengine as ge

    g = ge.Graph("conv")
    xn = g.param("x", x) if need_x else g.input("x", shape=(None,) + x.shape[1:], dtype="float32")
    wn, bn = g.param("w", w), g.param("b", b)
    y = ge.ops.conv2d(xn, wn, bn, padding=padding)
    feeds = {} if need_x else {"x": x}

    def step():
        run = g.forward(feeds, fetch=[y])
        run.backward(y, grad=seed_grad)
        return run.value(y), run.grad(xn) if need_x else None, run.grad(wn), run.grad(bn)

    return step


def blas_share(x, w, seed_grad, padding, need_x, repeats):
    """Seconds of the matmuls alone (the same shapes the op multiplies), and their GFLOP count."""
    n, c = x.shape[:2]
    o, _, kh, kw = w.shape
    k, l = c * kh * kw, n * seed_grad.shape[2] * seed_grad.shape[3]
    rng = np.random.default_rng(0)
    cols = rng.standard_normal((k, l)).astype(np.float32)
    g2 = rng.standard_normal((o, l)).astype(np.float32)
    w2 = w.reshape(o, k)
    calls = {"fwd": lambda: w2 @ cols, "dw": lambda: g2 @ cols.T}
    if need_x:
        calls["dx"] = lambda: w2.T @ g2
    times = interleaved(calls, max(3, repeats // 3), warmup=1)
    seconds = sum(median(t) for t in times.values())
    return seconds, 2.0 * o * k * l * len(calls) / 1e9


# --------------------------------------------------------------------------- LeNet step

def lenet_params(seed=0):
    rng = np.random.default_rng(seed)

    def uniform(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    return {"c1w": uniform((6, 1, 5, 5), 25), "c1b": uniform((6,), 25),
            "c2w": uniform((16, 6, 5, 5), 150), "c2b": uniform((16,), 150),
            "f1w": uniform((400, 120), 400), "f1b": uniform((120,), 400),
            "f2w": uniform((120, 84), 120), "f2b": uniform((84,), 120),
            "f3w": uniform((84, 10), 84), "f3b": uniform((10,), 84)}


def lenet_batch(size, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (size, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, size)


def engine_lenet_step(params):
    import graphengine as ge

    g = ge.Graph("lenet")
    x = g.input("x", shape=(None, 1, 28, 28), dtype="float32")
    y = g.input("y", shape=(None,), dtype="int64")
    p = {k: g.param(k, v.copy()) for k, v in params.items()}
    h = ge.ops.max_pool2d(ge.ops.relu(ge.ops.conv2d(x, p["c1w"], p["c1b"], padding=2)), kernel_size=2)
    h = ge.ops.max_pool2d(ge.ops.relu(ge.ops.conv2d(h, p["c2w"], p["c2b"])), kernel_size=2)
    h = ge.ops.reshape(h, shape=(-1, 400))
    h = ge.ops.relu(h @ p["f1w"] + p["f1b"])
    h = ge.ops.relu(h @ p["f2w"] + p["f2b"])
    loss = ge.ops.cross_entropy(h @ p["f3w"] + p["f3b"], y, reduction="mean")
    step = ge.compile_step(loss, ge.optimizers.create("sgd", g.params(), lr=LR))
    return (lambda xb, yb: step({"x": xb, "y": yb})), g


def numpy_lenet_reference(size):
    """The yardstick for the training step: the NumPy reference on LeNet's two convs."""
    x1, w1, b1, g1 = case_arrays(size, 1, 28, 6, 5, 2)
    x2, w2, b2, g2 = case_arrays(size, 6, 14, 16, 5, 0)
    a, b = numpy_conv_step(x1, w1, b1, g1, 2, False), numpy_conv_step(x2, w2, b2, g2, 0, True)
    return lambda: (a(), b())


# --------------------------------------------------------------------------- PyTorch child

TORCH_SCRIPT = r"""
import json, os, sys, statistics
import numpy as np
import torch
threads = int(os.environ.get("OMP_NUM_THREADS", "1"))
torch.set_num_threads(threads)
quick, repeats = sys.argv[1] == "1", int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from benchmarks import conv as bench
from benchmarks.timing import interleaved
F = torch.nn.functional
out = {"torch_version": torch.__version__, "threads": torch.get_num_threads()}
for name, (n, cin, size, cout, k, pad, need_x) in (bench.QUICK_CASES if quick else bench.CASES).items():
    x, w, b, seed = bench.case_arrays(n, cin, size, cout, k, pad)
    tx = torch.tensor(x, requires_grad=need_x)
    tw, tb, ts = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True), torch.tensor(seed)
    def torch_step():
        tx.grad = tw.grad = tb.grad = None
        F.conv2d(tx, tw, tb, padding=pad).backward(ts)
        return tw.grad
    times = interleaved({"torch": torch_step, "numpy": bench.numpy_conv_step(x, w, b, seed, pad, need_x)},
                        repeats, warmup=2)
    out[name] = statistics.median(times["torch"]) / statistics.median(times["numpy"])
size = 8 if quick else 128
params = bench.lenet_params()
xb, yb = bench.lenet_batch(size)
model = torch.nn.Sequential(
    torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
    torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(), torch.nn.Linear(84, 10))
with torch.no_grad():
    for layer, (wk, bk) in zip([model[0], model[3], model[7], model[9], model[11]],
                               [("c1w", "c1b"), ("c2w", "c2b"), ("f1w", "f1b"), ("f2w", "f2b"), ("f3w", "f3b")]):
        value = params[wk] if params[wk].ndim == 4 else params[wk].T
        layer.weight.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        layer.bias.copy_(torch.from_numpy(params[bk]))
optimizer = torch.optim.SGD(model.parameters(), lr=bench.LR)
loss_fn = torch.nn.CrossEntropyLoss()
tx, ty = torch.from_numpy(xb), torch.from_numpy(yb)
def lenet_step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(tx), ty)
    loss.backward()
    optimizer.step()
    return loss
times = interleaved({"torch": lenet_step, "numpy": bench.numpy_lenet_reference(size)}, repeats, warmup=3)
out["LeNet step"] = statistics.median(times["torch"]) / statistics.median(times["numpy"])
out["lenet_first_loss"] = float(loss_fn(model(tx), ty))
print(json.dumps(out))
"""


def torch_ratios(quick: bool, repeats: int):
    return run_torch_child(TORCH_SCRIPT, "1" if quick else "0", repeats, what="PyTorch conv comparison")


# --------------------------------------------------------------------------- run

def _check_same(engine, reference):
    for got, want in zip(engine(), reference()):
        if want is not None:
            np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def run(quick: bool = False) -> list[Row]:
    repeats = 3 if quick else 9
    threads = os.environ.get("OMP_NUM_THREADS", "1")
    cases = QUICK_CASES if quick else CASES
    torch = None if quick else torch_ratios(quick, repeats)
    version = torch["torch_version"] if torch else ""
    rows = []
    load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start" \
        if hasattr(os, "getloadavg") else ""
    for name, (n, cin, size, cout, k, pad, need_x) in cases.items():
        x, w, b, seed = case_arrays(n, cin, size, cout, k, pad)
        engine = engine_conv_step(x, w, b, seed, pad, need_x)
        reference = numpy_conv_step(x, w, b, seed, pad, need_x)
        _check_same(engine, reference)
        times = interleaved({"engine": engine, "numpy": reference}, repeats, warmup=2)
        engine_time, numpy_time = median(times["engine"]), median(times["numpy"])
        blas, gflop = blas_share(x, w, seed, pad, need_x, repeats)
        limit = (f"BLAS matmuls alone {blas * 1e3:.3g} ms = {100 * blas / engine_time:.0f}% of the engine's time, "
                 f"{gflop / engine_time:.3g} GFLOP/s overall, {gflop / blas:.3g} GFLOP/s in the matmuls; the rest is "
                 "im2col / col2im copies and the graph")
        shape = f"batch {n}, {cin}→{cout} channels, {k}×{k}, {size}×{size}, padding {pad}" + (
            "" if need_x else ", no dx")
        rows.append(Row(NAME, f"{name} ({shape}): conv2d forward + backward", engine_time, numpy_time,
                        "hand-written NumPy (sliding_window_view + tensordot)", note=limit))
        if quick:
            rows.append(Row(NAME, f"{name}: against PyTorch eager", note="skipped in quick mode"))
        elif torch is None:
            rows.append(Row(NAME, f"{name}: against PyTorch eager",
                            note="not measured: torch is not installed (pip install torch to compare)"))
        else:
            ratio = torch[name]
            rows.append(Row(NAME, f"{name}: against PyTorch {version} eager CPU ({threads} thread(s))",
                            engine_time / numpy_time, ratio, f"PyTorch {version}", target=TARGET_TORCH,
                            unit="× NumPy",
                            note=f"engine / torch = {engine_time / numpy_time / ratio:.2f}×; torch ≈ "
                                 f"{ratio * numpy_time * 1e3:.3g} ms = {gflop / (ratio * numpy_time):.3g} GFLOP/s "
                                 f"against the engine's {gflop / engine_time:.3g} (torch's conv kernels against "
                                 f"OpenBLAS sgemm on im2col columns; {load})"))
    # the LeNet training step
    size = 8 if quick else 128
    params = lenet_params()
    xb, yb = lenet_batch(size)
    step, _ = engine_lenet_step(params)
    reference = numpy_lenet_reference(size)
    times = interleaved({"engine": lambda: step(xb, yb), "numpy": reference}, repeats, warmup=3)
    engine_time, numpy_time = median(times["engine"]), median(times["numpy"])
    rows.append(Row(NAME, f"LeNet training step, batch {size}: compile_step (forward + backward + SGD)", engine_time,
                    numpy_time, "NumPy reference of its two convs (the yardstick)",
                    note="conv1, conv2, max pools, three dense layers, cross-entropy, SGD"))
    if quick:
        rows.append(Row(NAME, f"LeNet training step, batch {size}: against PyTorch eager", note="skipped in quick mode"))
    elif torch is None:
        rows.append(Row(NAME, f"LeNet training step, batch {size}: against PyTorch eager",
                        note="not measured: torch is not installed (pip install torch to compare)"))
    else:
        ratio = torch["LeNet step"]
        rows.append(Row(NAME, f"LeNet training step, batch {size}: against PyTorch {version} eager CPU "
                              f"({threads} thread(s))", engine_time / numpy_time, ratio, f"PyTorch {version}",
                        target=TARGET_TORCH, unit="× NumPy",
                        note=f"engine / torch = {engine_time / numpy_time / ratio:.2f}×; torch ≈ "
                             f"{ratio * numpy_time * 1e3:.3g} ms, engine {engine_time * 1e3:.3g} ms per step; {load}"))
    return rows
