"""docs/diagrams.md: its Python examples run as written, in order, in one namespace, and
write the pictures they name."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "diagrams.md"


def test_diagrams_doc_examples_run(tmp_path, dot_executable, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert not [b for b in blocks if "\n...\n" in b], "a block elides code: every example must run as written"
    complete = blocks
    assert len(complete) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in complete:
        exec(compile(block, str(DOC), "exec"), namespace)
    for name in ("chain_rule.svg", "mlp.png", "mlp_layers.png", "cnn_layers.png", "regression_heat.png", "cnn.png"):
        assert (tmp_path / name).read_bytes()[:4] in (b"<?xm", b"<svg", b"\x89PNG"), name
    assert not namespace["model"].built and not namespace["cnn"].built
