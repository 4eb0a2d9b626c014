"""ge.nn.load on files that are damaged or made to harm: every problem is a
SaveFormatError naming the file, the member and the field or layer, before anything big
is allocated; nothing in a file names code to import."""

import io
import json
import zipfile

import numpy as np
import pytest

import graphengine as ge
from graphengine.archive import Limits


@pytest.fixture
def saved(tmp_path):
    model = ge.nn.Sequential(ge.nn.Dense(3, 4), "relu", ge.nn.BatchNorm(), ge.nn.Dense(4, 2), seed=0)
    model.build((None, 3))
    return model.save(tmp_path / "good.genn")


def _parts(path):
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("model.json")), z.read("weights.npz")


def _write(path, doc, npz, extra=None):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("model.json", doc if isinstance(doc, (str, bytes)) else json.dumps(doc))
        z.writestr("weights.npz", npz)
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return path


def _npz(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _refused(path, match, **kwargs):
    with pytest.raises(ge.SaveFormatError, match=match) as info:
        ge.nn.load(path, **kwargs)
    assert str(path) in str(info.value)
    return info.value


def test_the_untouched_file_loads(saved):
    assert ge.nn.load(saved).parameter_count() == 3 * 4 + 4 + 2 * 4 + 4 * 2 + 2


@pytest.mark.parametrize("name", ["Evil", "os.system", "__import__", "Module", "builtins.eval"])
def test_a_class_that_is_not_a_builtin_layer_is_refused(saved, tmp_path, name):
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][1]["class"] = name
    _refused(_write(tmp_path / "bad.genn", doc, npz), rf"model.layers\[1\]: unknown layer class {name!r}")


def test_a_close_misspelling_gets_a_suggestion(saved, tmp_path):
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["class"] = "Dence"
    _refused(_write(tmp_path / "bad.genn", doc, npz), "Did you mean 'Dense'")


def test_a_layer_marked_custom_needs_the_callers_class(saved, tmp_path):
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["custom"] = True  # even a built-in name: only custom_objects count
    path = _write(tmp_path / "bad.genn", doc, npz)
    _refused(path, r"custom_objects=\{'Dense': Dense\}")
    assert ge.nn.load(path, custom_objects={"Dense": ge.nn.Dense}).parameter_count() == 34


def test_arguments_a_layer_does_not_take_or_refuses_are_named(saved, tmp_path):
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["config"]["evil"] = 1
    _refused(_write(tmp_path / "a.genn", doc, npz), r"model.layers\[0\]: Dense cannot be made from its config "
                                                     r"\(TypeError: .*evil")
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["config"]["out_features"] = -3
    _refused(_write(tmp_path / "b.genn", doc, npz), "ModuleError: Dense out_features must be a positive int")
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][1]["config"]["op"] = "system"
    _refused(_write(tmp_path / "c.genn", doc, npz), r"model.layers\[1\]: Activation cannot be made")
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["config"]["__class__"] = 1
    _refused(_write(tmp_path / "d.genn", doc, npz), "cannot be made from its config")


def test_weights_that_do_not_fit_the_model_are_named(saved, tmp_path):
    doc, npz = _parts(saved)
    del doc["weights"]["dense_2/b"]
    _refused(_write(tmp_path / "a.genn", doc, npz), "no weights for dense_2/b")
    doc, npz = _parts(saved)
    doc["weights"]["dense_1/W"]["shape"] = [4, 3]
    _refused(_write(tmp_path / "b.genn", doc, npz), r"'dense_1/W' is float32\(4, 3\) in the file but float32\(3, 4\)")
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["config"]["out_features"] = 5  # the config builds other shapes
    _refused(_write(tmp_path / "c.genn", doc, npz), "the weights do not fit the model|does not build")
    doc, npz = _parts(saved)
    doc["weights"]["dense_1/extra"] = {"array": "w99", "shape": [1], "dtype": "float32"}
    _refused(_write(tmp_path / "d.genn", doc, npz), "weights dense_1/extra that the model does not have")


def test_arrays_that_differ_from_their_declaration_or_are_missing_are_refused(saved, tmp_path):
    doc, npz = _parts(saved)
    arrays = dict(np.load(io.BytesIO(npz)))
    arrays["w0"] = np.zeros((4, 3), np.float32)
    _refused(_write(tmp_path / "a.genn", doc, _npz(**arrays)), r"member weights.npz: member 'w0.npy': holds an array "
                                                                 r"of shape \(4, 3\)")
    del arrays["w0"]
    _refused(_write(tmp_path / "b.genn", doc, _npz(**arrays)), "refers to arrays w0 that weights.npz does not hold")
    arrays = dict(np.load(io.BytesIO(npz)))
    arrays["w0"] = np.array([{"pickled": 1}] * 12, dtype=object).reshape(3, 4)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    _refused(_write(tmp_path / "c.genn", doc, buffer.getvalue()), "pickled objects are refused")


def test_sizes_are_bounded_before_anything_is_read_or_allocated(saved, tmp_path):
    _refused(saved, r"model.json declares .* over the limit of 100 \(Limits.max_json_bytes\)|member model.json",
             limits=Limits(max_json_bytes=100))
    _refused(saved, "Limits.max_array_bytes", limits=Limits(max_array_bytes=64))
    doc, npz = _parts(saved)
    doc["model"]["config"]["layers"][0]["config"]["out_features"] = 10**7   # 120 MB of W, 136 B declared
    doc["model"]["config"]["layers"][0]["config"]["in_features"] = 3
    err = _refused(_write(tmp_path / "big.genn", doc, npz), r"sequential/dense_1/W of shape \(3, 10000000\) would take "
                                                               "120000000 bytes")
    assert "disagree" in str(err)
    doc, npz = _parts(saved)
    doc["weights"]["dense_1/W"]["shape"] = [10**6, 10**6]
    _refused(_write(tmp_path / "huge.genn", doc, npz), r"declares \d+ bytes of arrays, over the limit")
    deep = {"class": "Sequential", "config": {"layers": []}}
    for _ in range(70):
        deep = {"class": "Sequential", "config": {"layers": [deep]}}
    doc, npz = _parts(saved)
    doc["model"] = deep
    _refused(_write(tmp_path / "deep.genn", doc, npz), "nests .* levels deep, over the limit")


def test_files_that_are_not_model_files_say_what_they_are(saved, tmp_path):
    (tmp_path / "junk.genn").write_text("not a zip")
    _refused(tmp_path / "junk.genn", "not a zip archive")
    g = ge.Graph("g")
    g.param("W", np.ones((2, 2), np.float32))
    g.save(tmp_path / "graph.ge")
    _refused(tmp_path / "graph.ge", r"whole-graph file \(graph.save\): read it with ge.load")
    doc, npz = _parts(saved)
    _refused(_write(tmp_path / "extra.genn", doc, npz, {"run.py": "import os"}), "expected \\['model.json', "
                                                                                  "'weights.npz'\\] once each")
    _refused(_write(tmp_path / "text.genn", "{not json", npz), "model.json is not valid JSON")
    _refused(_write(tmp_path / "list.genn", "[1, 2]", npz), "is not a ge.nn model")
    _refused(_write(tmp_path / "v2.genn", dict(doc, version=2), npz), "version 2 is not supported")
    _refused(_write(tmp_path / "fields.genn", dict(doc, code="print(1)"), npz), "has fields")
    bad_input = dict(doc, inputs=[{"shape": [None, "3"], "dtype": "float32"}])
    _refused(_write(tmp_path / "in.genn", bad_input, npz), r"inputs\[0\].shape must be a list")
    bad_dtype = dict(doc, inputs=[{"shape": [None, 3], "dtype": "object"}])
    _refused(_write(tmp_path / "dt.genn", bad_dtype, npz), "dtype 'object' is not one of")
    with pytest.raises(ge.GraphEngineError, match=r"model file '.*missing.genn' does not exist; write one with "
                                                  r"model.save\(path\)") as info:
        ge.nn.load(tmp_path / "missing.genn")
    assert isinstance(info.value, FileNotFoundError) and info.value.filename == str(tmp_path / "missing.genn")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "a.genn").write_bytes(b"")
    with pytest.raises(ge.SaveFormatError, match=r"is a directory, not a file; it holds 'a.genn'") as info:
        ge.nn.load(tmp_path / "models")
    assert isinstance(info.value, IsADirectoryError)


def _trained_file(tmp_path, rng):
    X = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=16)
    model = ge.nn.Sequential(ge.nn.Dense(3, 2), seed=0)
    ge.training.fit(model, X, y, optimizer="sgd", lr=0.01, epochs=1, batch_size=8, seed=0, progress=False)
    return model.save(tmp_path / "t.genn"), X, y


@pytest.mark.parametrize("loss, says", [
    ("__import__", r"no loss op named '__import__' is registered; the loss ops are: binary_cross_entropy, .*mse"),
    ("os.system", r"no loss op named 'os.system' is registered"),
    ("cross_entropi", r".*Did you mean 'cross_entropy'"),
    ("relu", r"op 'relu' is not a loss op \(a loss takes \(output, target\) and a reduction attribute\)"),
])
def test_a_saved_loss_that_is_not_a_loss_op_is_refused_at_load(tmp_path, rng, loss, says):
    path, X, y = _trained_file(tmp_path, rng)
    doc, npz = _parts(path)
    assert doc["training"] == {"loss": "cross_entropy", "metrics": ["accuracy"]}
    doc["training"]["loss"] = loss
    _refused(_write(tmp_path / "bad.genn", doc, npz), r"model.json field 'training.loss' is .*, which is refused: "
                                                      + says)


@pytest.mark.parametrize("metrics, says", [
    (["os.system"], r"field 'training.metrics\[0\]' is 'os.system', which is not a metric name; the metrics a "
                    r"file may name are: accuracy, error_rate, mae, mse"),
    (["accuracy", "acuracy"], r"'training.metrics\[1\]' is 'acuracy'.*Did you mean 'accuracy'\?"),
    (["accuracy", "accuracy"], r"'training.metrics' names a metric twice"),
])
def test_saved_metrics_that_are_not_metric_names_are_refused_at_load(tmp_path, rng, metrics, says):
    path, X, y = _trained_file(tmp_path, rng)
    doc, npz = _parts(path)
    doc["training"]["metrics"] = metrics
    _refused(_write(tmp_path / "bad.genn", doc, npz), says)


def test_saved_loss_and_metric_names_that_are_known_load_and_evaluate(tmp_path, rng):
    path, X, y = _trained_file(tmp_path, rng)
    doc, npz = _parts(path)
    doc["training"] = {"loss": "nll", "metrics": ["error_rate", "accuracy"]}
    loaded = ge.nn.load(_write(tmp_path / "ok.genn", doc, npz))
    result = loaded.evaluate(X, y)
    assert sorted(result) == ["accuracy", "error_rate", "loss"]
    assert result["accuracy"] + result["error_rate"] == pytest.approx(1.0)


def test_a_model_that_does_not_build_on_the_saved_inputs_is_refused(saved, tmp_path):
    doc, npz = _parts(saved)
    doc["inputs"] = [{"shape": [None, 5], "dtype": "float32"}]
    _refused(_write(tmp_path / "a.genn", doc, npz), r"does not build on inputs of shape \(None, 5\) \(ModuleError: "
                                                    "Dense 'sequential/dense_1' expects inputs with 3 features")


def test_a_damaged_optimizer_section_is_refused(tmp_path, rng):
    X = rng.standard_normal((16, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=16)
    model = ge.nn.Sequential(ge.nn.Dense(3, 2), seed=0)
    ge.training.fit(model, X, y, optimizer="adam", lr=0.01, epochs=1, batch_size=8, seed=0, progress=False)
    path = model.save(tmp_path / "t.genn")
    doc, npz = _parts(path)
    assert doc["optimizer"]["name"] == "adam" and doc["optimizer"]["params"] == ["dense_1/W", "dense_1/b"]
    bad = json.loads(json.dumps(doc))
    bad["optimizer"]["name"] = "no_such_optimizer"
    _refused(_write(tmp_path / "a.genn", bad, npz), "the optimizer 'no_such_optimizer' cannot be made")
    bad = json.loads(json.dumps(doc))
    bad["optimizer"]["params"] = ["dense_1/W", "elsewhere/W"]
    _refused(_write(tmp_path / "b.genn", bad, npz), "'elsewhere/W', which are not params of the model")
    bad = json.loads(json.dumps(doc))
    bad["optimizer"]["hyper"]["lr"] = "1; rm -rf"
    _refused(_write(tmp_path / "c.genn", bad, npz), "hyper-parameter 'lr' must be a number")
    bad = json.loads(json.dumps(doc))
    key = next(iter(bad["optimizer"]["state"]["dense_1/W"]))
    bad["optimizer"]["state"]["dense_1/W"][key] = {"array": "w0", "shape": [3, 2], "dtype": "float32"}
    _refused(_write(tmp_path / "d.genn", bad, npz), "uses array 'w0', which another entry uses too")
    bad = json.loads(json.dumps(doc))
    bad["optimizer"]["steps"] = -1
    _refused(_write(tmp_path / "e.genn", bad, npz), "steps must be an int >= 0")
