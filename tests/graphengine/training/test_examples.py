"""The example scripts run in quick mode and write their figures."""

import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[3] / "examples"
SCRIPTS = {
    "logic_gates.py": ["logic_gates.png"],
    "xor_perceptron.py": ["xor_perceptron.png"],
    "optimizer_paths.py": ["optimizer_paths.png"],
    "overfitting.py": ["overfitting.png"],
    "vanishing_gradients.py": ["vanishing_gradients.png"],
    "weight_init.py": ["weight_init.png"],
    "mnist_mlp.py": ["mnist_mlp.png"],
    "mnist_depth.py": ["mnist_depth.png"],
    "random_search_mnist.py": ["random_search_mnist.png"],
    "cnn_mnist.py": ["cnn_mnist.png"],
}
NEEDS_MNIST = {"overfitting.py", "vanishing_gradients.py", "weight_init.py", "mnist_mlp.py", "mnist_depth.py",
               "random_search_mnist.py", "cnn_mnist.py"}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_example_runs_quick(script, tmp_path, request):
    args = [sys.executable, str(EXAMPLES / script), "--quick", "--out", str(tmp_path)]
    if script in NEEDS_MNIST:
        data = request.getfixturevalue("shared_data")
        args += ["--data-dir", str(data), "--no-download"]
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    for figure in SCRIPTS[script]:
        data = (tmp_path / figure).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert "figure:" in result.stdout


def test_every_seed_example_is_covered():
    uses_common = {p.name for p in EXAMPLES.glob("*.py") if "_common.parser" in p.read_text()}
    # run on two MPI ranks by tests/graphengine/distributed/test_example.py
    elsewhere = {"distributed_mnist.py"}
    assert uses_common - elsewhere == set(SCRIPTS)
