"""model.save / ge.nn.load: every built-in layer round-trips (structure, weights, running
statistics, predictions), optimizer state and training names are kept, and what a file
cannot hold is refused when saving."""

import json
import zipfile

import numpy as np
import pytest

import graphengine as ge
from graphengine.nn import ModuleError
from graphengine.nn.loading import builtin_layers
from graphengine.nn.saving import is_builtin, layer_spec


def _mlp():
    nn = ge.nn
    return nn.Sequential(
        nn.Dense(6, 8, activation="tanh", init="he_normal", bias_init=0.1),
        nn.LeakyReLU(alpha=0.2), nn.ELU(), nn.Softplus(), nn.GELU(approximate="tanh"), nn.SiLU(), nn.Sigmoid(),
        nn.Tanh(), nn.ReLU(), nn.Identity(), nn.Activation("leaky_relu", alpha=0.1), "relu",
        nn.Dropout(0.3), nn.GaussianNoise(0.1), nn.BatchNorm(momentum=0.2), nn.LayerNorm(8, eps=1e-4),
        nn.Residual(nn.Dense(8, 8), "relu", activation="relu"),
        nn.Residual(nn.Dense(8, 4, bias=False), projection=True, name="shortcut"),
        nn.Sequential(nn.Dense(4, 5), nn.Step(), nn.Dense(5, 3, name="head"), name="inner"),
        nn.Softmax(), seed=3)


def _cnn():
    nn = ge.nn
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, padding_mode="reflect"), nn.BatchNorm2d(4, affine=False), nn.GroupNorm(2, 4),
        nn.MaxPool2d(2, stride=(2, 2), ceil_mode=True), nn.Dropout2d(0.2),
        nn.ConvTranspose2d(4, 3, 2, stride=2, output_padding=0), nn.AvgPool2d(2, divisor_override=3),
        nn.AdaptiveAvgPool2d((2, None)), nn.Conv2d(3, 4, (1, 2), groups=1, bias=False), nn.GlobalAvgPool2d(),
        nn.Dense(4, 3), nn.LogSoftmax(), seed=4)


def _cnn_flat():
    nn = ge.nn
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding="same"), nn.AvgPool2d(2, count_include_pad=False),
                         nn.GlobalAvgPool2d(keepdims=True), nn.Flatten(), nn.Dense(2, 2), seed=5)


def _conv1d():
    nn = ge.nn
    return nn.Sequential(nn.Conv1d(3, 4, 3, padding="same", dilation=1), nn.MaxPool1d(2, padding=1),
                         nn.AvgPool1d(2), nn.Flatten(), nn.Dense(None, 2), seed=6)


def _embedding():
    nn = ge.nn
    return nn.Sequential(nn.Embedding(10, 4, padding_idx=0), nn.Flatten(), nn.Dense(12, 2), seed=7)


MODELS = {  # name -> (factory, input shape, input dtype)
    "mlp": (_mlp, (None, 6), "float32"),
    "cnn": (_cnn, (None, 2, 8, 8), "float32"),
    "cnn_flat": (_cnn_flat, (None, 1, 6, 6), "float32"),
    "conv1d": (_conv1d, (None, 3, 8), "float32"),
    "embedding": (_embedding, (None, 3), "int64"),
}


def _inputs(shape, dtype, rng, n=5):
    if dtype == "int64":
        return rng.integers(0, 10, size=(n,) + shape[1:])
    return rng.standard_normal((n,) + shape[1:]).astype(np.float32)


def _configs(model):
    return json.dumps(layer_spec(model, "model"), sort_keys=True)


def test_every_builtin_layer_class_is_in_a_round_trip_model():
    used = set()
    for factory, _, _ in MODELS.values():
        used |= {type(m).__name__ for m in factory().modules()}
    assert set(builtin_layers()) <= used, f"not covered: {sorted(set(builtin_layers()) - used)}"
    assert all(is_builtin(cls) for cls in builtin_layers().values())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_then_load_gives_the_same_model_and_predictions(name, tmp_path, rng):
    factory, shape, dtype = MODELS[name]
    model = factory()
    model.build(shape, dtype=dtype)
    for node in model.state():  # running statistics that are not the initial ones
        node.value = node.value + rng.uniform(0.1, 0.5, size=node.shape).astype(node.value.dtype)
    X = _inputs(shape, dtype, rng)
    expected = model.predict(X)
    path = model.save(tmp_path / f"{name}.genn")
    loaded = ge.nn.load(path)
    assert type(loaded) is type(model) and loaded is not model
    assert _configs(loaded) == _configs(model)
    assert loaded.summary() == model.summary()
    assert [type(m) for m in loaded.modules()] == [type(m) for m in model.modules()]
    assert [n.name for n in loaded.params() + loaded.state()] == [n.name for n in model.params() + model.state()]
    for mine, theirs in zip(model.params() + model.state(), loaded.params() + loaded.state()):
        np.testing.assert_array_equal(mine.value, theirs.value)
        assert mine.value.dtype == theirs.value.dtype
    np.testing.assert_array_equal(loaded.predict(X), expected)
    assert loaded.optimizer is None and loaded.training_config is None
    assert loaded.graph.node("x").shape == shape and loaded.graph.node("x").dtype == np.dtype(dtype)


def test_from_config_of_get_config_rebuilds_each_layer_alone():
    for name, cls in builtin_layers().items():
        for factory, _, _ in MODELS.values():
            found = next((m for m in factory().modules() if type(m) is cls), None)
            if found is not None:
                break
        rebuilt = cls.from_config(found.get_config())
        assert type(rebuilt) is cls and rebuilt.get_config() == found.get_config(), name


def test_the_file_is_json_and_npz_without_pickles(tmp_path):
    model = ge.nn.Sequential(ge.nn.Dense(3, 2), "relu", seed=0)
    model.build((None, 3))
    path = model.save(tmp_path / "m.genn")
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["model.json", "weights.npz"]
        doc = json.loads(z.read("model.json"))
        npz = np.load(z.open("weights.npz"), allow_pickle=False)
        assert sorted(npz.files) == ["w0", "w1"]
    assert doc["format"] == "graphengine-nn-model" and doc["version"] == 1 and doc["name"] == "sequential"
    assert doc["model"] == {"class": "Sequential", "config": {"layers": [
        {"class": "Dense", "config": {"in_features": 3, "out_features": 2, "bias": True, "activation": None,
                                      "dtype": "float32", "name": None, "init": "xavier_uniform",
                                      "bias_init": "zeros", "seed": None}},
        {"class": "Activation", "config": {"op": "relu", "name": None}}], "name": None, "seed": 0}}
    assert doc["inputs"] == [{"shape": [None, 3], "dtype": "float32"}]
    assert doc["weights"] == {"dense_1/W": {"array": "w0", "shape": [3, 2], "dtype": "float32"},
                              "dense_1/b": {"array": "w1", "shape": [2], "dtype": "float32"}}
    assert doc["optimizer"] is None and doc["training"] is None


def test_a_trained_model_keeps_its_optimizer_state_and_training_names(tmp_path, rng):
    X = rng.standard_normal((64, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = ge.nn.Sequential(ge.nn.Dense(4, 8), "relu", ge.nn.BatchNorm(), ge.nn.Dense(8, 2), seed=0)
    ge.training.fit(model, X, y, optimizer="adam", lr=0.01, epochs=2, batch_size=16, seed=0, progress=False)
    path = model.save(tmp_path / "trained.genn")
    loaded = ge.nn.load(path)
    assert loaded.training_config == {"loss": "cross_entropy", "metrics": ["accuracy"]}
    mine, theirs = model.optimizer.state_dict(), loaded.optimizer.state_dict()
    assert theirs["name"] == "adam" and theirs["steps"] == mine["steps"] == 8 and theirs["hyper"] == mine["hyper"]
    assert sorted(theirs["state"]) == sorted(mine["state"])
    for pname, items in mine["state"].items():
        for key, value in items.items():
            np.testing.assert_array_equal(theirs["state"][pname][key], value)
    assert loaded.optimizer.params == loaded.params()
    assert loaded.evaluate(X, y) == model.evaluate(X, y)  # the saved loss and metrics
    # going on from the file ends exactly where going on from memory ends
    ge.training.fit(model, X, y, optimizer=model.optimizer, epochs=2, batch_size=16, seed=1, progress=False)
    ge.training.fit(loaded, X, y, optimizer=loaded.optimizer, epochs=2, batch_size=16, seed=1, progress=False)
    assert loaded.optimizer.steps == model.optimizer.steps == 16
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    # without the optimizer
    bare = ge.nn.load(model.save(tmp_path / "bare.genn", include_optimizer=False))
    assert bare.optimizer is None and bare.training_config is None
    np.testing.assert_array_equal(bare.predict(X), model.predict(X))


def test_a_loaded_model_saves_again_with_what_it_was_loaded_with(tmp_path, rng):
    X = rng.standard_normal((32, 3)).astype(np.float32)
    y = rng.integers(0, 2, size=32)
    model = ge.nn.Sequential(ge.nn.Dense(3, 2), seed=0)
    ge.training.fit(model, X, y, optimizer="momentum", lr=0.1, epochs=1, batch_size=8, seed=0, progress=False)
    once = ge.nn.load(model.save(tmp_path / "a.genn"))
    twice = ge.nn.load(once.save(tmp_path / "b.genn"))
    assert twice.training_config == once.training_config and twice.optimizer.steps == once.optimizer.steps == 4
    np.testing.assert_array_equal(twice.predict(X), model.predict(X))


class Block(ge.nn.Module):
    """A custom module with constructor arguments: saved with its get_config."""

    def __init__(self, width, scale=1.0, name=None):
        super().__init__(name=name)
        self.width, self.scale = width, scale
        self.lin = ge.nn.Dense(None, width)

    def forward(self, x):
        return self.lin(x) * self.scale

    def get_config(self):
        return {"width": self.width, "scale": self.scale, "name": self.name}


class NoConfig(ge.nn.Module):
    def __init__(self, width):
        super().__init__()
        self.lin = ge.nn.Dense(None, width)

    def forward(self, x):
        return self.lin(x)


def test_custom_modules_need_get_config_and_load_only_when_passed(tmp_path, rng):
    model = ge.nn.Sequential(Block(3, scale=2.0), "tanh", seed=1)
    model.build((None, 4))
    path = model.save(tmp_path / "custom.genn")
    doc = json.loads(zipfile.ZipFile(path).read("model.json"))
    assert doc["model"]["config"]["layers"][0] == {
        "class": "Block", "config": {"width": 3, "scale": 2.0, "name": None}, "custom": True}
    with pytest.raises(ge.SaveFormatError, match=r"class 'Block', not a built-in ge.nn layer.*custom_objects="):
        ge.nn.load(path)
    loaded = ge.nn.load(path, custom_objects={"Block": Block})
    X = rng.standard_normal((4, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    with pytest.raises(ge.SaveFormatError, match="must be a ge.nn.Module subclass"):
        ge.nn.load(path, custom_objects={"Block": dict})
    broken = NoConfig(2)
    broken.build((None, 3))
    with pytest.raises(ModuleError, match="takes the arguments width, so it must define get_config"):
        broken.save(tmp_path / "no.genn")
    assert not (tmp_path / "no.genn").exists() and not (tmp_path / "no.genn.partial").exists()


def test_what_a_file_cannot_hold_is_refused_when_saving(tmp_path):
    with pytest.raises(ModuleError, match=r"not built yet.*model.build"):
        ge.nn.Dense(2, 2).save(tmp_path / "x.genn")
    odd = ge.nn.Activation("leaky_relu", alpha=np.nan)
    odd.build((None, 2))
    with pytest.raises(ModuleError, match="config value model.alpha is nan"):
        odd.save(tmp_path / "x.genn")
    weird = ge.nn.Activation("leaky_relu", alpha={"a": 1})
    weird._graph = ge.Graph("fake")  # never built for real: the config is refused first
    weird._first_call = ((), None, True, False)
    with pytest.raises(ModuleError, match="config value model.alpha is a dict"):
        weird.save(tmp_path / "x.genn")
    assert not (tmp_path / "x.genn").exists()


def test_an_init_function_is_left_out_and_the_weights_still_load(tmp_path, rng):
    def tiny(shape, dtype="float32", rng=None):
        return np.full(shape, 0.01, dtype=dtype)

    model = ge.nn.Dense(3, 2, init=tiny, seed=np.random.default_rng(0))
    model.build((None, 3))
    assert "init" not in model.get_config() and "seed" not in model.get_config()
    loaded = ge.nn.load(model.save(tmp_path / "d.genn"))
    np.testing.assert_array_equal(loaded.W.value, np.full((3, 2), 0.01, np.float32))


def _fitted(rng):
    X = rng.standard_normal((16, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    model = ge.nn.Sequential(ge.nn.Dense(3, 2), seed=0)
    ge.training.fit(model, X, y, optimizer="adam", lr=0.01, epochs=1, batch_size=8, seed=0, progress=False)
    return model


def test_saving_to_a_directory_is_refused_before_anything_is_written(tmp_path, rng):
    model = _fitted(rng)
    folder = tmp_path / "models"
    folder.mkdir()
    with pytest.raises(ge.GraphEngineError, match=r"cannot write the model to '.*models': it is a directory; give a "
                                                  r"file name inside it, e.g. '.*models/model.genn'") as info:
        model.save(folder)
    assert isinstance(info.value, IsADirectoryError) and info.value.filename == str(folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"] and not any(folder.iterdir())  # no .partial


def test_a_folder_that_cannot_be_made_is_named(tmp_path, rng):
    model = _fitted(rng)
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(ge.GraphEngineError, match=r"its folder '.*taken/sub' does not exist and cannot be made") as info:
        model.save(tmp_path / "taken" / "sub" / "m.genn")
    assert isinstance(info.value, FileNotFoundError)
    model.save(tmp_path / "new" / "deeper" / "m.genn")  # a folder that does not exist yet is made
    assert ge.nn.load(tmp_path / "new" / "deeper" / "m.genn").parameter_count() == 8


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_non_finite_hyper_parameter_is_named_and_nothing_is_written(tmp_path, rng, value):
    model = _fitted(rng)
    path = model.save(tmp_path / "m.genn")
    kept = path.read_bytes() if hasattr(path, "read_bytes") else open(path, "rb").read()
    model.optimizer.hyper["lr"] = value
    with pytest.raises(ModuleError, match=rf"cannot save the optimizer's hyper-parameter lr: it is {value}, and a "
                                          r"file holds finite numbers only.*include_optimizer=False"):
        model.save(path)
    assert open(path, "rb").read() == kept  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.genn"]
    model.save(tmp_path / "bare.genn", include_optimizer=False)  # the way out the message names


def test_a_loss_given_as_a_function_is_not_saved_and_save_and_evaluate_say_so(tmp_path):
    X, y = ge.data.two_moons(64, seed=0)
    X = X.astype(np.float32)
    targets = y.astype(np.float32).reshape(-1, 1)

    def my_loss(prediction, target):
        return ge.ops.mse(prediction, target)

    model = ge.nn.Sequential(ge.nn.Dense(2, 1), seed=0)
    ge.training.fit(model, X, targets, loss=my_loss, epochs=1, progress=False)
    with pytest.warns(UserWarning, match="not the loss my_loss"):
        model.save(tmp_path / "m.genn")
    loaded = ge.nn.load(tmp_path / "m.genn")
    with pytest.raises(ge.nn.ModuleError, match="trained with a loss given as a Python function.* loss='mse' for "
                                                "regression"):
        loaded.evaluate(X, targets)
    assert set(loaded.evaluate(X, targets, loss="mse")) >= {"loss"}
