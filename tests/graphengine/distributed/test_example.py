"""examples/distributed_mnist.py runs on 2 MPI ranks (quick mode, the shared MNIST files)."""

import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "distributed_mnist.py"


def test_distributed_mnist_quick_on_two_ranks(mpi_job, shared_data, tmp_path):
    result = mpi_job(EXAMPLE, "--quick", "--out", tmp_path, "--data-dir", shared_data, "--no-download", ranks=2,
                     timeout=120)
    assert result.returncode == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("2 ranks, 900 training images per rank (100 held out for validation on each), "
                               "global batch 32, 2 epochs")
    accuracy = float(lines[1].split("test accuracy ")[1].split()[0])
    assert accuracy > 0.7  # 2,000 images, 2 epochs
    assert "params bit-identical on every rank: True" in result.stdout
    figure = tmp_path / "distributed_mnist.png"
    assert f"figure: {figure}" in result.stdout and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.stdout.count("test accuracy") == 1  # only the root prints
