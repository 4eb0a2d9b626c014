"""The command line shared by the diagram scripts: ``--out DIR`` and ``--quick``.

Parsing comes first in every script and creates nothing, so ``--help`` (or a mistyped
option) leaves no folder behind; the output folder is made only when a file is written.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out"  # git ignores it

try:  # run from a source checkout without installing
    import graphengine  # noqa: F401
except ImportError:  # pragma: no cover - depends on how the examples are run
    sys.path.insert(0, str(HERE.parents[1]))


def parser(doc: str, quick: str) -> argparse.ArgumentParser:
    """An argument parser with the script's docstring as its help, ``--out`` and ``--quick``
    (``quick`` says what the quick run leaves out)."""
    first, _, rest = doc.strip().partition("\n")
    p = argparse.ArgumentParser(description=first, epilog=rest.strip() or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=pathlib.Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for the diagrams, created when needed (default: {DEFAULT_OUT.relative_to(HERE.parents[1])}/)")
    p.add_argument("--quick", action="store_true", help=f"a small, fast run: {quick}")
    return p


def formats(args) -> tuple[str, ...]:
    """SVG and PNG; SVG only in a quick run."""
    return ("svg",) if args.quick else ("svg", "png")


def write(diagram, args, stem: str) -> None:
    """Write ``diagram`` as ``<out>/<stem>.<format>`` for each format and print the paths."""
    for fmt in formats(args):
        print(diagram.write(args.out / f"{stem}.{fmt}"))
