"""graphengine explore MODEL.ge --feeds feeds.npz -o page.html."""

import numpy as np
import pytest

from graphengine import worked_examples
from graphengine.cli import main

pytestmark = pytest.mark.usefixtures("dot_executable")


@pytest.fixture
def saved(tmp_path):
    g, _ = worked_examples.logistic_regression()
    g.save(tmp_path / "lr.ge")
    np.savez(tmp_path / "feeds.npz", x=np.ones((3, 1)), c=np.ones((1, 1)))
    return tmp_path


def test_explore_writes_the_page(saved, capsys):
    out = saved / "page.html"
    assert main(["explore", str(saved / "lr.ge"), "--feeds", str(saved / "feeds.npz"), "-o", str(out),
                 "--gradcheck"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    html = out.read_text(encoding="utf-8")
    assert "logistic regression" in html and '"gradcheck":{' in html


def test_explore_errors_say_what_to_pass(saved, capsys):
    assert main(["explore", str(saved / "lr.ge"), "-o", str(saved / "p.html")]) == 1
    assert "--feeds" in capsys.readouterr().err
    assert main(["explore", str(saved / "lr.ge"), "--feeds", str(saved / "feeds.npz"), "-o", str(saved / "p.svg")]) == 1
    assert ".html" in capsys.readouterr().err
    assert main(["explore", str(saved / "missing.ge")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["explore", str(saved)]) == 1  # a folder: said so, with the graph files in it
    err = capsys.readouterr().err
    assert "is a directory, not a file; it holds 'lr.ge'" in err and "does not exist" not in err
    assert not (saved / "p.html").exists() and not (saved / "p.svg").exists()


def test_explore_needs_a_scalar_target_and_offers_no_option_it_lacks(tmp_path, capsys):
    import graphengine as ge

    g = ge.Graph("vector out")
    x = g.input("x", shape=(3,))
    ge.ops.tanh(x, name="t")
    ge.ops.sigmoid(x, name="s")
    g.save(tmp_path / "v.ge")
    np.savez(tmp_path / "f.npz", x=np.ones(3))
    args = ["explore", str(tmp_path / "v.ge"), "--feeds", str(tmp_path / "f.npz"), "-o", str(tmp_path / "p.html")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "has 2 outputs (t, s)" in err and "--target NAME" in err and "--mode" not in err
    assert main(args + ["--target", "t"]) == 1
    err = capsys.readouterr().err
    assert "it has 3 elements" in err and "--mode" not in err  # explore always runs backward
    assert not (tmp_path / "p.html").exists()
