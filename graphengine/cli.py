"""The ``graphengine`` command: ``plugins``, ``demo``, ``render`` and ``explore``.

    graphengine plugins [--json]
    graphengine demo [--out DIR] [--quick]
    graphengine render MODEL.ge --mode both -o out.svg [--feeds feeds.npz]
    graphengine explore MODEL.ge --feeds feeds.npz -o page.html [--gradcheck]
"""

from __future__ import annotations

import argparse
import json
import sys

from .version import __version__


def _cmd_plugins(args) -> int:
    from .plugin_manager import default_manager

    infos = [info.as_dict() for info in default_manager().list()]
    if args.json:
        print(json.dumps(infos, indent=2, sort_keys=True))
        return 0
    if not infos:
        print("no plugins loaded")
        return 0
    for info in infos:
        line = f"{info['name']} {info['version'] or '-'}  [{info['status']}]  {info['origin']}"
        print(line)
        for kind, names in sorted(info["registered"].items()):
            print(f"    {kind}: {', '.join(names)}")
        for error in info["errors"]:
            print(f"    error: {error}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(out_dir=args.out, quick=args.quick)


def _cmd_render(args) -> int:
    try:
        from .visualize.cli import render_main
    except ImportError as exc:  # pragma: no cover - visualize ships with the package
        print(f"graphengine render: diagrams are unavailable: {exc}", file=sys.stderr)
        return 2
    return render_main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphengine",
        description="Neural networks as explicit graphs of op nodes: run, differentiate, draw, train.",
    )
    parser.add_argument("--version", action="version", version=f"graphengine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list every plugin, its version, origin, status and what it registered")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_plugins)

    p = sub.add_parser("demo", help="build, run and differentiate the worked examples; draw and train")
    p.add_argument("--out", default="demo-output", help="folder for the diagrams and figures (default: demo-output)")
    p.add_argument("--quick", action="store_true", help="small, fast version (for CI)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("render", help="draw a saved graph (.ge) to svg/png/pdf")
    try:
        from .visualize.cli import add_render_arguments

        add_render_arguments(p)
    except ImportError:  # pragma: no cover
        p.add_argument("model")
    p.set_defaults(func=_cmd_render)

    p = sub.add_parser("explore", help="write the backprop explorer page (HTML) of a saved graph run on feeds")
    try:  # the page is built by graphengine.visualize, imported here as for render's options
        from .visualize.explore_cli import add_explore_arguments, explore_main

        add_explore_arguments(p)
        p.set_defaults(func=explore_main)
    except ImportError as exc:  # pragma: no cover - visualize ships with the package
        p.add_argument("model")
        p.set_defaults(func=lambda args, exc=exc: _unavailable("explore", exc))
    return parser


def _unavailable(command, exc) -> int:  # pragma: no cover - visualize ships with the package
    print(f"graphengine {command}: unavailable: {exc}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .errors import GraphEngineError

    try:
        return int(args.func(args) or 0)
    except GraphEngineError as exc:
        print(f"graphengine {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
