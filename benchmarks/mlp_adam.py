"""Benchmark 2b: a wider MLP trained with Adam, against a hand-written NumPy floor.

784-512-512-10, ReLU hidden layers, softmax cross-entropy (mean over the batch), Adam
(lr 1e-3, β₁ 0.9, β₂ 0.999, ε 1e-8), float32, batch 256. One call is one training step on
a fixed batch: forward, backward and the Adam update of all six params.

* engine: ``step = ge.compile_step(loss, ge.optimizers.create("adam", g.params(), lr=1e-3))``,
  then ``step(feeds)``; target ≤ 1.02× the NumPy floor;
* engine, default path (``g.forward(feeds)`` + ``run.backward`` + ``opt.step``), for scale;
* reference, the NumPy floor (:class:`NumpyAdamStep`): forward, backward and an in-place
  Adam written by hand into buffers allocated once: matmuls with ``out=``, ReLU with
  ``np.maximum(z, 0, out=z)``, its backward as a multiply by a preallocated boolean mask,
  the softmax cross-entropy gradient as softmax − one-hot in place, no dL/dx for the data,
  and Adam as in-place moment updates with the bias corrections folded into two scalars;
* PyTorch eager (when installed), ``nn.Sequential`` + ``CrossEntropyLoss`` +
  ``optim.Adam``, one thread, in a child process against the same floor measured there.

Before timing, three steps of the engine and of the floor are checked to give the same
loss and the same parameters (float32 rounding apart).
"""

from __future__ import annotations

import numpy as np

from .timing import Row, interleaved, median, run_torch_child

NAME = "MLP 784-512-512-10 ReLU, Adam"
TARGET = 1.02
SIZES = (784, 512, 512, 10)
BATCH = 256
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
STEPS_PER_ROUND = 3
PARAM_NAMES = ("W1", "b1", "W2", "b2", "W3", "b3")


def initial_params(seed: int = 0, sizes=SIZES):
    rng = np.random.default_rng(seed)
    params = {}
    for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{k}"] = (rng.normal(size=(n_in, n_out)) * np.sqrt(2 / n_in)).astype(np.float32)
        params[f"b{k}"] = np.zeros(n_out, dtype=np.float32)
    return params


def batch(size: int, seed: int = 1, sizes=SIZES):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(size, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=size)
    return x, y


def build_graph(params, sizes=SIZES):
    import graphengine as ge

    g = ge.Graph("mlp-adam")
    x = g.input("x", shape=(None, sizes[0]), dtype="float32")
    y = g.input("y", shape=(None,), dtype="int64")
    W1, b1, W2, b2, W3, b3 = (g.param(name, params[name].copy()) for name in PARAM_NAMES)
    h = ge.ops.relu(x @ W1 + b1)
    h = ge.ops.relu(h @ W2 + b2)
    loss = ge.ops.cross_entropy(h @ W3 + b3, y, reduction="mean")
    return g, loss


class NumpyAdamStep:
    """The floor: forward, backward and Adam by hand, in place, into buffers allocated once."""

    def __init__(self, params, size, sizes=SIZES):
        f32 = np.float32
        _, h1, h2, classes = sizes
        self.params = [params[k].copy() for k in PARAM_NAMES]
        self.grads = [np.empty_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.empty_like(p) for p in self.params]
        self.h1 = np.empty((size, h1), f32)
        self.h2 = np.empty((size, h2), f32)
        self.mask1 = np.empty((size, h1), bool)
        self.mask2 = np.empty((size, h2), bool)
        self.dh1 = np.empty((size, h1), f32)
        self.dh2 = np.empty((size, h2), f32)
        self.p = np.empty((size, classes), f32)
        self.rowmax = np.empty((size, 1), f32)
        self.rowsum = np.empty((size, 1), f32)
        self.rows = np.arange(size)
        self.scale = f32(1.0 / size)
        self.t = 0

    def __call__(self, x, y):
        W1, b1, W2, b2, W3, b3 = self.params
        dW1, db1, dW2, db2, dW3, db3 = self.grads
        h1, h2, p, rows = self.h1, self.h2, self.p, self.rows
        # forward
        np.matmul(x, W1, out=h1)
        h1 += b1
        np.maximum(h1, 0, out=h1)
        np.matmul(h1, W2, out=h2)
        h2 += b2
        np.maximum(h2, 0, out=h2)
        np.matmul(h2, W3, out=p)
        p += b3
        # softmax cross-entropy, mean over the batch
        np.max(p, axis=1, keepdims=True, out=self.rowmax)
        p -= self.rowmax
        loss = -np.mean(p[rows, y])                     # -(z_y - max) ...
        np.exp(p, out=p)
        np.sum(p, axis=1, keepdims=True, out=self.rowsum)
        loss += np.mean(np.log(self.rowsum))            # ... + log Σ exp(z - max)
        # backward: dL/dz3 = (softmax - onehot) / batch
        p /= self.rowsum
        p[rows, y] -= 1
        p *= self.scale
        np.matmul(h2.T, p, out=dW3)
        np.sum(p, axis=0, out=db3)
        np.matmul(p, W3.T, out=self.dh2)
        np.greater(h2, 0, out=self.mask2)
        np.multiply(self.dh2, self.mask2, out=self.dh2)
        np.matmul(h1.T, self.dh2, out=dW2)
        np.sum(self.dh2, axis=0, out=db2)
        np.matmul(self.dh2, W2.T, out=self.dh1)
        np.greater(h1, 0, out=self.mask1)
        np.multiply(self.dh1, self.mask1, out=self.dh1)
        np.matmul(x.T, self.dh1, out=dW1)
        np.sum(self.dh1, axis=0, out=db1)
        # Adam, in place: W -= lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + ε)
        self.t += 1
        step_size = LR / (1 - BETA1 ** self.t)
        v_scale = 1 / np.sqrt(1 - BETA2 ** self.t)
        for W, g, m, v, tmp in zip(self.params, self.grads, self.m, self.v, self.tmp):
            m *= BETA1
            np.multiply(g, 1 - BETA1, out=tmp)
            m += tmp
            v *= BETA2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - BETA2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= v_scale
            tmp += EPS
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            W -= tmp
        return loss


def engine_compiled(params):
    import graphengine as ge

    g, loss = build_graph(params)
    optimizer = ge.optimizers.create("adam", g.params(), lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS)
    step = ge.compile_step(loss, optimizer)
    return (lambda x, y: step({"x": x, "y": y})), g


def engine_default(params):
    import graphengine as ge

    g, loss = build_graph(params)
    optimizer = ge.optimizers.create("adam", g.params(), lr=LR, beta1=BETA1, beta2=BETA2, eps=EPS)

    def step(x, y):
        run = g.forward({"x": x, "y": y})
        run.backward(loss)
        optimizer.step(run)
        return run.value(loss)

    return step, g


def check_same_training(params, size, steps: int = 3, sizes=SIZES):
    """``steps`` steps of the engine and of the floor give the same losses and params."""
    x, y = batch(size, sizes=sizes)
    reference = NumpyAdamStep(params, size, sizes=sizes)
    compiled, g_compiled = engine_compiled(params)
    default, g_default = engine_default(params)
    for _ in range(steps):
        expected = float(reference(x, y))
        for fn in (compiled, default):
            np.testing.assert_allclose(float(fn(x, y)), expected, rtol=1e-4)
    for g in (g_compiled, g_default):
        for name, value in zip(PARAM_NAMES, reference.params):
            actual = g.node(name).value
            # Adam moves a weight by about lr whatever its gradient's size, so where a
            # gradient is ~0 float32 rounding may flip a step's sign: allow that for a
            # handful of entries (at most 0.1 %), bounded by the steps' size; the rest must
            # agree to float32 rounding.
            close = np.isclose(actual, value, rtol=1e-4, atol=1e-6)
            assert close.mean() >= 0.999, f"{name}: {np.count_nonzero(~close)} of {close.size} entries differ"
            assert np.max(np.abs(actual - value)) <= 2 * steps * LR, f"{name}: differs by more than {steps} steps"


TORCH_SCRIPT = r"""
import json, sys, statistics
import numpy as np
import torch
torch.set_num_threads(1)
size, repeats = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from benchmarks.mlp_adam import NumpyAdamStep, initial_params, batch, LR, BETA1, BETA2, EPS, STEPS_PER_ROUND
from benchmarks.timing import interleaved
params = initial_params()
x, y = batch(size)
model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512), torch.nn.ReLU(),
                            torch.nn.Linear(512, 10))
with torch.no_grad():
    for k, layer in zip((1, 2, 3), (model[0], model[2], model[4])):
        layer.weight.copy_(torch.from_numpy(params[f"W{k}"].T.copy())); layer.bias.zero_()
optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=(BETA1, BETA2), eps=EPS)
loss_fn = torch.nn.CrossEntropyLoss()
tx, ty = torch.from_numpy(x), torch.from_numpy(y)
def torch_step():
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(tx), ty)
    loss.backward()
    optimizer.step()
    return loss
reference = NumpyAdamStep(params, size)
times = interleaved({"torch": torch_step, "numpy": lambda: reference(x, y)}, repeats, warmup=3,
                    number=STEPS_PER_ROUND)
print(json.dumps({k: statistics.median(v) for k, v in times.items()} | {"torch_version": torch.__version__}))
"""


def run(quick: bool = False) -> list[Row]:
    size = 32 if quick else BATCH
    repeats = 3 if quick else 21
    params = initial_params()
    check_same_training(params, size)
    x, y = batch(size)
    reference = NumpyAdamStep(params, size)
    compiled, _ = engine_compiled(params)
    times = interleaved({"compiled": lambda: compiled(x, y), "numpy": lambda: reference(x, y)},
                        repeats, warmup=3, number=STEPS_PER_ROUND)
    compiled_time, numpy_time = median(times["compiled"]), median(times["numpy"])
    rows = [Row(NAME, f"batch {size}: compile_step (forward+backward+Adam)", compiled_time, numpy_time,
                "NumPy floor", target=TARGET,
                note="three steps checked to train the same params as the floor")]
    reference = NumpyAdamStep(params, size)
    default, _ = engine_default(params)
    times = interleaved({"default": lambda: default(x, y), "numpy": lambda: reference(x, y)},
                        max(repeats // 2, 3), warmup=3, number=STEPS_PER_ROUND)
    default_time, numpy_default = median(times["default"]), median(times["numpy"])
    rows.append(Row(NAME, f"batch {size}: default path g.forward(feeds) + run.backward + opt.step", default_time,
                    numpy_default, "NumPy floor", note="for scale (no target)"))
    if quick:
        rows.append(Row(NAME, f"batch {size}: PyTorch eager", note="skipped in quick mode"))
        return rows
    data = run_torch_child(TORCH_SCRIPT, size, repeats, what="PyTorch Adam comparison")
    if data is None:
        rows.append(Row(NAME, f"batch {size}: PyTorch eager", note="not measured: torch is not installed"))
    else:
        ratio = data["torch"] / data["numpy"]
        rows.append(Row(NAME, f"batch {size}: PyTorch {data['torch_version']} eager CPU", ratio * numpy_time,
                        numpy_time, "NumPy floor",
                        note=f"compile_step / torch = {compiled_time / numpy_time / ratio:.2f}× (torch timed in a "
                             "child process against its own NumPy floor; this row is that ratio)"))
    return rows
