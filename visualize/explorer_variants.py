"""Folded layouts of an explorer page: its panes laid out again with scopes folded.

Clicking a scope's frame folds it into one box. So that the box takes only its own space
(the rest of the graph closes up around it), the page carries, for a bounded number of
folded sets, both panes laid out again by Graphviz with those scopes folded (see
``build_dot(..., folded=)``): each layer (the top-level scopes, or the sub-scopes of a
model, as ``draw(collapse=True)`` chooses them) and each top-level scope alone, every
layer at once, and the ``collapse=`` set the page starts with. They are embedded as
``<template data-folded="0,3" data-pane="f">`` elements, which the page's script swaps in
when the folded set has one; other combinations hide the nodes of the scope instead.

Bounds keep pages small and quick to build: at most :data:`MAX_FOLDED_SCOPES` single
scopes, only graphs of at most :data:`MAX_NODES` nodes, and at most
:data:`BUDGET_BYTES` of SVG for all the folded layouts together (a layout that would go
over is left out, and every one after it: the page stays deterministic).
"""

from __future__ import annotations

from .draw import _layer_scopes
from .explorer_layout import build_dot, render_svg

MAX_FOLDED_SCOPES = 10      # single scopes given a folded layout of their own
MAX_NODES = 400             # larger graphs: folding hides nodes instead (no extra layouts)
BUDGET_BYTES = 1_500_000    # SVG text of all folded layouts together


def folded_sets(page: dict, start=()) -> list:
    """The folded sets (sorted tuples of scope indices, outermost scopes only) that get a
    layout, most useful first: ``start`` (the scopes folded at the start), all layers at
    once, then each layer and top-level scope alone (layers first, at most
    MAX_FOLDED_SCOPES)."""
    scopes = page["scopes"]
    if not scopes or len(page["nodes"]) > MAX_NODES:
        return []
    index = {s["path"]: s["index"] for s in scopes}
    own = {n["scope"] for n in page["nodes"] if n["scope"]}
    layers = sorted(index[p] for p in _layer_scopes([s["path"] for s in scopes], own))
    top = [s["index"] for s in scopes if "/" not in s["path"] and s["index"] not in layers]
    chosen = []
    for folded in [tuple(sorted(start)), tuple(layers)] + [(i,) for i in (layers + top)[:MAX_FOLDED_SCOPES]]:
        if folded and folded not in chosen:
            chosen.append(folded)
    return chosen


def render_variants(page: dict, rankdir: str, names: dict, backward: bool, start=()) -> list:
    """``[(key, forward_svg, backward_svg or None), ...]``, key the folded indices joined
    by commas, within BUDGET_BYTES (in the order of :func:`folded_sets`)."""
    variants, used = [], 0
    for folded in folded_sets(page, start):
        forward = render_svg(build_dot(page, "forward", rankdir=rankdir, folded=folded), names, page["scopes"])
        back = (render_svg(build_dot(page, "backward", rankdir=rankdir, folded=folded), names, page["scopes"])
                if backward else None)
        used += len(forward) + len(back or "")
        if used > BUDGET_BYTES:
            break
        variants.append((",".join(str(i) for i in folded), forward, back))
    return variants


def variant_templates(variants: list) -> str:
    """The ``<template>`` elements of the folded layouts, for the page."""
    parts = []
    for key, forward, back in variants:
        parts.append(f'<template data-folded="{key}" data-pane="f">{forward}</template>')
        if back is not None:
            parts.append(f'<template data-folded="{key}" data-pane="b">{back}</template>')
    return "\n".join(parts)


__all__ = ["BUDGET_BYTES", "MAX_FOLDED_SCOPES", "MAX_NODES", "folded_sets", "render_variants", "variant_templates"]
