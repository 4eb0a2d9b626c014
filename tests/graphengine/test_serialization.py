"""Save and load: JSON structure + .npz arrays, no pickle, everything else refused."""

import io
import json
import zipfile

import numpy as np
import pytest

import graphengine as ge


def build(rng):
    g = ge.Graph("saved")
    x = g.input("x", shape=(None, 3), dtype="float32")
    with g.scope("layer"):
        W = g.param("W", rng.normal(size=(3, 2)).astype(np.float32))
        b = g.param("b", np.zeros(2, dtype=np.float32))
        h = ge.ops.tanh(x @ W + b)
    s = ge.ops.softmax(h[:, 0:2] * 2.0, axis=-1)
    loss = ge.ops.sum(ge.ops.concat(s, h, axis=1), axis=(0, 1), name="total")
    return g, loss


def test_round_trip_keeps_ids_names_scopes_attrs_and_values(tmp_path, rng):
    g, loss = build(rng)
    path = tmp_path / "model.ge"
    g.save(path)
    g2 = ge.load(path)
    assert [(n.id, n.name, n.kind, n.op, n.scope, n.shape, n.dtype) for n in g.nodes()] == \
        [(n.id, n.name, n.kind, n.op, n.scope, n.shape, n.dtype) for n in g2.nodes()]
    assert [dict(n.attrs) for n in g.nodes()] == [dict(n.attrs) for n in g2.nodes()]
    feeds = {"x": rng.normal(size=(4, 3)).astype(np.float32)}
    a = g.forward(feeds).backward(loss)
    b = g2.forward(feeds).backward("total")
    np.testing.assert_array_equal(a.value(loss), b.value("total"))
    np.testing.assert_array_equal(a.grad("layer/W"), b.grad("layer/W"))
    assert g2.node("layer/W").value.dtype == np.float32


def test_file_is_json_plus_npz(tmp_path, rng):
    g, _ = build(rng)
    path = tmp_path / "model.ge"
    g.save(path)
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["arrays.npz", "graph.json"]
        document = json.loads(archive.read("graph.json"))
        with np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False) as npz:
            assert sorted(npz.files) == ["value.1", "value.2"]  # W and b; 2.0 stays a JSON number
    assert document["format"] == "graphengine-graph" and document["version"] == 1


def test_pickled_arrays_are_refused(tmp_path):
    path = tmp_path / "evil.ge"
    buffer = io.BytesIO()
    np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as inner:
        inner.writestr("value.0.npy", buffer.getvalue())
    doc = {"format": "graphengine-graph", "version": 1, "name": "evil", "backend": "numpy",
           "nodes": [{"id": 0, "name": "W", "kind": "param", "scope": "", "shape": [1], "dtype": "float64",
                      "value": {"array": "value.0"}}]}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("graph.json", json.dumps(doc))
        archive.writestr("arrays.npz", npz.getvalue())
    with pytest.raises(ge.SaveFormatError, match="member 'value.0.npy': holds dtype object.*pickled objects are refused"):
        ge.load(path)


def test_extra_members_wrong_version_and_non_zip_are_refused(tmp_path, rng):
    g, _ = build(rng)
    good = tmp_path / "good.ge"
    g.save(good)
    extra = tmp_path / "extra.ge"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(extra, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("payload.pkl", b"...")
    with pytest.raises(ge.SaveFormatError, match="exactly"):
        ge.load(extra)
    future = tmp_path / "future.ge"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(future, "w") as dst:
        doc = json.loads(src.read("graph.json"))
        doc["version"] = 99
        dst.writestr("graph.json", json.dumps(doc))
        dst.writestr("arrays.npz", src.read("arrays.npz"))
    with pytest.raises(ge.SaveFormatError, match="version 99"):
        ge.load(future)
    text = tmp_path / "text.ge"
    text.write_text("hello")
    with pytest.raises(ge.SaveFormatError, match="not a graphengine save file"):
        ge.load(text)


@pytest.mark.parametrize("document, found", [([1, 2], "a JSON list"), ({"format": "other"}, "format 'other'")])
def test_graph_json_of_another_kind_is_refused_saying_what_it_holds(tmp_path, rng, document, found):
    g, _ = build(rng)
    good = tmp_path / "good.ge"
    g.save(good)
    odd = tmp_path / "odd.ge"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(odd, "w") as dst:
        dst.writestr("graph.json", json.dumps(document))
        dst.writestr("arrays.npz", src.read("arrays.npz"))
    with pytest.raises(ge.SaveFormatError, match=f"not a graphengine graph \\({found}, expected an object with format"):
        ge.load(odd)


def test_save_and_load_are_the_same_functions_from_every_entry_point():
    import graphengine.archive as archive
    import graphengine.serialization as serialization

    assert serialization.save is archive.save and ge.load is serialization.load


def test_missing_op_plugin_is_named(tmp_path, rng):
    g, _ = build(rng)
    path = tmp_path / "model.ge"
    g.save(path)
    bare = ge.PluginManager(builtins=False, entry_points=False)
    with pytest.raises(ge.UnknownOpError, match="uses op 'matmul'"):
        ge.load(path, plugins=bare)


def test_getitem_index_attributes_survive(tmp_path):
    g = ge.Graph()
    x = g.input("x", shape=(4, 3))
    parts = [x[1:3], x[:, 1], x[None, ..., ::-1], x[[0, 0, 2]], x[-1]]
    path = tmp_path / "index.ge"
    g.save(path)
    g2 = ge.load(path)
    value = np.arange(12.0).reshape(4, 3)
    run = g2.forward({"x": value})
    for node, expected in zip(parts, [value[1:3], value[:, 1], value[None, ..., ::-1], value[[0, 0, 2]], value[-1]]):
        np.testing.assert_array_equal(run.value(node.name), expected)


def test_loading_a_model_file_or_a_checkpoint_says_what_reads_it(tmp_path):
    X, y = ge.data.two_moons(64, seed=0)
    model = ge.nn.Sequential(ge.nn.Dense(2, 4), ge.nn.Dense(4, 2), seed=0)
    history = ge.training.fit(model, X, y, epochs=1, progress=False)
    model.save(tmp_path / "m.genn")
    history.trainer.save_checkpoint(tmp_path / "m.ckpt")
    with pytest.raises(ge.SaveFormatError, match=r"a ge\.nn model file .*ge\.nn\.load\(path\)"):
        ge.load(tmp_path / "m.genn")
    with pytest.raises(ge.SaveFormatError, match=r"a training checkpoint .*resume_from=path"):
        ge.load(tmp_path / "m.ckpt")
