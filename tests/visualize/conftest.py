"""Golden DOT files for the diagram tests.

Each golden test compares ``draw(...).source`` with ``tests/visualize/golden/<name>.dot``.
After an intended change to diagrams, regenerate them and review the diff:

    GRAPHENGINE_REGEN_GOLDEN=1 python -m pytest tests/visualize -q
    git diff tests/visualize/golden
"""

from __future__ import annotations

import difflib
import os
import pathlib

import pytest

GOLDEN = pathlib.Path(__file__).parent / "golden"
REGEN_ENV = "GRAPHENGINE_REGEN_GOLDEN"


@pytest.fixture
def golden():
    """golden(name, source): assert ``source`` equals the golden file (or rewrite it when
    GRAPHENGINE_REGEN_GOLDEN=1)."""

    def check(name: str, source: str):
        path = GOLDEN / f"{name}.dot"
        if os.environ.get(REGEN_ENV) == "1":
            GOLDEN.mkdir(parents=True, exist_ok=True)
            path.write_text(source, encoding="utf-8")
            return
        if not path.exists():
            pytest.fail(f"golden file {path} is missing; create it with {REGEN_ENV}=1 python -m pytest "
                        f"tests/visualize and review it")
        expected = path.read_text(encoding="utf-8")
        if source != expected:
            diff = "".join(difflib.unified_diff(expected.splitlines(True), source.splitlines(True),
                                                str(path), "draw(...).source", n=1))
            pytest.fail(f"DOT text differs from {path.name} (if the change is intended, regenerate with "
                        f"{REGEN_ENV}=1 and review `git diff`):\n{diff[:6000]}")

    return check
