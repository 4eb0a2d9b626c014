"""Timing helpers shared by the benchmarks: interleaved repeats, medians, ratios, rows.

Every comparison runs the engine and its reference in the same process, one call of each
in turn (the order alternates between repeats, so a slow drift of the machine hits both
alike), and reports the median of the repeats. Ratios are engine / reference: below 1
the engine is faster.
"""

from __future__ import annotations

import gc
import statistics
import time
from dataclasses import dataclass, field


def interleaved(functions: dict, repeats: int, warmup: int = 2, number: int = 1) -> dict:
    """{name: [seconds per call, one per repeat]} for callables run in turn.

    Each function runs ``warmup`` times first (compiling plans, filling caches), then
    ``repeats`` rounds of ``number`` calls each. The garbage collector is collected before
    each round, so one function does not pay for another's garbage.
    """
    names = list(functions)
    for name in names:
        for _ in range(warmup):
            functions[name]()
    times = {name: [] for name in names}
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            fn = functions[name]
            gc.collect()
            start = time.perf_counter()
            for _ in range(number):
                fn()
            times[name].append((time.perf_counter() - start) / number)
    return times


def median(values) -> float:
    return statistics.median(values)


@dataclass
class Row:
    """One line of results: what was measured, its median, the reference's, the ratio."""

    benchmark: str
    case: str
    value: float | None = None          # engine median (seconds) or the measured quantity
    reference: float | None = None      # reference median, same unit
    reference_name: str = ""
    target: float | None = None         # ratio the engine should stay at or below
    unit: str = "s"
    note: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.reference:
            return None
        return self.value / self.reference

    @property
    def verdict(self) -> str:
        if self.target is None or self.ratio is None:
            return ""
        return "ok" if self.ratio <= self.target else "MISSED"

    def as_dict(self) -> dict:
        return {
            "benchmark": self.benchmark, "case": self.case, "value": self.value, "reference": self.reference,
            "reference_name": self.reference_name, "ratio": self.ratio, "target": self.target,
            "verdict": self.verdict, "unit": self.unit, "note": self.note, **self.extra,
        }


def format_quantity(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "µs")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value / 1e-9:.3g} ns"
    if unit == "B":
        for scale, suffix in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value:.0f} B"
    return f"{value:.3g} {unit}".strip()


def format_ratio(ratio) -> str:
    return "-" if ratio is None else f"{ratio:.2f}×"


def run_torch_child(script: str, *args, what: str = "PyTorch comparison", timeout: int = 900):
    """Run ``script`` (which prints one JSON line last) in a child process, so the process
    that times graphengine never imports torch. The repository root is the last argument.
    Returns the parsed JSON, or None where torch is not installed or the child failed."""
    import importlib.util
    import json
    import os
    import subprocess
    import sys

    if importlib.util.find_spec("torch") is None:
        return None
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        out = subprocess.run([sys.executable, "-c", script, *(str(a) for a in args), root],
                             capture_output=True, text=True, timeout=timeout, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"  ({what} failed: {exc})", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])
