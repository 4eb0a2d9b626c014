"""Run the benchmark suite: ``python -m benchmarks.run`` from the repository root.

Options: ``--quick`` (smoke mode: small sizes, few repeats, a few seconds; CI runs this
to see that the suite still runs, its numbers mean nothing), ``--only NAME ...``
(per_op, mlp, mlp_adam, build, memory, diagrams, gpu, conv), ``--json PATH`` (write every row),
``--markdown`` (print the table as Markdown, for docs/benchmarks.md).

Each benchmark times the engine and its reference interleaved in one process, repeats,
and prints medians and ratios (engine / reference; below 1 the engine is faster).
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import sys
import time

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "benchmarks"

from .timing import format_quantity, format_ratio  # noqa: E402

BENCHMARKS = ("per_op", "mlp", "mlp_adam", "build", "memory", "diagrams", "gpu", "conv")


def machine() -> dict:
    import numpy as np

    info = {
        "date": datetime.date.today().isoformat(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": _torch_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "processor": _cpu_name(),
    }
    try:
        import networkx

        info["networkx"] = networkx.__version__
    except ImportError:
        pass
    return info


def _torch_version() -> str:
    """torch's version, read from its metadata (this process never imports torch)."""
    try:
        from importlib.metadata import version

        return version("torch")
    except Exception:
        return "not installed (the PyTorch rows are skipped)"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_rows(rows, stream=sys.stdout, quick=False):
    for row in rows:
        ratio = format_ratio(row.ratio)
        verdict = "not judged in quick mode" if quick else row.verdict
        target = f" (target ≤ {row.target:.2f}×: {verdict})" if row.target is not None else ""
        value = format_quantity(row.value, row.unit)
        reference = f" vs {row.reference_name} {format_quantity(row.reference, row.unit)}" if row.reference else ""
        note = f"  [{row.note}]" if row.note else ""
        print(f"  {row.case}: {value}{reference}  ratio {ratio}{target}{note}", file=stream)


def summary(rows, quick=False) -> str:
    """One line per target: met, missed, or not measured (the issue-9 checklist)."""
    if quick:
        return "targets: not judged in quick mode"
    lines = ["targets:"]
    for row in rows:
        if row.target is None:
            continue
        verdict = row.verdict or "not measured"
        lines.append(f"  {verdict:>12}  {row.benchmark}: {row.case}: {format_ratio(row.ratio)} "
                     f"(target ≤ {row.target:.2f}×)")
    met = sum(1 for r in rows if r.target is not None and r.verdict == "ok")
    total = sum(1 for r in rows if r.target is not None)
    lines.append(f"  {met} of {total} targets met")
    return "\n".join(lines)


def markdown(rows, quick=False) -> str:
    lines = ["| benchmark | case | ratio | target | engine | reference | note |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        verdict = "not judged in quick mode" if quick else row.verdict
        target = f"≤ {row.target:.2f}× ({verdict})" if row.target is not None else ""
        reference = f"{row.reference_name} {format_quantity(row.reference, row.unit)}" if row.reference else ""
        lines.append(f"| {row.benchmark} | {row.case} | {format_ratio(row.ratio)} | {target} | "
                     f"{format_quantity(row.value, row.unit)} | {reference} | {row.note} |")
    return "\n".join(lines)


def _row_dict(row, quick: bool) -> dict:
    data = row.as_dict()
    if quick and row.target is not None:
        data["verdict"] = "not judged in quick mode"
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, few repeats")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    parser.add_argument("--json", metavar="PATH", help="write the results and the machine to PATH")
    parser.add_argument("--markdown", action="store_true", help="print the results as a Markdown table too")
    args = parser.parse_args(argv)

    info = machine()
    print("graphengine benchmarks" + (" (quick smoke mode: the numbers mean nothing)" if args.quick else ""))
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    rows = []
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f".{name}", __package__)
        print(f"\n[{name}] {module.NAME}")
        start = time.perf_counter()
        result = module.run(quick=args.quick)
        print_rows(result, quick=args.quick)
        print(f"  ({time.perf_counter() - start:.1f} s)")
        rows.extend(result)
    print("\n" + summary(rows, quick=args.quick))
    if args.markdown:
        print("\n" + markdown(rows, quick=args.quick))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "quick": args.quick, "rows": [_row_dict(r, args.quick) for r in rows]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
