"""Benchmark 4: peak memory of forward and backward of a deep MLP.

16 hidden layers of width 256 (tanh), batch 512, float32, a 10-class softmax
cross-entropy on top: every activation is 512 KiB, every weight 256 KiB.

How it is measured: ``tracemalloc`` (NumPy reports every array buffer it allocates to
it), from a baseline where the params and the feeds already exist. The engine's number
is the peak above that baseline during one forward and backward, after warm-up runs:

* ``g.forward(feeds, fetch=[loss])`` then ``run.backward(loss)`` (generated code; the run
  keeps what backward reads until it is dropped, and the param gradients);
* ``compile_step(loss)`` (forward and backward only): its reused buffers, counted once,
  plus the peak of one step's temporaries. It trades memory for speed on purpose (the
  param gradients live in buffers kept between steps), so the target is the Run path's.

The live-set minimum is computed, not measured: the same schedule (same ops, same order)
run by an ideal executor that holds each array exactly from the step that makes it to
the last step that reads it (values read by backward included, only their shape where
that is all backward reads), sums gradient contributions in place and allocates nothing
else; param gradients are the result and live to the end. It is the peak, over the
schedule, of the bytes live at each step (inputs and output of the step together).

A hand-written NumPy forward/backward of the same network (fresh arrays, freed as Python
drops them) is shown for scale. Target: engine ≤ 1.2× the live-set minimum.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from .timing import Row

NAME = "peak memory, deep MLP"
TARGET = 1.2


def build(depth: int, width: int, classes: int = 10, seed: int = 0):
    import graphengine as ge

    rng = np.random.default_rng(seed)
    g = ge.Graph("deep-mlp")
    x = g.input("x", shape=(None, width), dtype="float32")
    y = g.input("y", shape=(None,), dtype="int64")
    h = x
    for layer in range(depth):
        W = g.param(f"W{layer}", (rng.normal(size=(width, width)) / np.sqrt(width)).astype(np.float32))
        b = g.param(f"b{layer}", np.zeros(width, dtype=np.float32))
        h = ge.ops.tanh(h @ W + b)
    W = g.param("W_out", (rng.normal(size=(width, classes)) / np.sqrt(width)).astype(np.float32))
    b = g.param("b_out", np.zeros(classes, dtype=np.float32))
    loss = ge.ops.cross_entropy(h @ W + b, y, reduction="mean")
    return g, loss


def feeds_for(batch: int, width: int, classes: int = 10, seed: int = 1):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(batch, width)).astype(np.float32), "y": rng.integers(0, classes, batch)}


def peak_above_baseline(fn) -> int:
    """Bytes allocated at the peak of ``fn()`` above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - baseline


def nbytes(value) -> int:
    return int(getattr(value, "nbytes", 0))


def live_set_minimum(g, loss, feeds) -> int:
    """The peak of an ideal executor of the engine's own schedule (see the module docstring)."""
    from graphengine.codegen import _placeholders, backward_template
    from graphengine.node import PARAM
    from graphengine.scheduler import get_backward_plan

    run = g.forward(feeds, fetch=[loss])   # compile the plan, then size every value and gradient
    recorded = g.forward(feeds)
    recorded.backward(loss)
    plan = run._plan
    bplan = get_backward_plan(plan, plan.slot[loss.id])
    values = {s: nbytes(recorded.value(n)) for s, n in enumerate(plan.order) if n.kind == "op"}
    grads = {s: nbytes(recorded._grads[plan.slot[n.id]]) for s, n in enumerate(plan.order)
             if recorded._grads[plan.slot[n.id]] is not None}
    forward_steps = [step[0] for step in plan.steps]
    last_use = {}  # value slot -> index in the whole schedule of its last read
    for t, (s, node, _, in_slots, _) in enumerate(plan.steps):
        for i in in_slots:
            last_use[i] = t
        last_use.setdefault(s, t)
    offset = len(forward_steps)
    backward_reads = []
    for b, (s, node, _, in_slots, _, needs, _) in enumerate(bplan.steps):
        impl = node._op_impl
        template = backward_template(impl, in_slots)
        reads = set()
        if template is None:
            reads.update(in_slots if "inputs" in impl.saves else ())
            if "output" in impl.saves:
                reads.add(s)
        else:
            for p, i in enumerate(in_slots):
                if needs[p] and template[p] is not None:
                    for field in _placeholders(template[p]):
                        reads.add(s if field == "output" else in_slots[int(field)] if field.isdigit() else None)
        reads.discard(None)
        backward_reads.append(reads)
        for i in reads:
            last_use[i] = offset + b
    live, peak = 0, 0
    alive_values = set()
    for t, s in enumerate(forward_steps):
        live += values.get(s, 0)
        alive_values.add(s)
        peak = max(peak, live)
        for i in list(alive_values):
            if last_use.get(i, t) <= t and i != plan.slot[loss.id]:
                live -= values.get(i, 0)
                alive_values.discard(i)
    alive_grads = {plan.slot[loss.id]}
    live += grads.get(plan.slot[loss.id], 0)
    params = {s for s, n in enumerate(plan.order) if n.kind == PARAM}
    for b, (s, node, _, in_slots, _, needs, _) in enumerate(bplan.steps):
        t = offset + b
        if s not in alive_grads:
            continue
        for i, need in zip(in_slots, needs):
            if need and i not in alive_grads:
                alive_grads.add(i)
                live += grads.get(i, 0)
        peak = max(peak, live)
        if s not in params:
            alive_grads.discard(s)
            live -= grads.get(s, 0)
        for i in list(alive_values):
            if last_use.get(i, t) <= t:
                live -= values.get(i, 0)
                alive_values.discard(i)
    return peak


def numpy_reference(params: dict, feeds: dict, depth: int):
    """Forward and backward by hand, fresh arrays, freed as they go out of use."""
    x, y = feeds["x"], feeds["y"]
    hs = [x]
    h = x
    for layer in range(depth):
        h = np.tanh(h @ params[f"W{layer}"] + params[f"b{layer}"])
        hs.append(h)
    z = h @ params["W_out"] + params["b_out"]
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    g = p / len(y)
    grads = {"W_out": hs[-1].T @ g, "b_out": g.sum(axis=0)}
    g = g @ params["W_out"].T
    for layer in reversed(range(depth)):
        out = hs.pop()
        g = g * (1 - out * out)
        grads[f"W{layer}"] = hs[-1].T @ g
        grads[f"b{layer}"] = g.sum(axis=0)
        g = g @ params[f"W{layer}"].T
    return grads


def run(quick: bool = False) -> list[Row]:
    from graphengine.training_step import compile_step

    depth, width, batch = (4, 64, 64) if quick else (16, 256, 512)
    g, loss = build(depth, width)
    feeds = feeds_for(batch, width)
    minimum = live_set_minimum(g, loss, feeds)

    def engine():
        run_ = g.forward(feeds, fetch=[loss])
        run_.backward(loss)
        return run_

    for _ in range(3):
        engine()  # the generated code from the second run on
    engine_peak = peak_above_baseline(engine)

    step = compile_step(loss)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    step(feeds)  # the first call probes the shapes and allocates the buffers
    tracemalloc.stop()
    held = sum(buffer.nbytes for buffer in step._last.buffers) + sum(
        nbytes(v) for k, v in step._last._fn.__globals__.items() if k.startswith(("ZERO", "SEED")))
    step_transient = peak_above_baseline(lambda: step(feeds))
    del base
    params = {n.name: n.value for n in g.params()}
    reference_peak = peak_above_baseline(lambda: numpy_reference(params, feeds, depth))
    shape = f"{depth}×{width} tanh, batch {batch}, float32"
    return [
        Row(NAME, f"{shape}: g.forward + run.backward", engine_peak, minimum, "live-set minimum", target=TARGET,
            unit="B", note="tracemalloc peak above params and feeds"),
        Row(NAME, f"{shape}: compile_step (buffers + one step's temporaries)", held + step_transient, minimum,
            "live-set minimum", unit="B",
            note=f"buffers {held / 2**20:.1f} MiB kept from step to step (the param gradients among them, "
                 f"so they exist before backward makes them), temporaries {step_transient / 2**20:.1f} MiB"),
        Row(NAME, f"{shape}: hand-written NumPy (fresh arrays)", reference_peak, minimum, "live-set minimum", unit="B"),
    ]
