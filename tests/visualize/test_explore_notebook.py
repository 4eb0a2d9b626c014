"""In a real Jupyter kernel (nbclient, ipykernel), an explorer page as a cell's last
expression is shown as HTML: the page in an iframe."""

import json
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat (the 'notebook' extra)")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs nbclient (the 'notebook' extra)")
pytest.importorskip("ipykernel", reason="the notebook test needs ipykernel (the 'notebook' extra)")
from jupyter_client import KernelManager  # noqa: E402  (installed with nbclient)
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402

KERNEL = "graphengine-explore-test"


def test_a_page_displays_itself_in_a_notebook(tmp_path, dot_executable):
    spec = tmp_path / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "graphengine explore test", "language": "python", "env": {"OPENBLAS_NUM_THREADS": "1"}}))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from graphengine import worked_examples\n"
        "from graphengine.visualize import explore\n"
        "g, run = worked_examples.chain_rule()\n"
        "explore(g, run)")]
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")]))
    nbclient.NotebookClient(nb, km=km, timeout=120, startup_timeout=60,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    (output,) = nb.cells[0].outputs
    html = output["data"]["text/html"]
    assert html.startswith("<iframe srcdoc=") and "backprop explorer" in html
