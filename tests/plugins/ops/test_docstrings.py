"""Every built-in op documents its formula and local derivative: the explorer's node panel and
help() show the op class's docstring."""

import graphengine as ge


def test_every_built_in_op_has_a_docstring():
    missing = [name for name in ge.ops.names() if not (type(ge.ops.manager.ops[name]).__doc__ or "").strip()]
    assert not missing, f"ops without a docstring: {missing}"
