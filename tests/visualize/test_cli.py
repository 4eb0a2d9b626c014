"""`graphengine render` and the demo diagrams (visualize/cli.py)."""

import argparse

import numpy as np
import pytest

import graphengine as ge
from graphengine.errors import NodeNotFoundError
from graphengine.visualize import gallery
from graphengine.visualize.cli import (add_render_arguments, demo_diagrams, parse_collapse, render_main,
                                       run_command)
from graphengine.visualize.diagram import GraphvizNotFoundError


def parse(*argv):
    parser = add_render_arguments(argparse.ArgumentParser(prog="graphengine render"))
    return parser.parse_args(list(argv))


@pytest.fixture
def xor_model(tmp_path):
    g, _ = gallery.xor_network()
    path = tmp_path / "xor.ge"
    g.save(path)
    feeds = tmp_path / "feeds.npz"
    np.savez(feeds, x=gallery.XOR_X, y=gallery.XOR_Y)
    return path, feeds


def test_render_both_with_feeds(dot_executable, xor_model, tmp_path, capsys):
    model, feeds = xor_model
    out = tmp_path / "out.svg"
    assert render_main(parse(str(model), "--mode", "both", "-o", str(out), "--feeds", str(feeds))) == 0
    assert capsys.readouterr().out.strip() == str(out)
    svg = out.read_text(encoding="utf-8")
    assert "values and gradients of loss" in svg and "0.1372" in svg  # the BCE of the XOR network


def test_render_structure_without_feeds_and_format_from_option(dot_executable, xor_model, tmp_path):
    model, _ = xor_model
    assert render_main(parse(str(model), "--format", "png")) == 0
    assert model.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    out = tmp_path / "collapsed.dot"
    assert render_main(parse(str(model), "--collapse", "all", "-o", str(out))) == 0
    text = out.read_text(encoding="utf-8")
    assert "collapsed scope" in text and "9 parameters" in text


def test_render_heatmap_and_target(xor_model, tmp_path):
    model, feeds = xor_model
    out = tmp_path / "heat.dot"
    args = parse(str(model), "--feeds", str(feeds), "--mode", "backward", "--heatmap", "--target", "loss",
                 "-o", str(out), "--precision", "3")
    assert render_main(args) == 0
    assert "mean |gradient| (log scale)" in out.read_text(encoding="utf-8")


def test_render_errors_say_what_to_do(xor_model, tmp_path, capsys):
    model, feeds = xor_model
    assert render_main(parse(str(model), "--mode", "both", "-o", str(tmp_path / "a.dot"))) == 1
    assert "pass --feeds FILE.npz" in capsys.readouterr().err
    assert render_main(parse(str(tmp_path / "missing.ge"))) == 1
    assert "does not exist" in capsys.readouterr().err
    assert render_main(parse(str(model.parent))) == 1  # a folder is not "missing"
    err = capsys.readouterr().err
    assert f"is a directory, not a file; it holds {model.name!r}" in err and "does not exist" not in err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert render_main(parse(str(model), "--feeds", str(bad), "-o", str(tmp_path / "b.dot"))) == 1
    assert "cannot read feeds file" in capsys.readouterr().err
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, xx=gallery.XOR_X, y=gallery.XOR_Y)
    assert render_main(parse(str(model), "--feeds", str(wrong), "-o", str(tmp_path / "c.dot"))) == 1
    assert "xx" in capsys.readouterr().err
    assert render_main(parse(str(model), "-o", str(tmp_path / "d.jpeg"))) == 1
    assert "cannot write format 'jpeg'" in capsys.readouterr().err


def test_render_backward_needs_a_scalar_target(tmp_path, capsys):
    g = ge.Graph("vector out")
    x = g.input("x", shape=(3,))
    ge.ops.tanh(x, name="t")
    model = tmp_path / "v.ge"
    g.save(model)
    feeds = tmp_path / "f.npz"
    np.savez(feeds, x=np.ones(3))
    assert render_main(parse(str(model), "--feeds", str(feeds), "-o", str(tmp_path / "v.dot"))) == 1
    err = capsys.readouterr().err
    assert "it has 3 elements" in err and "or use --mode forward" in err  # which works:
    assert render_main(parse(str(model), "--feeds", str(feeds), "--mode", "forward",
                             "-o", str(tmp_path / "v.dot"))) == 0


def test_run_command_prints_the_path_or_one_error_line(capsys):
    """The one error printer of `graphengine render` and `graphengine explore`."""
    assert run_command("render", lambda: "out.svg") == 0
    assert capsys.readouterr() == ("out.svg\n", "")

    def fails(exc):
        def write():
            raise exc
        return write

    assert run_command("explore", fails(NodeNotFoundError("no node named 'z'"))) == 1
    assert capsys.readouterr() == ("", "graphengine explore: error: no node named 'z'\n")  # a KeyError, unquoted
    assert run_command("render", fails(FileNotFoundError("feeds file 'f.npz' does not exist"))) == 1
    assert capsys.readouterr().err == "graphengine render: error: feeds file 'f.npz' does not exist\n"
    assert run_command("render", fails(GraphvizNotFoundError("dot is not installed.")),
                       graphviz_advice=" Write DOT instead.") == 1
    assert capsys.readouterr().err == "graphengine render: dot is not installed. Write DOT instead.\n"
    with pytest.raises(ZeroDivisionError):  # a bug is not dressed up as a user's error
        run_command("render", fails(ZeroDivisionError("bug")))


def test_parse_collapse():
    assert parse_collapse(None) is None
    assert parse_collapse("all") is True
    assert parse_collapse("2") == 2
    assert parse_collapse("layer1, layer2") == ["layer1", "layer2"]


def test_demo_diagrams_writes_every_worked_example(dot_executable, tmp_path):
    paths = demo_diagrams(tmp_path / "demo")
    names = {p.name for p in paths}
    for example in ("chain_rule", "theta_loss", "logistic_regression", "perceptron", "xor_network"):
        for mode in ("forward", "backward", "both"):
            assert f"{example}_{mode}.svg" in names
    assert {"deep_sigmoid_heatmap.svg", "deep_relu_heatmap.svg", "network_6_4_3_1_collapsed.svg"} <= names
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
    assert "47 parameters" in (tmp_path / "demo" / "network_6_4_3_1_collapsed.svg").read_text(encoding="utf-8")


def test_graphengine_render_command(dot_executable, xor_model, tmp_path):
    from graphengine.cli import main

    model, feeds = xor_model
    out = tmp_path / "cmd.svg"
    assert main(["render", str(model), "--mode", "both", "-o", str(out), "--feeds", str(feeds)]) == 0
    assert out.read_bytes().count(b"<svg") == 1


def test_render_edge_labels_option(xor_model, tmp_path):
    model, feeds = xor_model
    counts = {}
    for choice in ("auto", "all", "none"):
        out = tmp_path / f"{choice}.dot"
        assert render_main(parse(str(model), "--feeds", str(feeds), "--mode", "both", "--edge-labels", choice,
                                 "-o", str(out))) == 0
        counts[choice] = sum(1 for line in out.read_text(encoding="utf-8").splitlines()
                             if "->" in line and "label=" in line)
    # the XOR network is a chain of single-use values: each gradient is on a box already
    assert counts["none"] == 0 and counts["auto"] == 0 and counts["all"] == 12
    with pytest.raises(SystemExit):
        parse(str(model), "--edge-labels", "some")


def test_demo_worked_examples_label_every_edge(dot_executable, tmp_path):
    paths = demo_diagrams(tmp_path, formats=("svg",))
    chain = next(p for p in paths if p.name == "chain_rule_both.svg").read_text(encoding="utf-8")
    assert "gradient flowing back along it" in chain and "3.297" in chain
