"""Benchmark 4: peak memory.

**A. Fetched forward + backward against the live-set minimum.** A deep MLP: 16 tanh
layers of width 256, batch 512, float32, a 10-class softmax cross-entropy on top (every
activation 512 KiB, every weight 256 KiB). The engine's number is the ``tracemalloc``
peak (NumPy reports every array buffer it allocates to it) above a baseline where params
and feeds exist, during ``run = g.forward(feeds, fetch=[loss])`` + ``run.backward(loss)``
after warm-up runs. Target ≤ 1.2× the live-set minimum.

The live-set minimum is computed, not measured, from public attributes only: the graph
structure (``node.inputs``, ``node.kind``, ``node.op``), each op's declared ``saves``
(the op instance from ``g.plugins.get_op(node.op)``) and the value sizes of a recording
run. It is the peak of an ideal executor that runs the ops in creation order (any
topological order where the graph was rewired), holds each value from the step that
makes it to the last step that reads it (forward consumers, and the backward of every
consumer whose ``saves`` names ``"inputs"``, and its own backward where ``saves`` names
``"output"``), computes gradients only for nodes a param feeds, holds each gradient from
the backward step that first makes it until its node's backward step ran, sums further
contributions in place, keeps the param gradients to the end and allocates nothing else.
An op that declares more than its backward reads (an add whose backward needs only the
shapes of its inputs) raises the minimum; an engine that knows better can then go below it.

**B. ``compile_step`` against PyTorch.** A 20-layer × 512 ReLU MLP (10 classes, softmax
cross-entropy, SGD lr 0.01), batch 256, float32. Each side runs in its own fresh process
(``python -m benchmarks.memory engine|torch ...``): it builds the model and the batch,
collects garbage, resets the kernel's resident-set high-water mark (``/proc/self/clear_refs``)
and reads the RSS, runs 6 training steps (``step(feeds)``; ``zero_grad(set_to_none=True)``,
forward, ``backward``, ``step``), and reports the high-water mark minus that RSS. Both
sides are measured by the same kernel counter through the same C allocator, with one
BLAS / OpenMP thread, so buffers kept between steps, gradients, saved activations,
temporaries and allocator caching all count alike. Target ≤ 1.1× PyTorch's.

A hand-written NumPy forward/backward of the A network (fresh arrays) is shown for scale.
"""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np

from .timing import Row

NAME = "peak memory, deep MLP"
TARGET = 1.2            # fetched forward+backward over the live-set minimum
TARGET_TORCH = 1.1      # compile_step peak RSS growth over PyTorch eager's
TORCH_MODEL = (20, 512, 256)  # depth, width, batch of the MLP compared with PyTorch


def deep_params(depth: int, width: int, classes: int = 10, seed: int = 0) -> dict:
    """The deep MLP's params as NumPy arrays: W{k} (width, width), b{k}, W_out, b_out."""
    rng = np.random.default_rng(seed)
    params = {}
    for layer in range(depth):
        params[f"W{layer}"] = (rng.normal(size=(width, width)) / np.sqrt(width)).astype(np.float32)
        params[f"b{layer}"] = np.zeros(width, dtype=np.float32)
    params["W_out"] = (rng.normal(size=(width, classes)) / np.sqrt(width)).astype(np.float32)
    params["b_out"] = np.zeros(classes, dtype=np.float32)
    return params


def build(depth: int, width: int, classes: int = 10, seed: int = 0, activation: str = "tanh"):
    import graphengine as ge

    params = deep_params(depth, width, classes, seed)
    act = getattr(ge.ops, activation)
    g = ge.Graph("deep-mlp")
    x = g.input("x", shape=(None, width), dtype="float32")
    y = g.input("y", shape=(None,), dtype="int64")
    h = x
    for layer in range(depth):
        W = g.param(f"W{layer}", params.pop(f"W{layer}"))
        b = g.param(f"b{layer}", params.pop(f"b{layer}"))
        h = act(h @ W + b)
    W = g.param("W_out", params.pop("W_out"))
    b = g.param("b_out", params.pop("b_out"))
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


def schedule(loss) -> list:
    """The nodes ``loss`` needs, in an order an executor may run them: creation order
    where that is topological (an op's inputs are made before it unless the graph was
    rewired), else a depth-first post-order. Read through ``node.inputs`` only."""
    needed, stack = {}, [loss]
    while stack:
        node = stack.pop()
        if node.id not in needed:
            needed[node.id] = node
            stack.extend(node.inputs)
    order = sorted(needed.values(), key=lambda n: n.id)
    position = {n.id: i for i, n in enumerate(order)}
    if all(position[i.id] < position[n.id] for n in order for i in n.inputs):
        return order
    order, done = [], set()
    stack = [(loss, False)]
    while stack:
        node, expanded = stack.pop()
        if node.id in done:
            continue
        if expanded:
            done.add(node.id)
            order.append(node)
        else:
            stack.append((node, True))
            stack.extend((i, False) for i in reversed(node.inputs) if i.id not in done)
    return order


def live_set_minimum(g, loss, feeds) -> dict:
    """The peak of an ideal executor of forward + backward (see the module docstring).

    Computed from public attributes only: the graph structure (``node.inputs``,
    ``node.kind``, ``node.op``), each op's declared ``saves`` and ``differentiable``
    (the op instance from ``g.plugins.get_op(node.op)``), and the sizes of the values a
    recording run gives (``run.value``). A gradient has its node's size.
    Returns {"peak": bytes, "forward_peak": bytes, "values": count of values kept for backward}.
    """
    order = schedule(loss)
    ops = [n for n in order if n.kind == "op"]
    impl = {n.id: g.plugins.get_op(n.op) for n in ops}
    recorded = g.forward(feeds)
    size = {n.id: nbytes(recorded.value(n)) for n in ops}
    for n in order:
        if n.kind == "param":
            size[n.id] = nbytes(n.value)
    # which nodes get a gradient: params, and differentiable ops with such an input
    needs_grad = {}
    for n in order:
        if n.kind == "param":
            needs_grad[n.id] = True
        elif n.kind == "op":
            needs_grad[n.id] = impl[n.id].differentiable and any(needs_grad.get(i.id, False) for i in n.inputs)
        else:
            needs_grad[n.id] = False
    # schedule positions: forward steps 0..F-1, then backward steps F.. in reverse order
    forward_pos = {n.id: t for t, n in enumerate(ops)}
    F = len(ops)
    backward = [n for n in reversed(ops) if needs_grad[n.id]]
    backward_pos = {n.id: F + b for b, n in enumerate(backward)}
    last_use = {n.id: forward_pos[n.id] for n in ops}
    kept_for_backward = set()
    for n in ops:
        for i in n.inputs:  # forward reads
            if i.id in last_use:
                last_use[i.id] = max(last_use[i.id], forward_pos[n.id])
        if n.id in backward_pos:  # backward reads, as the op declares them
            saves = impl[n.id].saves
            read = [i for i in n.inputs if i.kind == "op"] if "inputs" in saves else []
            if "output" in saves:
                read.append(n)
            for i in read:
                last_use[i.id] = max(last_use[i.id], backward_pos[n.id])
                kept_for_backward.add(i.id)
    last_use[loss.id] = F + len(backward)  # the loss is read after backward
    live = peak = 0
    alive = set()
    for t, n in enumerate(ops):
        live += size[n.id]
        alive.add(n.id)
        peak = max(peak, live)
        for v in [v for v in alive if last_use[v] <= t]:
            live -= size[v]
            alive.discard(v)
    forward_peak = peak
    grads = {loss.id}
    live += size[loss.id]
    for b, n in enumerate(backward):
        t = F + b
        for i in n.inputs:
            if needs_grad[i.id] and i.id not in grads:
                grads.add(i.id)
                live += size[i.id]  # contributions after the first are summed in place
        peak = max(peak, live)
        grads.discard(n.id)
        live -= size[n.id]
        for v in [v for v in alive if last_use[v] <= t]:
            live -= size[v]
            alive.discard(v)
    return {"peak": peak, "forward_peak": forward_peak, "values": len(kept_for_backward)}


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


# --------------------------------------------------------------------------- compile_step against PyTorch

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _reset_peak_rss() -> None:
    """Reset the kernel's resident-set high-water mark (VmHWM) to the current RSS."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss_unavailable() -> str | None:
    try:
        _status_kib("VmHWM")
        _reset_peak_rss()
    except OSError as exc:
        return f"needs Linux's /proc/self/status and clear_refs ({exc})"
    return None


def child_main(argv) -> None:
    """``python -m benchmarks.memory engine|torch DEPTH WIDTH BATCH STEPS``: in a fresh
    process, build the model and the batch, take the RSS, run STEPS training steps and
    print one JSON line: the peak RSS growth over all steps and over the steps after the
    first two (steady state), in bytes."""
    import json

    which, depth, width, batch, steps = argv[0], *(int(a) for a in argv[1:5])
    feeds = feeds_for(batch, width)
    if which == "engine":
        import graphengine as ge

        g, loss = build(depth, width, activation="relu")
        step_fn = ge.compile_step(loss, ge.optimizers.create("sgd", g.params(), lr=0.01))

        def step():
            step_fn(feeds)
        version = ge.__version__
    else:
        import torch

        torch.set_num_threads(1)
        params = deep_params(depth, width)
        layers = []
        for layer in range(depth + 1):
            key = f"{layer}" if layer < depth else "_out"
            linear = torch.nn.Linear(*params[f"W{key}"].shape)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(params[f"W{key}"].T.copy()))
                linear.bias.copy_(torch.from_numpy(params[f"b{key}"]))
            layers.append(linear)
            if layer < depth:
                layers.append(torch.nn.ReLU())
        del params
        model = torch.nn.Sequential(*layers)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        loss_fn = torch.nn.CrossEntropyLoss()
        tx, ty = torch.from_numpy(feeds["x"]), torch.from_numpy(feeds["y"])

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(tx), ty).backward()
            optimizer.step()
        version = torch.__version__
    gc.collect()
    _reset_peak_rss()
    base = _status_kib("VmRSS")
    for i in range(steps):
        if i == 2:
            first_two = _status_kib("VmHWM")
            _reset_peak_rss()
        step()
        gc.collect()
    steady = _status_kib("VmHWM")
    print(json.dumps({"peak": (max(first_two, steady) - base) * 1024, "steady": (steady - base) * 1024,
                      "after": (_status_kib("VmRSS") - base) * 1024, "version": version}))


def rss_child(which: str, depth: int, width: int, batch: int, steps: int = 6):
    """Run :func:`child_main` in a fresh process; its JSON, or None where it failed."""
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.memory", which, str(depth), str(width), str(batch),
                               str(steps)], cwd=root, env=env, capture_output=True, text=True, timeout=600,
                              check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"  (memory child {which} failed: {exc} {detail[-2000:]})", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[Row]:
    import importlib.util

    depth, width, batch = (4, 64, 64) if quick else (16, 256, 512)
    g, loss = build(depth, width)
    feeds = feeds_for(batch, width)
    params = {n.name: n.value for n in g.params()}
    minimum = live_set_minimum(g, loss, feeds)

    def engine():
        run_ = g.forward(feeds, fetch=[loss])
        run_.backward(loss)
        return run_

    for _ in range(3):
        engine()  # warm-up: whatever the engine prepares once per graph
    engine_peak = peak_above_baseline(engine)
    reference_peak = peak_above_baseline(lambda: numpy_reference(params, feeds, depth))
    shape = f"{depth}×{width} tanh, batch {batch}, float32"
    rows = [
        Row(NAME, f"{shape}: g.forward(fetch=[loss]) + run.backward", engine_peak, minimum["peak"],
            "live-set minimum", target=TARGET, unit="B",
            note=("below the minimum: some op declares more in `saves` than its backward reads; "
                  if engine_peak < minimum["peak"] else "") +
                 f"tracemalloc peak above params and feeds; the minimum keeps {minimum['values']} values for "
                 f"backward as the ops' `saves` declare, forward alone peaks at "
                 f"{minimum['forward_peak'] / 2**20:.2f} MiB"),
        Row(NAME, f"{shape}: hand-written NumPy (fresh arrays)", reference_peak, minimum["peak"], "live-set minimum",
            unit="B", note="for scale"),
    ]
    # compile_step against PyTorch, peak RSS growth in fresh processes
    depth, width, batch = (4, 64, 32) if quick else TORCH_MODEL
    what = f"{depth}×{width} ReLU MLP, batch {batch}, SGD: compile_step peak RSS growth"
    why = rss_unavailable()
    if why is not None:
        rows.append(Row(NAME, what, note=f"not measured: {why}"))
        return rows
    engine_data = rss_child("engine", depth, width, batch)
    torch_data = None
    if quick:
        torch_note = "PyTorch skipped in quick mode"
    elif importlib.util.find_spec("torch") is None:
        torch_note = "not judged: torch is not installed"
    else:
        torch_data = rss_child("torch", depth, width, batch)
        torch_note = "" if torch_data else "PyTorch child failed"
    if engine_data is None:
        rows.append(Row(NAME, what, note="the engine's child process failed (see stderr)"))
    elif torch_data is None:
        rows.append(Row(NAME, what, engine_data["peak"], unit="B",
                        note=f"steady {engine_data['steady'] / 2**20:.1f} MiB; {torch_note}"))
    else:
        rows.append(Row(NAME, what, engine_data["peak"], torch_data["peak"], f"PyTorch {torch_data['version']}",
                        target=TARGET_TORCH, unit="B",
                        note=f"fresh process each, 6 steps, VmHWM over the RSS with model and batch built; "
                             f"steady state (steps 3-6) {engine_data['steady'] / 2**20:.1f} MiB against "
                             f"{torch_data['steady'] / 2**20:.1f} MiB; held after the steps "
                             f"{engine_data['after'] / 2**20:.1f} MiB against {torch_data['after'] / 2**20:.1f} MiB"))
    return rows


if __name__ == "__main__":
    import sys

    child_main(sys.argv[1:])
