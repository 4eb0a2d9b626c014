"""The diagram commands of the ``graphengine`` CLI.

``graphengine render MODEL.ge --mode both -o out.svg [--feeds feeds.npz]`` draws a saved
graph; ``graphengine demo`` calls :func:`demo_diagrams` to write the worked
examples. ``graphengine/cli.py`` wires these in: :func:`add_render_arguments` fills the
``render`` sub-parser and :func:`render_main` runs it.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import zipfile

import numpy as np

from graphengine.errors import require_file

from .diagram import FORMATS, GraphvizNotFoundError
from .draw import EDGE_LABELS, MODES

RENDER_FORMATS = FORMATS + ("dot",)


def add_render_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``render`` options to ``parser`` (a sub-parser of the graphengine CLI)."""
    parser.add_argument("model", help="a graph saved with g.save('model.ge')")
    parser.add_argument("-o", "--output", default=None,
                        help="file to write (default: MODEL with the format's suffix, e.g. model.svg)")
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="what to show (default: 'both' when the graph can run, else 'structure')")
    parser.add_argument("--feeds", default=None,
                        help="a .npz file with one array per input, keyed by the input's name (np.savez)")
    parser.add_argument("--format", choices=RENDER_FORMATS, default=None,
                        help="output format (default: from the output file's suffix, else svg)")
    parser.add_argument("--target", default=None,
                        help="node to run backward from (default: the graph's only output)")
    parser.add_argument("--collapse", default=None, metavar="SCOPES",
                        help="fold name scopes into boxes: 'all', a depth (0, 1, ...) or scope names "
                             "separated by commas")
    parser.add_argument("--heatmap", action="store_true", help="colour nodes and edges by gradient magnitude")
    add_number_arguments(parser)
    parser.add_argument("--rankdir", choices=("LR", "TB", "RL", "BT"), default=None,
                        help="layout direction (default: LR for graphs that fit a slide that way, else TB)")
    parser.add_argument("--edge-labels", choices=EDGE_LABELS, default="auto",
                        help="gradients written on edges: 'auto' (default) only on the edges of a value used more "
                             "than once and out of collapsed scopes, 'all' on every edge, 'none' on none")
    return parser


def add_number_arguments(parser: argparse.ArgumentParser) -> None:
    """``--precision`` and ``--max-elements``: how ``render`` and ``explore`` write numbers."""
    parser.add_argument("--precision", type=int, default=4, help="significant digits of numbers (default 4)")
    parser.add_argument("--max-elements", type=int, default=16,
                        help="largest array shown in full; larger ones are summarized (default 16)")


def render_main(args) -> int:
    """Run ``graphengine render`` with parsed ``args``; returns the exit status."""
    return run_command("render", lambda: render_model(
        args.model, output=args.output, mode=args.mode, feeds=args.feeds, format=args.format,
        target=args.target, collapse=parse_collapse(args.collapse), heatmap=args.heatmap,
        precision=args.precision, max_elements=args.max_elements, rankdir=args.rankdir,
        edge_labels=getattr(args, "edge_labels", "auto"),
    ), graphviz_advice=" From this command, -o FILE.dot writes the DOT text without Graphviz.")


def run_command(command: str, write, *, graphviz_advice: str = "") -> int:
    """Call ``write()`` for ``graphengine <command>``: print the path it returns and give
    exit status 0; on a user's error (a graphengine error, a missing or unreadable file, a
    missing Graphviz) print one clear line to stderr instead, without a traceback, and give 1.
    ``graphviz_advice`` is added to the missing-Graphviz message. Other exceptions (bugs)
    propagate with their traceback."""
    try:
        path = write()
    except GraphvizNotFoundError as exc:
        print(f"graphengine {command}: {exc}{graphviz_advice}", file=sys.stderr)
        return 1
    except (OSError, ValueError, KeyError) as exc:
        # graphengine errors are ValueError/KeyError subclasses: one clear line, no traceback
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"graphengine {command}: error: {message}", file=sys.stderr)
        return 1
    print(path)
    return 0


def parse_collapse(text):
    """'all' -> True, '1' -> 1, 'a,b' -> ['a', 'b'], None -> None."""
    if text is None or text == "":
        return None
    if text == "all":
        return True
    if text.isdigit():
        return int(text)
    return [part.strip() for part in text.split(",") if part.strip()]


def load_feeds(path) -> dict:
    """Arrays of a ``.npz`` file (no pickles), keyed by input name."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feeds file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise ValueError(
            f"cannot read feeds file {str(path)!r}: {exc}. It must be a .npz written by "
            "np.savez(path, x=array, ...) with one numeric array per graph input"
        ) from exc


def render_model(model, output=None, mode=None, feeds=None, format=None, target=None, collapse=None,
                 heatmap=False, precision=4, max_elements=16, rankdir=None, edge_labels="auto") -> pathlib.Path:
    """Load a saved graph, run it if it can (feeds given or no inputs), draw, and write.

    Returns the path written. Raises graphengine errors (ValueError/KeyError subclasses)
    with a message that says what to change.
    """
    import graphengine as ge

    from .draw import DrawError, draw

    model = pathlib.Path(require_file(model, "model file", "save one with g.save('model.ge')", suffixes=(".ge",)))
    graph = ge.load(model)
    fmt = format or (pathlib.Path(output).suffix.lstrip(".").lower() if output else "") or "svg"
    if fmt == "gv":
        fmt = "dot"
    if fmt not in RENDER_FORMATS:
        raise ValueError(f"cannot write format {fmt!r}; use one of {', '.join(RENDER_FORMATS)} "
                         "(--format, or the suffix of -o)")
    out = pathlib.Path(output) if output else model.with_suffix(f".{fmt}")

    fed = load_feeds(feeds) if feeds is not None else None
    can_run = fed is not None or not graph.inputs()
    if mode is None:
        mode = "both" if can_run else "structure"
    run = None
    if mode != "structure":
        if not can_run:
            names = ", ".join(n.name for n in graph.inputs())
            raise DrawError(
                f"--mode {mode} needs values, and graph {graph.name!r} has inputs ({names}): pass --feeds "
                "FILE.npz with one array per input (np.savez('feeds.npz', x=...)), or use --mode structure"
            )
        run = graph.forward(fed or {})
        if mode in ("backward", "both"):
            node = _backward_target(graph, run, target, "or use --mode forward")
            run.backward(node)
    diagram = draw(graph, run, mode=mode, heatmap=heatmap, collapse=collapse, precision=precision,
                   max_elements=max_elements, rankdir=rankdir, edge_labels=edge_labels)
    return diagram.write(out, format=fmt)


def _backward_target(graph, run, target, otherwise=""):
    """The node to run backward from: ``target`` or the graph's only output, which must
    hold one element. ``otherwise`` ends the advice of the errors with what else the command
    can do (``"or use --mode forward"`` for render; explore always runs backward)."""
    from .draw import DrawError

    tail = f", {otherwise}" if otherwise else ""

    if target is not None:
        node = graph.node(target)
    else:
        outputs = graph.outputs()
        if len(outputs) != 1:
            names = ", ".join(n.name for n in outputs) or "none"
            raise DrawError(f"graph {graph.name!r} has {len(outputs)} outputs ({names}); name the one to run "
                            f"backward from with --target NAME (a scalar node, a loss){tail}")
        node = outputs[0]
    size = int(np.prod(run.value(node).shape, dtype=np.int64))
    if size != 1:
        raise DrawError(f"cannot run backward from {node.name!r}: it has {size} elements, not one; pass "
                        f"--target with a scalar node (a loss){tail}")
    return node


# ----------------------------------------------------------------------------- demo

def demo_diagrams(out_dir, formats=("svg",)) -> list:
    """Write the demo diagrams into ``out_dir`` and return their paths.

    The worked examples of :mod:`graphengine.worked_examples` (chain rule, the θ1·θ2 loss, logistic
    regression, the perceptron, the XOR network) in forward, backward and both modes;
    the 6-4-3-1 network with its layers collapsed (47 parameters); and the
    gradient heat maps of a deep sigmoid MLP (vanishing gradient), the same net with ReLU
    and with residual connections, each in full and with its layers collapsed.
    Raises :class:`GraphvizNotFoundError` when Graphviz ``dot`` is missing.
    """
    from . import gallery
    from .draw import draw

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    diagrams = []
    for name, build in gallery.WORKED_EXAMPLES.items():
        graph, run = build()
        for mode in ("forward", "backward", "both"):  # every edge's gradient, as the worked examples write them
            diagrams.append((f"{name}_{mode}", draw(graph, run, mode=mode, edge_labels="all")))
    graph, run = gallery.network_6_4_3_1()
    diagrams.append(("network_6_4_3_1_collapsed", draw(graph, run, mode="structure", collapse=True)))
    deep = {label: gallery.deep_mlp(activation, residual=residual)
            for activation, residual, label in (("sigmoid", False, "sigmoid"), ("relu", False, "relu"),
                                                ("sigmoid", True, "sigmoid_residual"))}
    scale = shared_heatmap_range([run for _, run in deep.values()])  # one scale: the colours compare
    for label, (graph, run) in deep.items():
        diagrams.append((f"deep_{label}_heatmap", draw(graph, run, mode="backward", heatmap=True,
                                                       heatmap_range=scale)))
        diagrams.append((f"deep_{label}_heatmap_collapsed",
                         draw(graph, run, mode="backward", heatmap=True, heatmap_range=scale, collapse=True)))
    written = []
    for stem, diagram in diagrams:
        for fmt in formats:
            written.append(diagram.write(out / f"{stem}.{fmt}", format=fmt))
    return written


def shared_heatmap_range(runs) -> tuple:
    """(low, high) spanning the gradient magnitudes of all ``runs`` (after backward), so
    heat maps drawn with it use the same colours for the same magnitudes."""
    from .heatmap import magnitude

    mags = [magnitude(g) for run in runs for g in run.grads().values()]
    mags = [m for m in mags if m > 0 and np.isfinite(m)]
    if not mags:
        return (0.1, 1.0)
    return (min(mags), max(mags))


__all__ = ["add_render_arguments", "add_number_arguments", "render_main", "render_model", "run_command",
           "demo_diagrams", "load_feeds", "parse_collapse", "shared_heatmap_range"]
