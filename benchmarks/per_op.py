"""Benchmark 1: per-op overhead.

A chain of 2,000 ops cycling add, mul, tanh on a 1×8 float32 array (a param, so the whole
chain is differentiated), summed to a scalar loss; one call is forward, backward and
reading the param's gradient. The arrays are so small that the time is almost all
per-op overhead.

* engine: ``g.forward({}, fetch=[loss])``, ``run.backward(loss)``, ``run.grad(x)`` (the
  plan is compiled and its code generated during the warm-up);
* reference: a hand-written NumPy loop over the same ops that records what backward
  needs on a tape and walks it back (add passes the gradient through, mul multiplies by
  the constant, tanh by 1 - y²);
* PyTorch eager (when torch is installed), in a child process so this process never
  imports torch, against the same NumPy loop measured there.

Target: engine ≤ 1.15× the NumPy loop.
"""

from __future__ import annotations


import numpy as np

from .timing import Row, interleaved, median, run_torch_child

NAME = "per-op overhead"
TARGET = 1.15
KINDS = ("add", "mul", "tanh")


def build_chain(length: int, dtype=np.float32):
    import graphengine as ge

    g = ge.Graph("chain")
    x = g.param("x", np.full((1, 8), 0.1, dtype=dtype))
    c = g.const(np.full((1, 8), 0.5, dtype=dtype), name="c")
    h = x
    for i in range(length):
        kind = KINDS[i % 3]
        if kind == "add":
            h = h + c
        elif kind == "mul":
            h = h * c
        else:
            h = ge.ops.tanh(h)
    loss = ge.ops.sum(h, name="loss")
    return g, x, loss


def numpy_loop(length: int, dtype=np.float32):
    """The hand-written reference: forward with a tape, backward walking it back."""
    x = np.full((1, 8), 0.1, dtype=dtype)
    c = np.full((1, 8), 0.5, dtype=dtype)
    kinds = [KINDS[i % 3] for i in range(length)]
    tanh = np.tanh

    def step():
        h = x
        tape = []
        for kind in kinds:
            if kind == "add":
                h = h + c
            elif kind == "mul":
                h = h * c
            else:
                h = tanh(h)
            tape.append((kind, h))
        h.sum()
        grad = np.ones_like(h)
        for kind, out in reversed(tape):
            if kind == "mul":
                grad = grad * c
            elif kind == "tanh":
                grad = grad * (1 - out * out)
        return grad

    return step


def engine_step(g, x, loss):
    def step():
        run = g.forward({}, fetch=[loss])
        run.backward(loss)
        return run.grad(x)

    return step


def recording_step(g, x, loss):
    def step():
        run = g.forward({})
        run.backward(loss)
        return run.grad(x)

    return step


TORCH_SCRIPT = r"""
import json, sys, time, statistics, gc
import numpy as np
import torch
torch.set_num_threads(1)
length, repeats = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, sys.argv[3])
from benchmarks.per_op import numpy_loop, KINDS
from benchmarks.timing import interleaved
kinds = [KINDS[i % 3] for i in range(length)]
x = torch.full((1, 8), 0.1, dtype=torch.float32, requires_grad=True)
c = torch.full((1, 8), 0.5, dtype=torch.float32)
def torch_step():
    x.grad = None
    h = x
    for kind in kinds:
        if kind == "add":
            h = h + c
        elif kind == "mul":
            h = h * c
        else:
            h = torch.tanh(h)
    h.sum().backward()
    return x.grad
times = interleaved({"torch": torch_step, "numpy": numpy_loop(length)}, repeats)
print(json.dumps({k: statistics.median(v) for k, v in times.items()} | {"torch_version": torch.__version__}))
"""


def torch_ratio(length: int, repeats: int):
    """(torch median / NumPy-loop median measured in a child process, torch version), or None."""
    data = run_torch_child(TORCH_SCRIPT, length, repeats, timeout=600)
    return None if data is None else (data["torch"] / data["numpy"], data["torch_version"])


def run(quick: bool = False) -> list[Row]:
    length = 200 if quick else 2000
    repeats = 5 if quick else 41
    g, x, loss = build_chain(length)
    reference = numpy_loop(length)
    np.testing.assert_allclose(engine_step(g, x, loss)(), reference(), rtol=1e-5)
    times = interleaved({
        "engine": engine_step(g, x, loss),
        "numpy": reference,
        "recording": recording_step(g, x, loss),
    }, repeats)
    engine, numpy_time, recording = (median(times[k]) for k in ("engine", "numpy", "recording"))
    per_op = {"per_op_engine": engine / length, "per_op_reference": numpy_time / length}
    rows = [
        Row(NAME, f"{length}-op chain, forward+backward, fetch=[loss]", engine, numpy_time, "NumPy loop",
            target=TARGET, note=f"{engine / length * 1e6:.2f} µs/op against {numpy_time / length * 1e6:.2f} µs/op",
            extra=per_op),
        Row(NAME, f"{length}-op chain, recording run (fetch=None)", recording, numpy_time, "NumPy loop",
            note=f"{recording / length * 1e6:.2f} µs/op; keeps every value and gradient (diagrams, debugging)"),
    ]
    torch = None if quick else torch_ratio(length, repeats)
    if quick:
        rows.append(Row(NAME, "PyTorch eager", note="skipped in quick mode"))
    elif torch is None:
        rows.append(Row(NAME, "PyTorch eager", note="torch not installed: not measured"))
    else:
        ratio, version = torch
        rows.append(Row(NAME, f"PyTorch {version} eager, same chain", ratio * numpy_time, numpy_time, "NumPy loop",
                        note=f"engine / torch = {engine / (ratio * numpy_time):.2f}× "
                             "(torch timed in a child process against its own NumPy loop)"))
    return rows
