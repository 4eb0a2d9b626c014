"""Augmentation (shifts, flips), the History object and its plots."""

import numpy as np
import pytest

import graphengine as ge
from graphengine.training import AugmentationError, History, ImageAugmenter, random_flip, random_shift


def _image():
    img = np.zeros((1, 8, 8), np.float32)
    img[0, 3, 4] = 1.0
    return img


def test_random_shift_moves_content_by_whole_pixels():
    batch = np.repeat(_image(), 200, axis=0)
    out = random_shift(batch, max_shift=2, rng=np.random.default_rng(0))
    assert out.shape == batch.shape and out.dtype == batch.dtype
    positions = {tuple(int(v) for v in np.argwhere(o)[0]) for o in out}
    assert {(r - 3, c - 4) for r, c in positions} == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    np.testing.assert_array_equal(out.sum(axis=(1, 2)), 1.0)  # nothing lost: the pixel stays inside
    assert random_shift(batch, 0) is not batch


def test_random_shift_fills_with_the_border_value_and_accepts_flat_batches():
    flat = np.ones((50, 64), np.float32)
    out = random_shift(flat, 3, rng=np.random.default_rng(1), fill=0.0)
    assert out.shape == (50, 64)
    shifted = out.reshape(50, 8, 8)
    assert (shifted.sum(axis=(1, 2)) < 64).any() and (shifted == 1).any()
    with pytest.raises(AugmentationError, match="pass image_shape"):
        random_shift(np.ones((2, 10)), 1)
    with pytest.raises(AugmentationError, match="max_shift must be an int >= 0"):
        random_shift(flat, -1)


def test_flips_mirror_exactly():
    batch = np.arange(2 * 9, dtype=np.float32).reshape(2, 3, 3)
    always = random_flip(batch, "horizontal", rng=0, probability=1.0)
    np.testing.assert_array_equal(always, batch[:, :, ::-1])
    np.testing.assert_array_equal(random_flip(batch, "vertical", rng=0, probability=1.0), batch[:, ::-1, :])
    np.testing.assert_array_equal(random_flip(batch, "both", rng=0, probability=0.0), batch)
    with pytest.raises(AugmentationError, match="flip direction"):
        random_flip(batch, "diagonal")


def test_image_augmenter_is_seeded():
    batch = np.random.default_rng(0).random((10, 28 * 28)).astype(np.float32)
    a = ImageAugmenter(max_shift=2, flip="horizontal", seed=3)(batch)
    b = ImageAugmenter(max_shift=2, flip="horizontal", seed=3)(batch)
    np.testing.assert_array_equal(a, b)
    assert a.shape == batch.shape and not np.array_equal(a, batch)
    with pytest.raises(AugmentationError, match="flip must be one of"):
        ImageAugmenter(flip="sideways")


def test_history_records_and_pads():
    h = History()
    h.append(1, {"loss": 1.0})
    h.append(2, {"loss": 0.5, "val_loss": 0.7})
    assert h["loss"] == [1.0, 0.5]
    assert np.isnan(h["val_loss"][0]) and h["val_loss"][1] == 0.7
    assert h.best("loss") == (2, 0.5) and h.best("val_loss") == (2, 0.7)
    assert h.last("loss") == 0.5 and len(h) == 2 and "loss" in h
    assert '"loss": [' in h.to_json()


def test_plot_history_writes_a_png_with_both_curves(tmp_path):
    X, y = ge.data.two_moons(80, seed=0)
    history = ge.training.fit(ge.nn.Sequential(ge.nn.Dense(2, 8), "tanh", ge.nn.Dense(8, 2), seed=0), X, y,
                              optimizer="adam", lr=0.05, epochs=4, validation_split=0.25, seed=0)
    fig = history.plot(tmp_path / "curves.png", title="moons")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    axes = fig.get_axes()
    assert [ax.get_ylabel() for ax in axes] == ["loss", "accuracy"]
    assert [len(ax.get_lines()) for ax in axes] == [2, 2]
    np.testing.assert_allclose(axes[0].get_lines()[1].get_ydata(), history["val_loss"])
    with pytest.raises(ge.training.PlotError, match="history has no 'f1'"):
        history.plot(metrics=["f1"])


def test_history_plot_renders_itself_inline_without_pyplot(tmp_path):
    import subprocess
    import sys

    # in a fresh interpreter: plotting must not import pyplot (no backend, no global state)
    code = ("import graphengine as ge, sys\n"
            "h = ge.training.History()\n"
            "h.append(1, {'loss': 1.0, 'accuracy': 0.5}); h.append(2, {'loss': 0.5, 'accuracy': 0.75})\n"
            "fig = h.plot()\n"
            "png = fig._repr_png_()\n"
            "assert png.startswith(b'\\x89PNG') and len(png) > 5000, len(png)\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n"
            f"h.plot({str(tmp_path / 'curves.png')!r})\n"
            "print(type(fig).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "InlineFigure"
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")
    from matplotlib.figure import Figure

    history = History()
    history.append(1, {"loss": 1.0})
    fig = history.plot(dpi=50)
    assert isinstance(fig, Figure) and fig.inline_dpi == 50
