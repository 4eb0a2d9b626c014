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
    assert not (saved / "p.html").exists() and not (saved / "p.svg").exists()
