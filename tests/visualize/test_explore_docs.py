"""docs/explorer.md: its Python examples run as written, in order, and say what they claim;
its pictures exist; the README links it."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "explorer.md"


def test_explorer_doc_examples_run(tmp_path, monkeypatch, dot_executable):
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 3
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert namespace["model_page"].run.target.name == "loss/cross_entropy"
    assert (tmp_path / "chain_rule.html").exists() and (tmp_path / "step3.png").exists()
    assert len(namespace["paths"]) == 13  # the chain rule's 12 steps and the start


def test_explorer_doc_pictures_exist_and_readme_links_the_doc():
    text = DOC.read_text(encoding="utf-8")
    pictures = re.findall(r"\]\((img/[^)]+)\)", text)
    assert len(pictures) == 4 and all((DOC.parent / p).is_file() for p in pictures)
    assert "docs/explorer.md" in (REPO / "README.md").read_text(encoding="utf-8")
