"""examples/xor_perceptron.py: an honest report in quick mode.

A single sigmoid unit trained on XOR under the cross-entropy ends at 0.5 everywhere (loss
ln 2), with float32 rounding putting some outputs a hair below or above 0.5; thresholding
those at 0.5 gave "accuracy 0.25" (or 0.50) while every printed output read 0.500. The
report now counts right, wrong and undecided points, and says plainly whether the 2-2-1
network learned XOR.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
TARGETS = [0, 1, 1, 0]


@pytest.fixture
def xor(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))  # the script imports _common
    spec = importlib.util.spec_from_file_location("xor_perceptron_example", EXAMPLES / "xor_perceptron.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outputs_at_one_half_are_undecided_not_a_quarter_right(xor):
    # the perceptron's outputs after 300 epochs: 0.49999994 is below 0.5, the rest exactly 0.5
    stuck = np.array([0.49999994, 0.5, 0.5, 0.5], dtype=np.float32)
    assert xor.verdict(stuck, TARGETS) == {"right": 0, "wrong": 0, "undecided": 4, "total": 4}
    assert xor.describe(xor.verdict(stuck, TARGETS)) == "0 of 4 right, 4 undecided (within 0.05 of 0.5)"


def test_verdict_counts_right_wrong_and_undecided(xor):
    assert xor.verdict([0.002, 0.999, 0.999, 0.002], TARGETS) == {"right": 4, "wrong": 0, "undecided": 0, "total": 4}
    assert xor.describe(xor.verdict([0.002, 0.999, 0.999, 0.002], TARGETS)) == "4 of 4 right"
    mixed = xor.verdict([0.9, 0.9, 0.52, 0.1], TARGETS)  # wrong, right, undecided, right
    assert mixed == {"right": 2, "wrong": 1, "undecided": 1, "total": 4}
    assert xor.describe(mixed) == "2 of 4 right, 1 wrong, 1 undecided (within 0.05 of 0.5)"
    assert xor.verdict([0.56, 0.44], [1, 1], margin=0.05) == {"right": 1, "wrong": 1, "undecided": 0, "total": 2}


def test_quick_run_reports_what_its_outputs_show(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "xor_perceptron.py"), "--quick", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300, env=dict(os.environ, MPLBACKEND="Agg"))
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout
    assert "accuracy" not in text, text  # no thresholded accuracy of tied outputs
    printed = {name: [float(v) for v in re.search(rf"{re.escape(name)}\s+outputs on .*?: (.*)", text).group(1).split()]
               for name in ("perceptron", "2-2-1")}
    # the perceptron: every output reads 0.500, and the report says all four are undecided
    assert printed["perceptron"] == [0.5] * 4, text
    assert "single perceptron: 0 of 4 right, 4 undecided (within 0.05 of 0.5) after 300 epochs (loss 0.693" in text
    # the 2-2-1 network: outputs on the right side of 0.5, far from it, and the report says it learned
    assert all(abs(v - t) < 0.1 for v, t in zip(printed["2-2-1"], TARGETS)), text
    assert re.search(r"2-2-1 network: +4 of 4 right after 300 epochs .*; learned XOR, needed \d+ initializations?", text)
    assert (tmp_path / "xor_perceptron.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_network_that_does_not_learn_xor_is_reported_as_such(xor, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(xor, "two_two_one", xor.perceptron)  # a "2-2-1" that cannot learn XOR
    monkeypatch.setattr(xor, "INITIALIZATIONS", 2)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    assert xor.main(["--quick", "--out", str(tmp_path)]) == 1
    text = capsys.readouterr().out
    assert "2-2-1 network:     0 of 4 right, 4 undecided" in text
    assert "did NOT learn XOR from 2 initializations; run without --quick for more epochs" in text
