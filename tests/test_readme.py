"""The README's Python examples run as written, in order, in one namespace."""

import os
import pathlib
import re

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_readme_python_blocks_run(tmp_path, dot_executable, monkeypatch):
    text = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    run, W, history = namespace["run"], namespace["W"], namespace["history"]
    assert run.grad(W).shape == (3, 1) and np.isfinite(run.grad(W)).all()
    assert history.last("val_accuracy") >= 0.95
    assert os.path.exists(tmp_path / "logreg.svg")


def test_readme_names_the_two_commands_and_ci_calls_the_test_command():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/demo.sh" in readme and "bash scripts/test.sh" in readme
    assert "bash scripts/test.sh" in (REPO / ".ci" / "run").read_text(encoding="utf-8")
