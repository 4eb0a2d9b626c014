"""docs/models.md: its Python examples run as written, in order, in one namespace, and
what they claim holds."""

import pathlib
import re

import numpy as np

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "models.md"


def test_models_doc_python_blocks_run(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)
    assert (tmp_path / "blobs.genn").is_file() and (tmp_path / "block.genn").is_file()
    assert namespace["scores"]["accuracy"] > 0.9
    assert namespace["resumed"].optimizer.steps == 200 + 5 * 10
    net, copy, X = namespace["net"], namespace["copy"], namespace["X"]
    np.testing.assert_array_equal(copy.predict(X), net.predict(X))
    rows = [(r.path, r.input_shapes, r.output_shape, r.params) for r in namespace["model"].layer_info()[1:]]
    assert rows == [("sequential/dense_1", ((None, 784),), (None, 30), 23550),
                    ("sequential/sigmoid_1", ((None, 30),), (None, 30), 0),
                    ("sequential/dense_2", ((None, 30),), (None, 10), 310)]
