"""Reproducible dropout and Gaussian noise: seeded nodes draw the masks of the training
step (``ge.training.noise_step``), ge.nn layers take their seed from the model's or
fit's, and a run resumed from a checkpoint draws the masks of the uninterrupted run."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.plugins.regularizers.noise import keep_mask
from graphengine.training import NoiseStepError, current_noise_step, noise_step
from graphengine.training.noise_step import step_seed


def noisy_model(seed=None):
    return ge.nn.Sequential(ge.nn.Dense(2, 16), "tanh", ge.nn.Dropout(0.5), ge.nn.GaussianNoise(0.2),
                            ge.nn.Dense(16, 2), seed=seed)


def run(model, seed=0, epochs=3):
    X, y = ge.data.two_moons(80, noise=0.2, seed=1)
    history = ge.training.fit(model, X, y, optimizer="adam", lr=0.02, epochs=epochs, batch_size=10, seed=seed,
                              progress=False)
    return history, [p.value.copy() for p in model.params()]


def test_two_fits_with_the_same_seed_are_bit_identical_with_dropout_and_noise():
    h1, w1 = run(noisy_model())
    h2, w2 = run(noisy_model())
    assert h1["loss"] == h2["loss"]
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
    h3, _ = run(noisy_model(), seed=1)
    assert h3["loss"] != h1["loss"]


def test_the_model_seed_fixes_the_masks_whatever_the_data_seed():
    # the model's own seed decides the masks (and the initial weights); fit's seed the data order
    a = ge.nn.Sequential(ge.nn.Dense(2, 4), ge.nn.Dropout(0.5), seed=3)
    b = ge.nn.Sequential(ge.nn.Dense(2, 4), ge.nn.Dropout(0.5), seed=3)
    c = ge.nn.Sequential(ge.nn.Dense(2, 4), ge.nn.Dropout(0.5), seed=4)
    seeds = []
    for model in (a, b, c):
        g = ge.Graph()
        model(g.input("x", shape=(None, 2)))
        seeds.append([n.attrs["seed"] for n in g.nodes() if n.op == "dropout"][0])
    assert seeds[0] == seeds[1] != seeds[2] and all(isinstance(s, int) for s in seeds)


def test_without_any_seed_the_masks_are_fresh_draws():
    g = ge.Graph()
    x = g.input("x", shape=(None, 50))
    model = ge.nn.Sequential(ge.nn.Dropout(0.5))
    out = model(x)
    assert out.attrs["seed"] is None
    X = np.ones((40, 50), np.float32)
    with noise_step(0):
        first = g.forward({x: X}, fetch=[out]).value(out)
        second = g.forward({x: X}, fetch=[out]).value(out)
    assert not np.array_equal(first, second)


def test_layer_seeds_follow_the_path_and_the_call():
    g = ge.Graph()
    x = g.input("x", shape=(None, 4))
    model = ge.nn.Sequential(ge.nn.Dropout(0.5), ge.nn.Dropout(0.5), seed=0)
    model(x)
    first, second = [n.attrs["seed"] for n in g.nodes() if n.op == "dropout"]
    assert first != second  # two layers, two streams of masks
    explicit = ge.nn.Dropout(0.5, seed=11)
    assert explicit.get_config()["seed"] == 11
    assert ge.nn.Dropout.from_config(explicit.get_config()).seed == 11
    with pytest.raises(ge.GraphEngineError, match=r"Dropout seed must be None .* or an int >= 0, got -2"):
        ge.nn.Dropout(0.5, seed=-2)
    with pytest.raises(ge.GraphEngineError, match=r"GaussianNoise seed must be None .* got 'a'"):
        ge.nn.GaussianNoise(0.1, seed="a")


def test_a_seeded_node_draws_one_mask_per_step_and_the_same_outside_any_step():
    g = ge.Graph()
    x = g.input("x", shape=(None, 64))
    out = ge.ops.dropout(x, p=0.5, seed=7)
    X = np.ones((8, 64), np.float32)

    def mask():
        return g.forward({x: X}, fetch=[out]).value(out) != 0

    outside = mask()
    np.testing.assert_array_equal(outside, keep_mask((8, 64), 0.5, 7))  # the documented pure function of the seed
    np.testing.assert_array_equal(mask(), outside)
    with noise_step(0):
        step0 = mask()
        np.testing.assert_array_equal(mask(), step0)  # the same step: the same mask
        assert current_noise_step() == 0
    with noise_step(1):
        step1 = mask()
    assert current_noise_step() is None
    assert not np.array_equal(step0, step1)
    np.testing.assert_array_equal(step0, keep_mask((8, 64), 0.5, step_seed(7, 0)))
    # the gradient is the mask of the same step
    xn = ge.Graph()
    xi = xn.input("x", shape=(None, 64))
    y = ge.ops.sum(ge.ops.dropout(xi, p=0.5, seed=7))
    with noise_step(1):
        grad = xn.forward({xi: X}, fetch=[y, xi]).backward(y).grad(xi)
    np.testing.assert_array_equal(grad != 0, step1)


def test_gaussian_noise_varies_with_the_step():
    g = ge.Graph()
    x = g.input("x", shape=(None, 5))
    out = ge.ops.gaussian_noise(x, std=1.0, seed=2)
    X = np.zeros((3, 5), np.float32)
    with noise_step(4):
        a = g.forward({x: X}, fetch=[out]).value(out)
        b = g.forward({x: X}, fetch=[out]).value(out)
    with noise_step(5):
        c = g.forward({x: X}, fetch=[out]).value(out)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3", None])
def test_a_bad_step_is_refused(bad):
    with pytest.raises(NoiseStepError, match=r"noise_step takes the step number, an int >= 0; got"):
        with noise_step(bad):
            pass
    assert current_noise_step() is None


def test_fit_draws_the_masks_of_the_optimizer_step():
    X, y = ge.data.two_moons(40, seed=0)
    model = noisy_model(seed=0)
    seen = []
    history = ge.training.fit(model, X, y, epochs=1, batch_size=10, seed=0, progress=False,
                              callbacks=[ge.training.LambdaCallback(
                                  on_batch_end=lambda b, logs: seen.append(model.trainer.noise_step_number()))])
    assert seen == [1, 2, 3, 4] and history.trainer.optimizer.steps == 4


def test_a_resumed_run_draws_the_masks_of_the_uninterrupted_one(tmp_path):
    X, y = ge.data.two_moons(80, noise=0.2, seed=1)
    common = dict(optimizer="adam", lr=0.02, batch_size=10, seed=0, progress=False)
    whole = ge.training.fit(noisy_model(), X, y, epochs=4, **common)
    path = tmp_path / "two.ckpt"
    first = ge.training.fit(noisy_model(), X, y, epochs=2, **common)
    first.trainer.save_checkpoint(path)
    resumed = ge.training.fit(noisy_model(), X, y, epochs=4, resume_from=path, **common)
    assert resumed["loss"] == whole["loss"]
    for a, b in zip(resumed.model.params(), whole.model.params()):
        np.testing.assert_array_equal(a.value, b.value)


def test_a_compiled_step_draws_the_mask_of_each_step():
    g = ge.Graph()
    x = g.input("x", shape=(None, 32))
    w = g.param("w", np.ones((32, 1), np.float32))
    dropped = ge.ops.dropout(x, p=0.5, seed=3)
    loss = ge.ops.mean(ge.ops.matmul(dropped, w))
    step = ge.compile_step(loss, ge.optimizers.create("sgd", [w], lr=0.0), fetch=[loss, dropped])
    X = np.ones((4, 32), np.float32)
    masks = []
    for k in (0, 1, 0, 1, 1):  # the first call is interpreted, later ones run the generated code
        with noise_step(k):
            step({x: X})
        masks.append(step.value(dropped) != 0)
    np.testing.assert_array_equal(masks[0], keep_mask((4, 32), 0.5, step_seed(3, 0)))
    np.testing.assert_array_equal(masks[1], keep_mask((4, 32), 0.5, step_seed(3, 1)))
    np.testing.assert_array_equal(masks[2], masks[0])
    np.testing.assert_array_equal(masks[3], masks[1])
    np.testing.assert_array_equal(masks[4], masks[1])
    assert not np.array_equal(masks[0], masks[1])
