"""``graphengine explore MODEL.ge --feeds feeds.npz -o page.html``: the explorer page of a
saved graph, run on the feeds and differentiated from its output (or ``--target``).

``graphengine/cli.py`` wires it in: :func:`add_explore_arguments` fills the ``explore``
sub-parser and :func:`explore_main` runs it.
"""

from __future__ import annotations

import argparse
import pathlib

from graphengine.errors import require_file

from .cli import _backward_target, add_number_arguments, load_feeds, parse_collapse, run_command


def add_explore_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("model", help="a graph saved with g.save('model.ge')")
    parser.add_argument("--feeds", default=None,
                        help="a .npz file with one array per input, keyed by the input's name (np.savez); "
                             "not needed for a graph without inputs")
    parser.add_argument("-o", "--output", default=None, help="the page to write (default: MODEL with .html)")
    parser.add_argument("--target", default=None,
                        help="scalar node to run backward from (default: the graph's only output)")
    parser.add_argument("--gradcheck", action="store_true",
                        help="check every gradient against finite differences and mark mismatches")
    parser.add_argument("--collapse", default=None, metavar="SCOPES",
                        help="scopes folded at the start: 'all', a depth (0, 1, ...) or names separated by commas")
    parser.add_argument("--no-heatmap", action="store_true", help="start with the gradient heat map off")
    add_number_arguments(parser)
    return parser


def explore_main(args) -> int:
    """Run ``graphengine explore`` with parsed ``args``; returns the exit status."""
    return run_command("explore", lambda: explore_model(
        args.model, feeds=args.feeds, output=args.output, target=args.target, gradcheck=args.gradcheck,
        collapse=args.collapse, heatmap=not args.no_heatmap, precision=args.precision,
        max_elements=args.max_elements))


def explore_model(model, feeds=None, output=None, target=None, gradcheck=False, collapse=None, heatmap=True,
                  precision=4, max_elements=16) -> pathlib.Path:
    """Load, run (forward, and backward from ``target`` or the only output), write the
    page; returns its path."""
    import graphengine as ge

    from .explore import ExploreError, explore

    model = pathlib.Path(require_file(model, "model file", "save one with g.save('model.ge')", suffixes=(".ge",)))
    out = pathlib.Path(output) if output else model.with_suffix(".html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ExploreError(f"-o {str(out)!r}: the explorer writes an HTML page; end the file name with .html")
    graph = ge.load(model)
    fed = load_feeds(feeds) if feeds is not None else {}
    if graph.inputs() and feeds is None:
        names = ", ".join(n.name for n in graph.inputs())
        raise ExploreError(f"graph {graph.name!r} has inputs ({names}): pass --feeds FILE.npz with one array per input "
                           "(np.savez('feeds.npz', x=...))")
    run = graph.forward(fed)
    run.backward(_backward_target(graph, run, target))
    page = explore(graph, run, gradcheck=gradcheck, collapse=parse_collapse(collapse), heatmap=heatmap,
                   precision=precision, max_elements=max_elements)
    return page.save(out)


DEMO_PAGES = ("chain_rule", "logistic_regression", "xor_network")


def demo_pages(out_dir) -> list:
    """Write the explorer pages of the worked examples (chain rule, logistic regression,
    XOR) into ``out_dir`` as ``explorer_<name>.html``, with the gradient check on; returns
    the paths. Raises :class:`GraphvizNotFoundError` when Graphviz ``dot`` is missing."""
    from graphengine import worked_examples

    from .explore import explore

    out = pathlib.Path(out_dir)
    written = []
    for name in DEMO_PAGES:
        graph, run = getattr(worked_examples, name)()
        written.append(explore(graph, run, gradcheck=True).save(out / f"explorer_{name}.html"))
    return written


__all__ = ["add_explore_arguments", "explore_main", "explore_model", "demo_pages"]
