"""docs/training.md: the hand-written compiled step and the uncompiled regularized step run
as written (the page's other blocks need MNIST or are fragments of a model shown above them)
and do what their comments say."""

import pathlib
import re

import numpy as np

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "training.md"


def test_the_compile_step_examples_run_in_order():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    (compiled,) = [b for b in blocks if "ge.compile_step(" in b]
    (uncompiled,) = [b for b in blocks if "ge.regularized_step(" in b]
    assert blocks.index(compiled) < blocks.index(uncompiled)
    namespace: dict = {}
    exec(compile(compiled, str(DOC), "exec"), namespace)
    step, loss, output, labels = (namespace[k] for k in ("step", "loss", "output", "labels"))
    assert step.steps == 200
    assert f"# {float(step.value(loss)):.3f}" in compiled  # the numbers the comments give
    accuracy = (step.value(output).argmax(axis=1) == labels).mean()
    assert f"# {accuracy:.3f}".rstrip("0") in compiled
    weights, regs = namespace["weights"], namespace["regs"]
    assert all(float(np.linalg.norm(w.value, axis=0).max()) <= 3.0 + 1e-6 for w in weights)  # max-norm held
    assert [r.name for r in regs] == ["l2", "max_norm"]
    before = {p.name: p.value.copy() for p in namespace["model"].params()}
    exec(compile(uncompiled, str(DOC), "exec"), namespace)
    after = {p.name: p.value for p in namespace["model"].params()}
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # one more update
