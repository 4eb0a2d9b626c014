"""graphengine demo: runs with the base install (no `train` extra: the plot is skipped with
a note naming the extra) and writes the worked examples' explorer pages."""

import sys

import pytest

from graphengine import demo


@pytest.fixture
def without_train_extras(monkeypatch):
    """matplotlib and tqdm made unimportable, as in an install without the `train` extra."""
    for name in list(sys.modules):
        if name.split(".")[0] in ("matplotlib", "tqdm"):
            monkeypatch.delitem(sys.modules, name)
    for name in ("matplotlib", "matplotlib.figure", "tqdm", "tqdm.auto", "tqdm.notebook"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError


def test_missing_train_extras_are_named(without_train_extras):
    assert demo.missing_train_extras() == ["matplotlib", "tqdm"]


def test_demo_runs_without_the_train_extra(without_train_extras, tmp_path, capsys, dot_executable):
    assert demo.run_demo(tmp_path, quick=True) == 0
    out = capsys.readouterr().out
    notes = [line for line in out.splitlines() if "skipped" in line]
    assert len(notes) == 1 and "train" in notes[0] and "matplotlib" in notes[0]
    assert not (tmp_path / "two_moons_history.png").exists()
    for name in ("chain_rule", "logistic_regression", "xor_network"):
        page = tmp_path / f"explorer_{name}.html"
        assert page.exists() and "backprop explorer" in page.read_text(encoding="utf-8")
