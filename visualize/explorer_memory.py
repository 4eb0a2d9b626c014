"""The explorer's memory overlay: what a *fetched* run keeps and frees, step by step.

A recording run (``g.forward(feeds)``) keeps every value so that it can be inspected. A
training step runs ``g.forward(feeds, fetch=[loss])`` instead, and the program it runs
(:class:`graphengine.program.Program`) frees each value after its last reader unless
backward needs it, then releases those as the backward sweep passes their last reader.
This module reads that program's liveness tables (it runs nothing) and, with the sizes
of the recorded values, says for every node when its value is created and freed in the
explorer's step sequence, why it is kept, and how many bytes of values are alive after
each step.
"""

from __future__ import annotations

from graphengine.errors import ValueNotAvailableError
from graphengine.node import CONST, INPUT, OP, PARAM
from graphengine.program import get_program



def memory_timeline(graph, run, page: dict) -> dict:
    """{"nodes": {id: {...}}, "live_bytes": [bytes after step k for k = 0..steps],
    "peak": bytes, "target": name} for ``page`` (the dict of :func:`explorer_data.collect`)."""
    target = run.target
    fetch = [target] if target is not None else [n for n in graph.outputs() if run.ran(n)]
    if not fetch:
        return {"nodes": {}, "live_bytes": [0] * (len(page["steps"]) + 1), "peak": 0, "fetch": []}
    program = get_program(graph, [n.id for n in fetch], keep_all=False)
    steps = page["steps"]
    forward_at = {s["node"]: k for k, s in enumerate(steps, start=1) if s["phase"] == "forward"}
    backward_at = {s["node"]: k for k, s in enumerate(steps, start=1) if s["phase"] == "backward"}
    last = len(steps)
    info = {}
    for node in graph.nodes():
        if node.id not in program.slot:
            if run.ran(node):
                info[node.id] = {"status": "skipped", "why": "a run fetching only "
                                 + ", ".join(n.name for n in fetch) + " does not compute it"}
            continue
        nbytes = _bytes(run, node)
        if node.kind in (PARAM, CONST):
            info[node.id] = {"status": "owned", "bytes": nbytes,
                             "why": f"a {node.kind}: the graph owns its array; runs only refer to it"}
            continue
        s = program.slot[node.id]
        why = ("fetched" if s in program.fetch_slots else "an input: the run keeps a copy of what was fed"
               if node.kind == INPUT else "kept for backward (its op or a consumer's backward reads it)"
               if s in program.keep else "")
        info[node.id] = {"status": "value", "bytes": nbytes, "born": forward_at.get(node.id, 0), "freed": None,
                         "why": why, "slot": s}
    # forward: values nobody keeps are freed after their last reader
    for k, step in enumerate(program.steps):
        for slot in program.free_after[k]:
            node = program.order[slot]
            reader = step.node.id
            entry = info.get(node.id)
            if entry is not None and entry["status"] == "value":
                entry["freed"] = forward_at.get(reader, entry["born"])
                entry["why"] = f"freed after its last reader, {step.node.name!r}, ran"
                if slot in program.shape_only:
                    entry["why"] += " (only its shape is kept, to sum a gradient back)"
    # backward: values only backward read are released after their last backward reader
    if target is not None and program.slot.get(target.id) is not None:
        backward = program.backward(program.slot[target.id])
        for k, (step, _) in enumerate(backward.steps):
            for slot, _keep_shape in (backward.release[k] if backward.release else ()):
                node = program.order[slot]
                entry = info.get(node.id)
                if entry is not None and entry["status"] == "value" and entry["freed"] is None:
                    entry["freed"] = backward_at.get(step.node.id, last)
                    entry["why"] = (f"kept for backward, released after {step.node.name!r}'s backward, "
                                    "its last reader")
    live = []
    for k in range(last + 1):
        total = 0
        for entry in info.values():
            if entry["status"] == "value" and entry["born"] <= k and (entry["freed"] is None or k < entry["freed"]):
                total += entry["bytes"]
        live.append(total)
    for entry in info.values():
        entry.pop("slot", None)
    return {"nodes": {str(k): v for k, v in sorted(info.items())}, "live_bytes": live, "peak": max(live),
            "fetch": [n.name for n in fetch]}


def _bytes(run, node) -> int:
    if node.kind not in (OP, INPUT):
        return int(getattr(node.value, "nbytes", 0))
    try:
        return int(getattr(run.value(node), "nbytes", 0))
    except ValueNotAvailableError:  # a value the run did not keep counts as unknown (0 bytes)
        return 0


__all__ = ["memory_timeline"]
