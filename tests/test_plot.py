"""fastmlp.plot: renders real PNG files (Agg) of the expected size with non-blank content,
and says how to install matplotlib when it is missing."""
from __future__ import annotations

import struct
import sys
import zlib

import numpy as np
import pytest

from fastmlp import plot as fplot

matplotlib = pytest.importorskip("matplotlib")  # the test extra installs it


def png_size(path):
    data = open(path, "rb").read() if not hasattr(path, "read_bytes") else path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    w, h = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29]) & 0xFFFFFFFF, "corrupt IHDR chunk"
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND", "PNG must end with IEND"
    return w, h


def pixels(path):
    from matplotlib.image import imread
    return imread(str(path))


def assert_not_blank(path, min_colors=20):
    img = pixels(path)
    flat = (img[..., :3] * 255).astype(np.uint8).reshape(-1, 3)
    assert flat.std() > 5, "image is blank"
    assert len(np.unique(flat, axis=0)) >= min_colors, "image has almost no content"


class FakeHistory:
    def __init__(self, epochs=3, batches=20, val=True):
        rng = np.random.default_rng(0)
        self.batch_loss = list(np.linspace(2.3, 0.4, epochs * batches) + rng.normal(0, 0.05, epochs * batches))
        self.batch_accuracy = list(np.linspace(0.1, 0.9, epochs * batches))
        self.history = {"loss": [1.5, 0.8, 0.5][:epochs], "accuracy": [0.5, 0.75, 0.85][:epochs],
                        "examples_per_sec": [1e5] * epochs}
        if val:
            self.history.update(val_loss=[1.2, 0.9, 0.7][:epochs], val_accuracy=[0.6, 0.7, 0.78][:epochs])


class FakeModel:
    """predict() returns fixed logits: the true class for even indices, class+1 for odd."""

    def __init__(self, y, k=10):
        self.y, self.k = np.asarray(y), k

    def predict(self, x):
        n = len(x)
        logits = np.zeros((n, self.k), np.float32)
        pred = np.where(np.arange(n) % 2 == 0, self.y[:n], (self.y[:n] + 1) % self.k)
        logits[np.arange(n), pred] = 4.0
        return logits


def test_plot_history_png(tmp_path):
    p = tmp_path / "h.png"
    fig = fplot.plot_history(FakeHistory(), path=p)
    assert png_size(p) == (1100, 420)
    assert_not_blank(p)
    ax_loss = fig.axes[0]
    labels = [ln.get_label() for ln in ax_loss.lines]
    assert labels == ["train loss (batch)", "train loss (epoch)", "validation loss"]
    # per-batch curve spans epochs 0..3, the epoch curve sits at 1, 2, 3
    assert ax_loss.lines[0].get_xdata()[-1] == pytest.approx(3.0)
    assert list(ax_loss.lines[1].get_xdata()) == [1, 2, 3]


def test_plot_history_accepts_dict_without_validation(tmp_path):
    p = tmp_path / "d.png"
    fplot.plot_history({"loss": [1.0, 0.5]}, path=p)
    assert png_size(p) == (600, 420)


def test_plot_history_rejects_garbage():
    with pytest.raises(TypeError, match="History returned by model.fit"):
        fplot.plot_history(42)


def test_plot_loss_curves_panels_and_means(tmp_path):
    p = tmp_path / "curves.png"
    curves = {"a": [[3.0, 2.0, 1.0, 0.5], [1.0, 1.0, 1.0]],   # two runs: mean over 3 points
              "b": np.linspace(2.0, 0.1, 50),                # one run
              "c": np.array([[1.0, 2.0], [3.0, 4.0]]),        # 2-D: one run per row
              "failed": []}
    fig = fplot.plot_loss_curves(curves, [["a", "failed", "missing"], ["b", "c", "b"]],
                                 path=p, title="studies", ylabel="loss")
    assert png_size(p) == (1000, 380)
    assert_not_blank(p)
    left, right = fig.axes
    assert [ln.get_label() for ln in left.lines] == ["a"]  # no curve: skipped
    assert list(left.lines[0].get_xdata()) == [1, 2, 3]
    assert list(left.lines[0].get_ydata()) == [2.0, 1.5, 1.0]
    assert [ln.get_label() for ln in right.lines] == ["b", "c"]  # each name once per panel
    assert list(right.lines[1].get_ydata()) == [2.0, 3.0]
    assert left.get_xlabel() == "batch" and left.get_ylabel() == "loss"
    assert "studies" in [t.get_text() for t in fig.texts]  # the suptitle
    # default: one panel with every name
    fig = fplot.plot_loss_curves({"x": [1.0, 0.5], "y": [2.0, 1.0]})
    assert len(fig.axes) == 1 and [ln.get_label() for ln in fig.axes[0].lines] == ["x", "y"]


def test_plot_loss_curves_bad_input():
    with pytest.raises(TypeError, match="mapping name -> curve"):
        fplot.plot_loss_curves([[1.0, 0.5]])
    with pytest.raises(ValueError, match="must be 1-D"):
        fplot.plot_loss_curves({"a": [np.zeros((2, 2))]})
    with pytest.raises(ValueError, match="panels is empty"):
        fplot.plot_loss_curves({"a": [1.0]}, panels=[])


def test_plot_predictions_png(tmp_path):
    from fastmlp.datasets import FASHION_MNIST_CLASSES, load_sample
    _, (x, y) = load_sample()
    x, y = x[:40], y[:40]
    p = tmp_path / "pred.png"
    fig = fplot.plot_predictions(FakeModel(y), x, y, path=p, n=8, class_names=FASHION_MNIST_CLASSES)
    assert png_size(p) == (1000, 700)
    assert_not_blank(p)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 8
    assert titles[0].startswith(f"true: {FASHION_MNIST_CLASSES[y[0]]}\npred: {FASHION_MNIST_CLASSES[y[0]]}")
    bars = [ax for ax in fig.axes if ax.patches]
    assert len(bars) == 8 and all(len(ax.patches) == 10 for ax in bars)
    # logits were turned into probabilities: the predicted bar is the tallest, heights sum to 1
    heights = [b.get_height() for b in bars[0].patches]
    assert sum(heights) == pytest.approx(1.0) and int(np.argmax(heights)) == y[0]


def test_plot_predictions_only_wrong(tmp_path):
    from fastmlp.datasets import load_sample
    _, (x, y) = load_sample()
    x, y = x[:40], y[:40]
    fig = fplot.plot_predictions(FakeModel(y), x, y, path=tmp_path / "w.png", n=6, only_wrong=True)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6
    for t in titles:  # every shown example is misclassified
        true, pred = (line.split(": ")[1].split(" (")[0] for line in t.split("\n"))
        assert true != pred
    # a perfect model: nothing to show, still a valid picture
    probs = np.eye(10)[y]
    fplot.plot_predictions(probs, x, y, path=tmp_path / "none.png", only_wrong=True)
    png_size(tmp_path / "none.png")


def test_plot_predictions_colour_images(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    y = np.array([0, 1, 2, 3])
    fplot.plot_predictions(FakeModel(y), x, y, path=tmp_path / "c.png", n=4, cols=2)
    assert png_size(tmp_path / "c.png") == (500, 700)
    assert_not_blank(tmp_path / "c.png")


def test_plot_predictions_bad_input():
    with pytest.raises(ValueError, match="x has 3 examples but y has 2"):
        fplot.plot_predictions(np.eye(3), np.zeros((3, 4)), [0, 1])


def test_plot_confusion_png_and_matrix(tmp_path):
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 0, 2])
    m = fplot.confusion_matrix(y, pred, 3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 2, 0], [1, 0, 2]])
    p = tmp_path / "cm.png"
    fig = fplot.plot_confusion(np.eye(3)[pred], np.zeros((7, 4)), y, path=p,
                               class_names=["a", "b", "c"])
    w, h = png_size(p)
    assert (w, h) == (286, 225)
    assert_not_blank(p, min_colors=5)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts == ["1", "1", "0", "0", "2", "0", "1", "0", "2"]
    assert "71.4%" in fig.axes[0].get_title()


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[plot\]"'):
        fplot.plot_history({"loss": [1.0]})
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[plot\]"'):
        fplot.plot_confusion(np.eye(2), np.zeros((2, 1)), [0, 1])
    with pytest.raises(ImportError, match=r'pip install "fastmlp\[plot\]"'):
        fplot.plot_loss_curves({"a": [1.0, 0.5]})
