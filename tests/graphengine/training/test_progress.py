"""fit's progress display: chosen for where it runs (notebook kernel, terminal, neither),
one updating output in a notebook, a full line per epoch with every metric in a terminal."""

import sys
import types

import pytest

import graphengine as ge
from graphengine.training import progress as progress_module
from graphengine.training.progress import (
    NotebookTextProgress,
    Progress,
    ProgressError,
    TerminalProgress,
    epoch_line,
    in_notebook,
    make_progress,
)


def mlp():
    return ge.nn.Sequential(ge.nn.Dense(2, 4), "tanh", ge.nn.Dense(4, 2), seed=0)


def fake_ipython(monkeypatch, kernel):
    shell = types.SimpleNamespace(kernel=object()) if kernel else types.SimpleNamespace()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))


def test_notebook_is_detected_by_a_running_kernel_not_by_isatty(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    assert not in_notebook()
    fake_ipython(monkeypatch, kernel=False)  # terminal IPython: a shell but no kernel
    assert not in_notebook()
    fake_ipython(monkeypatch, kernel=True)
    assert in_notebook()


def test_choice_of_display(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    args = dict(epochs=3, initial_epoch=0, n_batches=4)
    assert type(make_progress(False, False, **args)) is Progress
    assert type(make_progress(None, False, **args)) is Progress  # pytest's stderr is not a terminal
    shown = make_progress(True, False, **args)
    assert isinstance(shown, TerminalProgress) and shown.show_bar
    lines = make_progress("lines", False, **args)
    assert isinstance(lines, TerminalProgress) and not lines.show_bar
    monkeypatch.setattr(progress_module, "_isatty", lambda stream: True)
    assert isinstance(make_progress(None, False, **args), TerminalProgress)
    for bad in ("yes", 1, "bar"):
        with pytest.raises(ProgressError, match="progress must be None .automatic., True, False or 'lines'"):
            make_progress(bad, False, **args)


class FakeHandle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, obj):
        self.shown.append(repr(obj))


def test_notebook_without_widgets_updates_one_text_output(monkeypatch):
    IPython = pytest.importorskip("IPython", reason='IPython is not installed: pip install "graphengine-nn[notebook]"')

    fake_ipython(monkeypatch, kernel=True)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # as if not installed
    displays, updates = [], []

    def display(obj, display_id=None):
        assert display_id is True
        displays.append(repr(obj))
        return FakeHandle(updates)

    monkeypatch.setattr(IPython.display, "display", display)
    X, y = ge.data.two_moons(50, seed=0)
    ge.training.fit(mlp(), X, y, epochs=2, batch_size=10, validation_split=0.2, seed=0)
    assert len(displays) == 1 and displays[0].startswith("epoch 1/2 [")
    assert updates and updates[-1].startswith("epoch 2/2 [====================] 4/4  loss ")
    assert "| epoch 2: loss" in updates[-1] and "val_accuracy" in updates[-1]
    monkeypatch.setattr(progress_module, "has_widgets", lambda: False)
    assert isinstance(make_progress(None, False, epochs=1, initial_epoch=0, n_batches=1), NotebookTextProgress)


def test_terminal_lines_carry_every_metric_whatever_the_width(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    X, y = ge.data.two_moons(60, seed=0)
    ge.training.fit(mlp(), X, y, epochs=2, batch_size=10, validation_split=0.2, seed=0, progress=True)
    err = capsys.readouterr().err
    lines = [line.split("\r")[-1] for line in err.splitlines() if "loss" in line]
    assert len(lines) == 2
    for k, line in enumerate(lines, 1):
        assert line.startswith(f"epoch {k}/2  loss ")
        for key in ("accuracy", "val_loss", "val_accuracy", "lr"):
            assert f" {key} " in line
        assert len(line) > 40  # not cut at the terminal width
    ge.training.fit(mlp(), X, y, epochs=2, batch_size=10, seed=0, progress="lines")
    captured = capsys.readouterr()
    assert captured.err.count("epoch ") == 2 and "batch/s" not in captured.err and captured.out == ""


def test_verbose_prints_each_epoch_once(capsys):
    X, y = ge.data.two_moons(40, seed=0)
    ge.training.fit(mlp(), X, y, epochs=2, verbose=True, progress=False)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("epoch 1/2  loss ") and len(out) == 2
    ge.training.fit(mlp(), X, y, epochs=2, verbose=True, progress="lines")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("epoch ") == 2


def test_epoch_line_format():
    line = epoch_line(3, 10, {"loss": 0.5, "accuracy": 0.75, "lr": 0.001, "time": 1.25})
    assert line == "epoch 3/10  loss 0.5000  accuracy 0.7500  lr 0.001  1.2s"


def test_notebook_widget_bar_is_one_display_finished_even_when_stopped_early(monkeypatch):
    pytest.importorskip("ipywidgets")
    import IPython.display

    from graphengine.training import trainer as trainer_module

    fake_ipython(monkeypatch, kernel=True)
    displays, updates, made = [], [], []

    def display(obj, display_id=None):
        displays.append(obj)
        return FakeHandle(updates)

    monkeypatch.setattr(IPython.display, "display", display)

    def capture(*args, **kwargs):
        made.append(make_progress(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(trainer_module, "make_progress", capture)
    X, y = ge.data.two_moons(60, seed=0)
    trainer = ge.training.Trainer(mlp())
    stop = ge.training.LambdaCallback(on_epoch_end=lambda epoch, logs: setattr(trainer, "stop_training", epoch == 2))
    history = trainer.fit(X, y, epochs=5, batch_size=10, validation_split=0.2, seed=0, callbacks=[stop])
    assert history.epochs == [1, 2]
    shown = made[0]
    assert type(shown).__name__ == "NotebookBarProgress" and len(displays) == 1
    assert shown.bar.n == shown.bar.total == 2 * 5  # stopped after 2 of 5 epochs: finished, not failed
    assert shown.bar.container.children[1].bar_style == "success"
    assert updates[-1].startswith("epoch 2/5: 100%") and len(updates) == 3  # each epoch end, and the close
