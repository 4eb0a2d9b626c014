"""The command line of examples/diagrams/*.py: --help, --out, --quick.

Each script parses its arguments before anything else and creates nothing until it writes
a file: ``--help``, a mistyped option or a stray positional argument (the old
``script.py OUT_DIR`` form) leave no folder behind, neither in the working directory nor
at the default output folder.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "examples" / "diagrams"
DEFAULT_OUT = SCRIPTS / "out"
NAMES = ["chain_rule.py", "seed_diagrams.py", "vanishing_gradient.py", "benchmark_render.py"]


def run_script(name, *args, cwd, timeout=180):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, str(SCRIPTS / name), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def tree(path: pathlib.Path):
    """Every path under ``path`` with its size and mtime (None where it does not exist)."""
    if not path.exists():
        return None
    return sorted((str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in path.rglob("*"))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("args", [["--help"], ["--no-such-option"], ["some_folder"]], ids=["help", "typo", "positional"])
def test_help_and_bad_arguments_create_nothing(name, args, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = tree(DEFAULT_OUT)
    result = run_script(name, *args, cwd=cwd, timeout=60)
    assert tree(DEFAULT_OUT) == before, f"{name} {args[0]} changed {DEFAULT_OUT}"
    assert list(cwd.iterdir()) == [], f"{name} {args[0]} created {sorted(p.name for p in cwd.iterdir())}"
    if args == ["--help"]:
        assert result.returncode == 0, result.stderr
        assert "--out" in result.stdout and "--quick" in result.stdout, result.stdout
        assert result.stdout.startswith("usage:")
    else:
        assert result.returncode == 2, (result.stdout, result.stderr)
        assert "unrecognized arguments" in result.stderr, result.stderr


def test_chain_rule_writes_every_mode_in_both_formats_into_out(dot_executable, tmp_path):
    out = tmp_path / "nested" / "folder"  # made when the first file is written
    result = run_script("chain_rule.py", "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dy/dw1 = 3.2974" in result.stdout and "dy/dw2 = 1.6487" in result.stdout
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"chain_rule_{m}.{f}" for m in ("structure", "forward", "backward", "both")
                             for f in ("svg", "png"))
    assert (out / "chain_rule_both.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert all(str(out / name) in result.stdout for name in written)  # each path is printed


def _edges_and_labelled_edges(svg: str):
    import re

    edges = re.findall(r'<g id="edge\d+" class="edge">(.*?)</g>', svg, flags=re.S)
    return len(edges), sum("<text" in e for e in edges)


def test_chain_rule_labels_every_edge_with_its_gradient_as_its_docstring_says(dot_executable, tmp_path):
    result = run_script("chain_rule.py", "--quick", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for mode in ("backward", "both"):
        svg = (tmp_path / f"chain_rule_{mode}.svg").read_text(encoding="utf-8")
        assert _edges_and_labelled_edges(svg) == (5, 5), mode  # x, w1 -> u -> v, w2 -> y
        assert ">3.297<" in svg and ">1.649<" in svg  # dy/du = w2·e^u and dy/dw2 = e^u on edges
    assert _edges_and_labelled_edges((tmp_path / "chain_rule_forward.svg").read_text(encoding="utf-8"))[1] == 0


def test_seed_diagrams_label_every_edge(dot_executable, tmp_path):
    result = run_script("seed_diagrams.py", "--quick", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("theta_loss", "xor_network", "network_6_4_3_1_collapsed"):
        edges, labelled = _edges_and_labelled_edges((tmp_path / f"{name}_both.svg").read_text(encoding="utf-8"))
        assert edges > 3 and labelled == edges, (name, edges, labelled)


def test_chain_rule_quick_writes_svg_only(dot_executable, tmp_path):
    result = run_script("chain_rule.py", "--quick", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.suffix for p in (tmp_path / "out").iterdir()) == [".svg"] * 4


def test_seed_diagrams_quick(dot_executable, tmp_path):
    result = run_script("seed_diagrams.py", "--quick", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6-4-3-1 network: 47 learnable parameters" in result.stdout
    names = sorted(p.name for p in tmp_path.glob("*.svg"))
    assert names == sorted([f"{n}_both.svg" for n in ("chain_rule", "theta_loss", "logistic_regression",
                                                       "perceptron", "xor_network")]
                           + ["network_6_4_3_1_collapsed_both.svg"])
    for path in tmp_path.glob("*.svg"):
        assert path.read_text(encoding="utf-8").lstrip().startswith(("<?xml", "<svg")), path


def test_vanishing_gradient_quick(dot_executable, tmp_path):
    result = run_script("vanishing_gradient.py", "--quick", "--out", tmp_path, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deep_relu_heatmap_collapsed.svg", "deep_sigmoid_heatmap_collapsed.svg",
        "deep_sigmoid_residual_heatmap_collapsed.svg"]
    ratios = {line.split(":")[0].strip(): float(line.rsplit("ratio ", 1)[1].rstrip(")"))
              for line in result.stdout.splitlines() if "ratio" in line}
    # sigmoid: the first layer's gradient is orders of magnitude below the last one's; not so with
    # ReLU or residual connections
    assert ratios["sigmoid"] < 1e-2 and ratios["relu"] > 0.1 and ratios["sigmoid_residual"] > 0.1, ratios


def test_benchmark_quick_times_small_graphs_and_writes_svgs_only_with_out(dot_executable, tmp_path):
    result = run_script("benchmark_render.py", "--quick", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert sorted({int(row[0]) for row in rows}) == [99, 297]
    assert list(tmp_path.iterdir()) == []
    result = run_script("benchmark_render.py", "--sizes", "100", "--out", tmp_path / "svgs", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "svgs").iterdir()) == [
        "benchmark_99_all_collapsed.svg", "benchmark_99_blocks_collapsed.svg", "benchmark_99_full.svg"]
