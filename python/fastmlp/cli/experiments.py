"""The classic model-builder experiments, reproduced in seconds.

The browser model builders of the TensorFlow.js era taught MLPs through a few studies: how
many layers, how wide, which batch size, which activations.  :func:`run_experiments` runs
them on the bundled Fashion-MNIST sample (and on MNIST / Fashion-MNIST / CIFAR-10 when
those are present locally), prints a table per study and, with ``out_dir``, writes a
Markdown report with the tables and PNG loss curves (the PNGs need matplotlib).

Studies (``--study`` names):

- ``depth``: 1 to 5 hidden Dense layers of width 10 with ReLU between, same hyperparameters;
- ``bottleneck``: wide-narrow-wide 10-3-10 against 10-10-10;
- ``batch``: batch size x number of batches at a fixed number of examples (9x100, 100x9,
  30x30; 25x100, 100x25, 50x50; 49x100, 100x49, 70x70), loss curves side by side;
- ``activation``: Flatten -> LeakyReLU -> Dense -> LeakyReLU -> Softmax against
  Dense -> ReLU stacks;

and every run reports its training rate (examples/s) and inference rate (images/s).
Command line: ``fastmlp experiments [--study depth,batch] [--datasets sample,mnist]
[--epochs 5] [--repeats 5] [--out report_dir]``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

__all__ = ["build_mlp", "Run", "run_experiments", "STUDIES", "format_table", "load_for_experiments"]

STUDIES = ("depth", "bottleneck", "batch", "activation")
BATCH_GROUPS = (
    ((9, 100), (100, 9), (30, 30)),
    ((25, 100), (100, 25), (50, 50)),
    ((49, 100), (100, 49), (70, 70)),
)
TRAIN_SUBSET = 5000
TEST_SUBSET = 1000


def _fm():
    import fastmlp as fm  # late: keeps `fastmlp --help` fast and import cycles away
    return fm


def build_mlp(hidden, input_shape=(28, 28), num_classes=10, activation="relu", seed=0,
              rescale=True, dropout=0.0, batch_norm=False):
    """``Rescaling(1/255) -> Flatten -> Dense(h, activation)... -> Dense(classes) -> Softmax``.

    ``activation`` is a Dense activation name (``fm.layers.ACTIVATIONS``) or
    ``leaky_relu`` (Dense followed by ``LeakyReLU(0.01)``). ``batch_norm`` puts a
    ``BatchNormalization`` between each hidden Dense and its activation; ``dropout`` a
    ``Dropout(dropout)`` after each hidden layer.
    """
    fm = _fm()
    layers = []
    if rescale:
        layers.append(fm.Rescaling(1 / 255))
    if len(input_shape) > 1:
        layers.append(fm.Flatten())
    for h in hidden:
        if batch_norm:
            layers += [fm.Dense(h), fm.BatchNormalization(),
                       fm.LeakyReLU(0.01) if activation == "leaky_relu"
                       else fm.Activation(activation)]
        elif activation == "leaky_relu":
            layers += [fm.Dense(h), fm.LeakyReLU(0.01)]
        else:
            layers.append(fm.Dense(h, activation=activation))
        if dropout > 0:
            layers.append(fm.Dropout(dropout))
    layers += [fm.Dense(num_classes), fm.Softmax()]
    return fm.Sequential(layers, input_shape=tuple(input_shape), seed=seed)


@dataclass
class Run:
    study: str
    dataset: str
    name: str
    params: int = 0
    batch_size: int = 0
    batches: int = 0
    examples: int = 0
    loss: float = float("nan")
    test_accuracy: float = float("nan")
    train_rate: float = float("nan")      # training examples/s
    infer_rate: float = float("nan")      # inferences/s (whole test set per call)
    seconds: float = 0.0
    batch_loss: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    error: str = ""


def _subset(x, y, n, seed):
    if len(x) <= n:
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def load_for_experiments(names, seed=0):
    """``{name: ((x_train, y_train), (x_test, y_test))}`` for each dataset present locally
    (never downloads), full sets cut to 5,000 training and 1,000 test images."""
    from .. import datasets as fds

    out, missing = {}, []
    for name in names:
        try:
            (xtr, ytr), (xte, yte) = fds.load(name) if name == "sample" else fds.load(name, download=False)
        except fds.DatasetNotFoundError:
            missing.append(name)
            continue
        out[name] = (_subset(xtr, ytr, TRAIN_SUBSET, seed), _subset(xte, yte, TEST_SUBSET, seed + 1))
    return out, missing


def _infer_rate(model, x, min_time=0.05):
    model.predict(x[:1])
    n, t0 = 0, time.perf_counter()
    while True:
        model.predict(x)
        n += len(x)
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n / dt


def _train_one(run, model, data, *, batch_size, epochs, lr, steps_per_epoch=None, seed=0):
    fm = _fm()
    (xtr, ytr), (xte, yte) = data
    t0 = time.perf_counter()
    try:
        model.compile(optimizer=fm.optimizers.Adam(learning_rate=lr),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        run.params = int(model.count_params())
        t1 = time.perf_counter()
        hist = model.fit(xtr, ytr, batch_size=batch_size, epochs=epochs,
                         steps_per_epoch=steps_per_epoch, shuffle=True, seed=seed, verbose=0)
        fit_s = time.perf_counter() - t1
        run.batch_loss = np.asarray(hist.batch_loss, dtype=np.float32)
        run.batches = len(run.batch_loss)
        run.batch_size = batch_size
        run.examples = min(run.batches * batch_size, epochs * len(xtr)) if steps_per_epoch is None \
            else run.batches * batch_size
        run.loss = float(hist.history["loss"][-1])
        run.train_rate = run.examples / fit_s if fit_s > 0 else float("nan")
        run.test_accuracy = float(model.evaluate(xte, yte)["accuracy"])
        run.infer_rate = _infer_rate(model, xte)
    except Exception as exc:  # one failed configuration must not sink the whole report
        run.error = f"{type(exc).__name__}: {exc}"
    run.seconds = time.perf_counter() - t0
    return run


def _shape_of(data):
    return data[0][0].shape[1:]


def study_depth(data, dataset, epochs, lr, batch_size, seed):
    runs = []
    for depth in range(1, 6):
        hidden = [10] * depth
        run = Run("depth", dataset, f"{depth} hidden x 10 (relu)")
        model = build_mlp(hidden, _shape_of(data), seed=seed)
        runs.append(_train_one(run, model, data, batch_size=batch_size, epochs=epochs, lr=lr, seed=seed))
    return runs


def study_bottleneck(data, dataset, epochs, lr, batch_size, seed):
    runs = []
    for hidden in ([10, 3, 10], [10, 10, 10]):
        run = Run("bottleneck", dataset, "-".join(map(str, hidden)))
        model = build_mlp(hidden, _shape_of(data), seed=seed)
        runs.append(_train_one(run, model, data, batch_size=batch_size, epochs=epochs, lr=lr, seed=seed))
    return runs


def study_batch(data, dataset, epochs, lr, batch_size, seed):
    runs = []
    for group in BATCH_GROUPS:
        for bs, nb in group:
            run = Run("batch", dataset, f"{bs} x {nb} (total {bs * nb})")
            model = build_mlp([10, 10], _shape_of(data), seed=seed)
            runs.append(_train_one(run, model, data, batch_size=bs, epochs=1, lr=lr,
                                   steps_per_epoch=nb, seed=seed))
    return runs


def study_activation(data, dataset, epochs, lr, batch_size, seed):
    fm = _fm()
    shape = _shape_of(data)
    runs = []
    configs = [
        ("Flatten-LeakyReLU-Dense(10)-LeakyReLU-Softmax",
         lambda: fm.Sequential([fm.Rescaling(1 / 255), fm.Flatten(), fm.LeakyReLU(0.01),
                                fm.Dense(10), fm.LeakyReLU(0.01), fm.Softmax()],
                               input_shape=shape, seed=seed)),
        ("Dense(10)-ReLU-Dense(10)-Softmax", lambda: build_mlp([10], shape, seed=seed)),
        ("Dense(10)-ReLU x2-Dense(10)-Softmax", lambda: build_mlp([10, 10], shape, seed=seed)),
    ]
    for name, make in configs:
        run = Run("activation", dataset, name)
        try:
            model = make()
        except Exception as exc:
            run.error = f"{type(exc).__name__}: {exc}"
            runs.append(run)
            continue
        runs.append(_train_one(run, model, data, batch_size=batch_size, epochs=epochs, lr=lr, seed=seed))
    return runs


_STUDY_FUNCS = {"depth": study_depth, "bottleneck": study_bottleneck, "batch": study_batch,
                "activation": study_activation}


def _rate(v):
    if not np.isfinite(v):
        return "-"
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    return f"{v:.0f}"


def _groups(runs):
    """Runs grouped by (dataset, name), in first-seen order (one group per configuration)."""
    groups = {}
    for r in runs:
        groups.setdefault((r.dataset, r.name), []).append(r)
    return list(groups.values())


def format_table(runs, markdown=False):
    """The runs of one study as a text (or Markdown) table, one row per configuration:
    medians over the repeated seeds, and the range of the test accuracy."""
    head = ["dataset", "model", "params", "batch x n", "loss", "test acc (min-max)",
            "train ex/s", "infer/s", "time"]
    rows = []
    for g in _groups(runs):
        r0 = g[0]
        ok = [r for r in g if not r.error]
        if not ok:
            rows.append([r0.dataset, r0.name, "-", "-", "-", "-", "-", "-", f"error: {r0.error}"])
            continue
        med = lambda attr: float(np.median([getattr(r, attr) for r in ok]))  # noqa: E731
        accs = [r.test_accuracy for r in ok]
        acc = f"{med('test_accuracy'):.1%}"
        if len(ok) > 1:
            acc += f" ({min(accs):.0%}-{max(accs):.0%})"
        if len(ok) < len(g):
            acc += f" [{len(g) - len(ok)} failed]"
        rows.append([r0.dataset, r0.name, str(r0.params), f"{r0.batch_size} x {r0.batches}",
                     f"{med('loss'):.3f}", acc, _rate(med("train_rate")), _rate(med("infer_rate")),
                     f"{sum(r.seconds for r in g):.2f}s"])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = lambda row: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _plot_curves(runs, title, path, groups=None):
    """Mean loss curves (over the seeds) of ``runs``; with ``groups`` (lists of run names)
    one panel per group. ImportError with install advice when matplotlib is missing."""
    from ..plot import plot_loss_curves

    curves = {}
    for r in runs:
        if not r.error and len(r.batch_loss):
            curves.setdefault(r.name, []).append(r.batch_loss)
    panels = groups or [list(dict.fromkeys(r.name for r in runs))]
    plot_loss_curves(curves, panels, path=path, title=title,
                     ylabel="training loss (mean over seeds)")


DEFAULT_DATASETS = ("sample", "mnist", "fashion-mnist", "cifar10")


def run_experiments(studies=STUDIES, datasets=DEFAULT_DATASETS, epochs=5, lr=3e-3, batch_size=32,
                    seed=0, repeats=5, out_dir=None, print_fn=print):
    """Run the studies on each dataset present and return ``{study: [Run, ...]}``.

    Every configuration is trained ``repeats`` times (seeds ``seed``, ``seed + 1``, ...:
    width-10 networks are at the mercy of their initialisation) and the tables give
    medians and the accuracy range.  Datasets other than the bundled sample are used only
    when present locally.  Prints one table per study as it finishes; with ``out_dir``
    also writes ``out_dir/report.md`` and, when matplotlib is installed, PNGs of the mean
    loss curves beside it.
    """
    unknown = [s for s in studies if s not in _STUDY_FUNCS]
    if unknown:
        raise ValueError(f"unknown studies {unknown}; choose from {list(STUDIES)}")
    data, missing = load_for_experiments(datasets, seed=seed)
    if missing:
        print_fn(f"(skipping datasets not found locally: {', '.join(missing)})")
    if not data:
        raise ValueError(f"none of the datasets {list(datasets)} is available locally")
    t0 = time.perf_counter()
    results = {}
    for study in studies:
        runs = []
        for name, d in data.items():
            for s in range(seed, seed + repeats):
                runs += _STUDY_FUNCS[study](d, name, epochs, lr, batch_size, s)
        results[study] = runs
        print_fn(f"\n== {study} ==")
        print_fn(format_table(runs))
    total = time.perf_counter() - t0
    print_fn(f"\nall studies: {total:.1f} s")
    if out_dir is not None:
        write_report(results, out_dir, epochs=epochs, lr=lr, batch_size=batch_size,
                     repeats=repeats, total_seconds=total, print_fn=print_fn)
    return results


def write_report(results, out_dir, *, epochs, lr, batch_size, repeats, total_seconds,
                 print_fn=print):
    """Write ``report.md`` (and PNGs when matplotlib is available) into ``out_dir``."""
    os.makedirs(out_dir, exist_ok=True)
    fm = _fm()
    lines = ["# fastmlp: the classic MLP experiments", "",
             f"fastmlp {fm.__version__}; Adam, learning rate {lr}, batch size {batch_size}, "
             f"{epochs} epoch(s) unless the study says otherwise; each configuration trained "
             f"{repeats} times with different seeds (medians, accuracy range); "
             f"{TRAIN_SUBSET} training / {TEST_SUBSET} test images at most per dataset; "
             f"total {total_seconds:.1f} s.", ""]
    titles = {"depth": "Depth: 1 to 5 hidden layers of width 10",
              "bottleneck": "Wide-narrow-wide: 10-3-10 against 10-10-10",
              "batch": "Batch size x number of batches at a fixed total (one pass)",
              "activation": "LeakyReLU straight after Flatten against Dense-ReLU stacks"}
    have_mpl = True
    for study, runs in results.items():
        lines += [f"## {titles.get(study, study)}", "", format_table(runs, markdown=True), ""]
        if not have_mpl:
            continue
        for dataset in sorted({r.dataset for r in runs}):
            sub = [r for r in runs if r.dataset == dataset]
            png = f"{study}-{dataset}.png"
            groups = None
            if study == "batch":
                groups = [[f"{bs} x {nb} (total {bs * nb})" for bs, nb in g] for g in BATCH_GROUPS]
            try:
                _plot_curves(sub, f"{titles.get(study, study)} ({dataset})",
                             os.path.join(out_dir, png), groups)
            except ImportError as exc:
                have_mpl = False
                lines += [f"(no pictures: {exc})", ""]
                break
            lines += [f"![{study} {dataset}]({png})", ""]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print_fn(f"report written to {path}")
    return path
