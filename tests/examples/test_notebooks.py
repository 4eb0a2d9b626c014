"""The example notebooks run in a real Jupyter kernel (nbclient, ipykernel) and show what
a user should see: an inline graph drawing, ONE progress output for the whole fit, and an
inline training plot, with no %matplotlib magic."""

import json
import os
import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook tests need nbformat (the 'notebook' extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook tests need nbclient (the 'notebook' extra)")
pytest.importorskip("ipykernel", reason="the notebook tests need ipykernel (the 'notebook' extra)")
from jupyter_client import KernelManager  # noqa: E402  (installed with nbclient)
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

NOTEBOOKS = pathlib.Path(__file__).resolve().parents[2] / "examples" / "notebooks"
KERNEL = "graphengine-test"


@pytest.fixture(scope="module")
def kernel_specs(tmp_path_factory):
    """A kernel spec for this interpreter (the venv's python), in a folder of its own: the
    notebooks run against the graphengine under test, whatever kernels the machine has."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "graphengine tests", "language": "python",
        "env": {"OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "agg"},
    }))
    return KernelSpecManager(kernel_dirs=[str(folder)])


def execute(nb, kernel_specs, cwd):
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernel_specs)
    client = nbclient.NotebookClient(nb, km=km, timeout=120, startup_timeout=60,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def outputs_of(nb, source_part):
    cells = [c for c in nb.cells if c.cell_type == "code" and source_part in c.source]
    assert len(cells) == 1, f"expected one code cell with {source_part!r}"
    return cells[0].outputs


def mime_types(outputs):
    return [set(o.get("data", {})) for o in outputs]


def test_first_hour_notebook_shows_a_drawing_one_progress_output_and_a_plot(kernel_specs, tmp_path,
                                                                           dot_executable):
    nb = nbformat.read(NOTEBOOKS / "first_hour.ipynb", as_version=4)
    execute(nb, kernel_specs, tmp_path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            errors = [o for o in cell.outputs if o.output_type == "error" or o.get("name") == "stderr"]
            assert not errors, (cell.source, errors)
    drawing = outputs_of(nb, "draw(model")
    assert len(drawing) == 1 and drawing[0].output_type == "execute_result"
    assert {"image/svg+xml", "image/png"} & set(drawing[0].data), drawing[0].data.keys()
    svg = drawing[0].data.get("image/svg+xml", "")
    assert "<svg" in svg and "dense_1" in svg
    progress = outputs_of(nb, "ge.training.fit(")
    assert len(progress) == 1, [o.output_type for o in progress]  # ONE output, updated in place
    assert progress[0].output_type == "display_data"
    shown = progress[0].data
    if "application/vnd.jupyter.widget-view+json" in shown:  # tqdm's notebook bar (ipywidgets installed)
        # the plain-text fallback follows the bar (ipywidgets cuts it at 110 characters) ...
        assert shown["text/plain"].startswith("epoch 30/30: 100%|##########| 300/300"), shown["text/plain"]
        # ... and the widget's saved state holds the finished bar with every metric of the last epoch
        state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
        models = {key: m["state"] for key, m in state.items()}
        box = models[shown["application/vnd.jupyter.widget-view+json"]["model_id"]]
        left, bar, right = (models[child.split("IPY_MODEL_")[1]] for child in box["children"])
        assert bar["value"] == bar["max"] == 300 and bar["bar_style"] == "success"
        assert left["value"].startswith("epoch\u200730/30")
        assert all(key in right["value"] for key in ("loss", "accuracy", "val_loss", "val_accuracy")), right
    else:  # one line of text, updated in place
        assert shown["text/plain"].startswith("epoch 30/30 [") and "val_accuracy" in shown["text/plain"]
    plot = outputs_of(nb, "history.plot()")
    assert len(plot) == 1 and "image/png" in plot[0].data
    import base64

    png = base64.b64decode(plot[0].data["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    result = outputs_of(nb, "history.model is model")
    assert result[0].data["text/plain"].startswith("(True, {'loss':")
    assert "accuracy" in result[0].data["text/plain"]
    predicted = outputs_of(nb, "model.predict(X[:5])")
    assert predicted[0].data["text/plain"].startswith("(array([")
    loaded = outputs_of(nb, "ge.nn.load(")
    assert loaded[0].data["text/plain"].startswith("(True, {'loss':")  # same predictions after a round trip
    assert (tmp_path / "moons.genn").is_file()
    assert "history.trainer" not in "".join(c.source for c in nb.cells)  # the model is used, not its trainer


def test_progress_without_ipywidgets_is_one_updating_text_output(kernel_specs, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import sys\nsys.modules['ipywidgets'] = None  # as if it were not installed"),
        nbformat.v4.new_code_cell(
            "import graphengine as ge\n"
            "X, y = ge.data.two_moons(200, seed=0)\n"
            "model = ge.nn.Sequential(ge.nn.Dense(2, 8), 'tanh', ge.nn.Dense(8, 2), seed=0)\n"
            "history = ge.training.fit(model, X, y, epochs=5, batch_size=8, validation_split=0.2, seed=0)"),
        nbformat.v4.new_code_cell("history.plot(path)"),
    ])
    nb.cells.insert(0, nbformat.v4.new_code_cell(f"path = {os.fspath(tmp_path / 'curves.png')!r}"))
    execute(nb, kernel_specs, tmp_path)
    progress = outputs_of(nb, "ge.training.fit(")
    assert len(progress) == 1 and progress[0].output_type == "display_data", progress
    assert set(progress[0].data) == {"text/plain"}
    text = progress[0].data["text/plain"]
    assert text.startswith("epoch 5/5 [====================] 20/20") and "epoch 5: loss" in text, text
    assert "image/png" in outputs_of(nb, "history.plot(path)")[0].data
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")  # saved too
