"""Pictures of training: learning curves, loss curves side by side, predictions with their
probabilities, confusion.

Needs matplotlib (the ``plot`` extra: ``pip install "fastmlp[plot]"``).  Every function
builds a standalone :class:`matplotlib.figure.Figure` (no pyplot state, no GUI backend
needed), writes it to ``path`` when one is given (format from the extension, e.g. ``.png``),
and returns it; in Jupyter the returned figure displays itself.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_history", "plot_loss_curves", "plot_predictions", "plot_confusion",
           "confusion_matrix"]

_INSTALL = 'fastmlp.plot needs matplotlib, which is not installed: pip install "fastmlp[plot]"'
DPI = 100


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(_INSTALL) from exc
    return Figure(figsize=(width, height), dpi=DPI)


def _finish(fig, path):
    if path is not None:
        fig.savefig(path, dpi=DPI)
    return fig


# --- history ---------------------------------------------------------------------------------

def _history_parts(history):
    """(per-epoch dict, per-batch loss, per-batch accuracy) from a History or a plain dict."""
    if isinstance(history, dict):
        epochs = history
        batch_loss = history.get("batch_loss")
        batch_acc = history.get("batch_accuracy")
    else:
        epochs = getattr(history, "history", None)
        if not isinstance(epochs, dict):
            raise TypeError(
                "plot_history expects the History returned by model.fit (or its .history dict), "
                f"got {type(history).__name__}"
            )
        batch_loss = getattr(history, "batch_loss", None)
        batch_acc = getattr(history, "batch_accuracy", None)
    as_arr = lambda v: None if v is None or len(v) == 0 else np.asarray(v, dtype=np.float64)  # noqa: E731
    return epochs, as_arr(batch_loss), as_arr(batch_acc)


def plot_history(history, path=None, title=None):
    """Loss and accuracy against epochs: every batch (light) and every epoch (bold), for
    training and, when present, validation (``val_loss``, ``val_accuracy``)."""
    epochs, batch_loss, batch_acc = _history_parts(history)
    has_acc = "accuracy" in epochs or batch_acc is not None
    fig = _figure(11 if has_acc else 6, 4.2)
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)[0]
    n_epochs = max((len(v) for k, v in epochs.items() if k in ("loss", "accuracy")), default=0)
    for ax, key, batch in zip(axes, ("loss", "accuracy"), (batch_loss, batch_acc)):
        if batch is not None:
            # batch i of n_batches spread over epochs: x = (i + 1) / batches_per_epoch
            per_epoch = len(batch) / n_epochs if n_epochs else len(batch)
            xb = (np.arange(len(batch)) + 1) / per_epoch
            ax.plot(xb, batch, color="tab:blue", alpha=0.25, linewidth=0.8, label=f"train {key} (batch)")
        xe = np.arange(1, n_epochs + 1)
        if key in epochs and len(epochs[key]):
            ax.plot(xe[: len(epochs[key])], epochs[key], color="tab:blue", linewidth=2.5,
                    marker="o", label=f"train {key} (epoch)")
        vk = "val_" + key
        if vk in epochs and len(epochs[vk]):
            ax.plot(xe[: len(epochs[vk])], epochs[vk], color="tab:orange", linewidth=2.5,
                    marker="s", label=f"validation {key}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


def _runs_of(name, value):
    """The runs (1-D float arrays) in one ``curves`` value: a curve, or several."""
    if isinstance(value, np.ndarray):
        runs = list(value) if value.ndim == 2 else [value]  # 2-D: rows are runs
    else:
        value = list(value)
        runs = [value] if all(np.ndim(v) == 0 for v in value) else value
    out = []
    for r in runs:
        r = np.asarray(r, dtype=np.float64)
        if r.ndim != 1:
            raise ValueError(f"plot_loss_curves: curve {name!r} must be 1-D (or a list of 1-D "
                             f"runs), got shape {r.shape}")
        if len(r):
            out.append(r)
    return out


def plot_loss_curves(curves, panels=None, path=None, title=None, *, xlabel="batch",
                     ylabel="training loss"):
    """Loss curves by name, one panel per group of names, side by side.

    Parameters
    ----------
    curves : mapping of str to array-like
        ``name -> curve`` (a 1-D sequence of losses, e.g. ``History.batch_loss``) or
        ``name -> [curve, ...]`` (several runs of one configuration, e.g. seeds, or a 2-D
        array with one run per row): several runs are drawn as their mean over the
        length of the shortest.
    panels : list of lists of str, optional
        The names drawn in each panel, left to right (default: one panel with every name
        in ``curves``). Names without a curve (an empty one, or none) are skipped.
    path : str or path-like, optional
        Write the figure there (format from the extension, e.g. ``.png``).
    title : str, optional
        The figure's title.
    xlabel, ylabel : str
        Axis labels of every panel (x runs 1, 2, ... over the points of each curve).

    Returns
    -------
    matplotlib.figure.Figure
        5 x 3.8 inches per panel.
    """
    if not hasattr(curves, "items"):
        raise TypeError(f"plot_loss_curves expects a mapping name -> curve, got {type(curves).__name__}")
    if panels is None:
        panels = [list(curves)]
    else:
        panels = [[panel] if isinstance(panel, str) else list(panel) for panel in panels]
    if not panels:
        raise ValueError("plot_loss_curves: panels is empty")
    fig = _figure(5.0 * len(panels), 3.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, names in zip(axes, panels):
        for name in dict.fromkeys(names):  # each name once per panel
            runs = _runs_of(name, curves[name]) if name in curves else []
            if not runs:
                continue
            n = min(len(r) for r in runs)
            mean = np.mean([r[:n] for r in runs], axis=0)
            ax.plot(np.arange(1, n + 1), mean, linewidth=1.2, label=str(name))
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _finish(fig, path)


# --- predictions ----------------------------------------------------------------------------

def _probabilities(model, x):
    """Class probabilities for ``x``: ``model.predict`` (softmax applied to logits), or
    ``model`` itself when it is already an array of predictions."""
    if hasattr(model, "predict"):
        out = np.asarray(model.predict(x), dtype=np.float64)
    else:
        out = np.asarray(model, dtype=np.float64)
    if out.ndim != 2:
        raise ValueError(f"expected predictions of shape (N, classes), got {out.shape}")
    if out.shape[0] != len(x):
        raise ValueError(f"{out.shape[0]} predictions for {len(x)} examples")
    looks_like_probs = (out >= -1e-6).all() and np.allclose(out.sum(axis=1), 1.0, atol=1e-3)
    if not looks_like_probs:  # logits: the model has no final Softmax
        z = out - out.max(axis=1, keepdims=True)
        out = np.exp(z)
        out /= out.sum(axis=1, keepdims=True)
    return out


def _as_image(img):
    img = np.asarray(img)
    if img.ndim == 1:
        side = int(round(np.sqrt(img.size)))
        if side * side == img.size:
            img = img.reshape(side, side)
        elif img.size % 3 == 0 and int(round(np.sqrt(img.size // 3))) ** 2 * 3 == img.size:
            side = int(round(np.sqrt(img.size // 3)))
            img = img.reshape(side, side, 3)
        else:
            raise ValueError(f"cannot show a flat vector of {img.size} values as an image")
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def _labels(y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:  # one-hot
        y = y.argmax(axis=1)
    return y.reshape(len(y)).astype(np.int64)


def plot_predictions(model, x, y, path=None, n=16, only_wrong=False, class_names=None,
                     cols=4, title=None):
    """A grid of ``n`` images, each with its true label, the predicted label (red when
    wrong) and a bar chart of the class probabilities (true class green, predicted red).

    ``only_wrong=True`` shows only misclassified examples (the way one inspects an 8 that
    the model calls a 9).  ``model`` may also be an array of predictions for ``x``.
    """
    x = np.asarray(x)
    y = _labels(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    probs = _probabilities(model, x)
    pred = probs.argmax(axis=1)
    idx = np.flatnonzero(pred != y) if only_wrong else np.arange(len(x))
    idx = idx[:n]
    k = probs.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    cols = max(1, min(cols, len(idx))) if len(idx) else 1
    rows = max(1, -(-len(idx) // cols))
    fig = _figure(2.5 * cols, 3.5 * rows)
    if not len(idx):
        fig.text(0.5, 0.5, "no misclassified examples" if only_wrong else "no examples",
                 ha="center", va="center", fontsize=14)
        return _finish(fig, path)
    height = 3.5 * rows
    outer = fig.add_gridspec(rows, cols, hspace=0.4, wspace=0.25, left=0.06, right=0.98,
                             top=1 - 0.45 / height, bottom=0.25 / height)
    for j, i in enumerate(idx):
        r, c = divmod(j, cols)
        cell = outer[r, c].subgridspec(2, 1, height_ratios=[3, 1.1], hspace=0.12)
        ax_img = fig.add_subplot(cell[0])
        ax_bar = fig.add_subplot(cell[1])
        img = _as_image(x[i])
        ax_img.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        wrong = pred[i] != y[i]
        ax_img.set_title(f"true: {names[y[i]]}\npred: {names[pred[i]]} ({probs[i, pred[i]]:.0%})",
                         fontsize=8, color="tab:red" if wrong else "black")
        colors = ["lightgray"] * k
        colors[pred[i]] = "tab:red" if wrong else "tab:green"
        if wrong:
            colors[y[i]] = "tab:green"
        ax_bar.bar(np.arange(k), probs[i], color=colors)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xticks(np.arange(k))
        ax_bar.set_xticklabels([str(t) for t in range(k)], fontsize=6)
        ax_bar.tick_params(axis="y", labelsize=6)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


# --- confusion ------------------------------------------------------------------------------

def confusion_matrix(y_true, y_pred, num_classes=None):
    """Counts ``m[t, p]`` of examples of true class ``t`` predicted as ``p``."""
    y_true = _labels(y_true)
    y_pred = _labels(y_pred)
    if num_classes is None:
        num_classes = int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


def plot_confusion(model, x, y, path=None, class_names=None, normalize=False, title=None):
    """The confusion matrix of ``model`` on ``(x, y)`` as an annotated heat map (rows: true
    class, columns: predicted), with the overall accuracy in the title."""
    y = _labels(y)
    probs = _probabilities(model, np.asarray(x))
    k = probs.shape[1]
    m = confusion_matrix(y, probs.argmax(axis=1), num_classes=k)
    shown = m / np.maximum(m.sum(axis=1, keepdims=True), 1) if normalize else m
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    fig = _figure(1.0 + 0.62 * k, 0.6 + 0.55 * k)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(np.arange(k))
    ax.set_yticks(np.arange(k))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    hi = shown.max() if shown.size else 0
    for t in range(k):
        for p in range(k):
            v = shown[t, p]
            ax.text(p, t, f"{v:.2f}" if normalize else str(v), ha="center", va="center",
                    fontsize=7, color="white" if v > hi / 2 else "black")
    acc = np.trace(m) / max(m.sum(), 1)
    ax.set_title(title or f"confusion matrix (accuracy {acc:.1%})")
    fig.tight_layout()
    return _finish(fig, path)
