"""Benchmark 1: per-op overhead.

A chain of 2,000 ops cycling add, mul, tanh on a 1×8 float32 array (a param, so the whole
chain is differentiated), summed to a scalar loss; one call is forward, backward and
reading the param's gradient. The arrays are so small that the time is almost all
per-op overhead.

* engine, default path (what the README teaches first): ``run = g.forward({})`` (no
  fetch: a recording run that keeps every value and gradient), ``run.backward(loss)``,
  ``run.grad(x)``; target ≤ 1.15× the NumPy loop;
* engine, fetched path: ``g.forward({}, fetch=[loss])``, ``run.backward(loss)``,
  ``run.grad(x)``; target ≤ 1.00× the NumPy loop;
* reference: a hand-written NumPy loop over the same ops that records what backward
  needs on a tape and walks it back (add passes the gradient through, mul multiplies by
  the constant, tanh by 1 - y²);
* PyTorch eager (when torch is installed), in a child process so this process never
  imports torch, against the same NumPy loop measured there; its row is that ratio.

All three in-process callables are checked to give the same gradient, then timed
interleaved after a warm-up (plans compiled, code generated).
"""

from __future__ import annotations


import numpy as np

from .timing import Row, interleaved, median, run_torch_child

NAME = "per-op overhead"
TARGET = 1.15          # default path (recording run)
TARGET_FETCHED = 1.00  # fetch=[loss]
WARMUP = 20            # calls of each before timing (plans, generated code, caches)
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


def default_step(g, x, loss):
    """The path the README teaches first: a recording run (no fetch), backward, the grad."""
    def step():
        run = g.forward({})
        run.backward(loss)
        return run.grad(x)

    return step


def fetched_step(g, x, loss):
    """The fetched path: only what ``loss`` needs runs, only what backward reads is kept."""
    def step():
        run = g.forward({}, fetch=[loss])
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
times = interleaved({"torch": torch_step, "numpy": numpy_loop(length)}, repeats, warmup=20)
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
    expected = reference()
    for make in (default_step, fetched_step):
        np.testing.assert_allclose(make(g, x, loss)(), expected, rtol=1e-5)
    times = interleaved({
        "default": default_step(g, x, loss),
        "fetched": fetched_step(g, x, loss),
        "numpy": reference,
    }, repeats, warmup=2 if quick else WARMUP)
    default, fetched, numpy_time = (median(times[k]) for k in ("default", "fetched", "numpy"))
    us = 1e6 / length
    rows = [
        Row(NAME, f"{length}-op chain, default path: g.forward({{}}) + run.backward + run.grad", default,
            numpy_time, "NumPy loop", target=TARGET,
            note=f"{default * us:.2f} µs/op against {numpy_time * us:.2f} µs/op; a recording run "
                 "(keeps every value and gradient)",
            extra={"per_op_engine": default / length, "per_op_reference": numpy_time / length}),
        Row(NAME, f"{length}-op chain, fetch=[loss] + run.backward + run.grad", fetched, numpy_time,
            "NumPy loop", target=TARGET_FETCHED,
            note=f"{fetched * us:.2f} µs/op against {numpy_time * us:.2f} µs/op",
            extra={"per_op_engine": fetched / length, "per_op_reference": numpy_time / length}),
    ]
    torch = None if quick else torch_ratio(length, repeats)
    if quick:
        rows.append(Row(NAME, "PyTorch eager", note="skipped in quick mode"))
    elif torch is None:
        rows.append(Row(NAME, "PyTorch eager", note="not measured: torch is not installed "
                                                   "(pip install torch to compare)"))
    else:
        ratio, version = torch
        torch_time = ratio * numpy_time
        rows.append(Row(NAME, f"PyTorch {version} eager, same chain", torch_time, numpy_time, "NumPy loop",
                        note=f"{torch_time * us:.2f} µs/op; default path / torch = {default / torch_time:.2f}×, "
                             f"fetched / torch = {fetched / torch_time:.2f}× (torch timed in a child process "
                             "against its own NumPy loop; this row is that ratio)"))
    return rows
