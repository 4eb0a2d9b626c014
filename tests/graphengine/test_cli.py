"""The graphengine command: plugins (text and --json) and demo."""

import json
import subprocess
import sys

from graphengine.cli import main


def test_plugins_text(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "ops" in out and "[ok]" in out and "builtin" in out and "sigmoid" in out


def test_plugins_json(capsys):
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    ops = next(p for p in listing if p["name"] == "ops")
    assert {"name", "version", "origin", "status", "registered", "errors", "hooks"} <= set(ops)
    assert "matmul" in ops["registered"]["ops"]


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "plugins" in capsys.readouterr().out


def test_demo_prints_values_and_gradients(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "graphengine.cli", "demo", "--quick", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "dy/dw1   = 3.297443" in out  # w2·x·e^(w1·x) at w1 = 0.5, w2 = 2, x = 1
    assert "h = sigmoid(W @ x) = 0.5318" in out
    assert "XOR" in out and "Two moons" in out
    assert (tmp_path / "demo" / "two_moons_history.png").stat().st_size > 0
