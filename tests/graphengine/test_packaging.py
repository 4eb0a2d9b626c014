"""Packaging: the import names of DESIGN.md work from a built wheel in a fresh virtual
environment, and from the editable install the test command makes."""

import json
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

SMOKE = """
import numpy as np, graphengine as ge, graphengine.plugins.ops, graphengine.visualize
g = ge.Graph("smoke")
x = g.input("x", shape=(None, 2))
W = g.param("W", np.ones((2, 1)))
loss = ge.ops.mean(ge.ops.sigmoid(x @ W))
run = g.forward({"x": np.zeros((3, 2))}).backward(loss)
print(float(run.value(loss)), run.grad(W).ravel().tolist(), ge.plugins.__file__)
"""


def _venv_python(venv: pathlib.Path) -> pathlib.Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


@pytest.mark.slow
def test_wheel_installs_and_imports_in_a_fresh_venv(tmp_path):
    dist = tmp_path / "dist"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("graphengine_nn-*.whl"))  # the distribution graphengine-nn, imported as graphengine
    names = zipfile.ZipFile(wheel).namelist()
    assert "graphengine/plugins/ops/activations.py" in names
    assert "graphengine/visualize/__init__.py" in names
    assert not any(n.startswith(("plugins/", "visualize/", "tests/")) for n in names)  # nothing generic at top level

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = _venv_python(venv)
    install = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    run = subprocess.run([str(py), "-c", SMOKE], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    value, plugins_file = run.stdout.split(maxsplit=1)[0], run.stdout.strip().split()[-1]
    assert float(value) == 0.5  # sigmoid(0)
    assert str(venv) in plugins_file  # from site-packages, not from the source tree
    cli = subprocess.run([str(venv / "bin" / "graphengine"), "plugins", "--json"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert any(p["name"] == "ops" for p in json.loads(cli.stdout))


def test_editable_install_imports_outside_the_checkout(tmp_path):
    from importlib import metadata

    # the source tree's own egg-info may be found first: look at every copy
    installs = [json.loads(d.read_text("direct_url.json") or "{}") for d in metadata.distributions(name="graphengine-nn")]
    if not any(i.get("dir_info", {}).get("editable") for i in installs):
        pytest.skip("graphengine is not installed editable here (the test command installs it so)")
    run = subprocess.run([sys.executable, "-c", SMOKE], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert run.returncode == 0, run.stderr
    assert str(REPO / "plugins") in run.stdout
