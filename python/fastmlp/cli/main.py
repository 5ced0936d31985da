"""The ``fastmlp`` command line: argument types, ``demo``, ``train``, ``experiments``,
``info``, the parser and :func:`main` (``bench`` is in :mod:`fastmlp.cli.bench`).

Bad arguments give argparse's usage message (exit 2); expected failures (a dataset not
found, a model that does not fit the data) print ``fastmlp: error: ...`` (exit 1), never a
traceback (set FASTMLP_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

from ._common import CLIError, _fmt_rate, _optimizer
from .bench import BENCH_MODELS, cmd_bench
from .bench_precision import PRECISIONS

__all__ = ["main", "build_parser", "CLIError"]

DATASETS = ("sample", "mnist", "fashion-mnist", "cifar10")
from ..layers import ACTIVATIONS  # the engine's list (the one list)
from ..optimizers import NAMES as OPTIMIZER_NAMES

SCHEDULES = ("constant", "cosine", "exponential")
OPTIMIZERS = OPTIMIZER_NAMES


# --- argument types -------------------------------------------------------------------------

def _hidden(text):
    text = text.strip()
    if text in ("", "none"):
        return []
    try:
        sizes = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths like 256,128, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be >= 1, got {text!r}")
    return sizes


def _scalar(convert, ok, expected):
    """An argparse type: ``convert(text)`` that satisfies ``ok``, else the usage error
    "expected <expected>, got ...". (NaN fails every bound, inf the finite ones.)"""
    def parse(text):
        try:
            v = convert(text)
        except ValueError:
            v = None
        if v is None or not ok(v):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return v
    return parse


_positive_int = _scalar(int, lambda v: v >= 1, "a positive integer")
_nonneg_int = _scalar(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _scalar(float, lambda v: v > 0 and np.isfinite(v), "a positive number")
_fraction = _scalar(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_dropout_rate = _scalar(float, lambda v: 0 <= v < 1, "a rate in [0, 1)")


def _int_list(text):
    try:
        vals = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return vals


def _name_list(choices):
    def parse(text):
        vals = [t.strip() for t in text.split(",") if t.strip()]
        bad = [v for v in vals if v not in choices]
        if not vals or bad:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list from {', '.join(choices)}; got {text!r}")
        return vals
    return parse


# --- helpers --------------------------------------------------------------------------------

def _require_matplotlib(flag):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CLIError(f'{flag} needs matplotlib, which is not installed: pip install "fastmlp[plot]"') from None


def _load(name):
    from .. import datasets as fds

    try:
        return fds.load(name)
    except fds.DatasetNotFoundError as exc:
        raise CLIError(str(exc)) from None


def _predict_rate(model, x, min_time=0.2):
    """Inferences/s of ``model.predict`` over ``x`` (one call per pass), best of a few passes."""
    model.predict(x[: min(len(x), 8)])
    best = 0.0
    t_end = time.perf_counter() + min_time
    while True:
        t0 = time.perf_counter()
        model.predict(x)
        dt = time.perf_counter() - t0
        best = max(best, len(x) / dt if dt > 0 else 0.0)
        if time.perf_counter() >= t_end:
            return best


# --- demo -----------------------------------------------------------------------------------

def cmd_demo(args):
    import fastmlp as fm
    from .. import datasets as fds
    from .experiments import build_mlp

    t_start = time.perf_counter()
    (xtr, ytr), (xte, yte) = fds.load_sample()
    print(f"fastmlp {fm.__version__} demo: Fashion-MNIST sample bundled in the package "
          f"({len(xtr)} training, {len(xte)} test images), {fm.get_num_threads()} thread(s)")
    model = build_mlp([256, 128], input_shape=xtr.shape[1:], seed=args.seed)
    model.compile(optimizer=fm.optimizers.Adam(learning_rate=1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"model: 784-256-128-10 ({model.count_params():,} parameters), Adam 1e-3, "
          f"batch {args.batch_size}, {args.epochs} epochs")
    t0 = time.perf_counter()
    hist = model.fit(xtr, ytr, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                     validation_data=(xte, yte), verbose=2 if not args.quiet else 0)
    fit_s = time.perf_counter() - t0
    res = model.evaluate(xte, yte)
    train_rate = len(xtr) * args.epochs / fit_s
    infer_bulk = _predict_rate(model, xte)
    infer_one = _predict_rate(model, xte[:1], min_time=0.1)
    print()
    print(f"test accuracy      {res['accuracy']:.2%}  (loss {res['loss']:.4f})")
    print(f"training           {_fmt_rate(train_rate)} examples/s  ({fit_s:.2f} s for "
          f"{args.epochs} epochs)")
    print(f"inference          {_fmt_rate(infer_bulk)} images/s (batch {len(xte)}), "
          f"{_fmt_rate(infer_one)}/s (batch 1)")
    print(f"total              {time.perf_counter() - t_start:.2f} s")
    if args.plot:
        from ..plot import plot_history
        plot_history(hist, path=args.plot, title="fastmlp demo: Fashion-MNIST sample")
        print(f"learning curves written to {args.plot}")
    return 0


# --- train ----------------------------------------------------------------------------------

def _schedule(name, lr, steps):
    """The learning rate for --schedule: constant, or decaying over the whole run."""
    from ..optimizers import schedules
    if name == "cosine":
        return schedules.CosineDecay(lr, decay_steps=max(steps, 1))
    if name == "exponential":  # to a tenth of lr by the end
        return schedules.ExponentialDecay(lr, decay_steps=max(steps, 1), decay_rate=0.1)
    return lr


def cmd_train(args):
    from .experiments import build_mlp

    if args.plot:
        _require_matplotlib("--plot")
    (xtr, ytr), (xte, yte) = _load(args.dataset)
    k = int(max(ytr.max(), yte.max())) + 1
    print(f"dataset {args.dataset}: {len(xtr)} training, {len(xte)} test images of shape "
          f"{xtr.shape[1:]}, {k} classes")
    model = build_mlp(args.hidden, input_shape=xtr.shape[1:], num_classes=k,
                      activation=args.activation, seed=args.seed, dropout=args.dropout,
                      batch_norm=args.batch_norm)
    n_train = int(len(xtr) * (1 - args.validation_split))
    steps = args.epochs * (args.steps_per_epoch or -(-n_train // args.batch_size))
    model.compile(optimizer=_optimizer(args.optimizer, _schedule(args.schedule, args.lr, steps)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    widths = [int(np.prod(xtr.shape[1:]))] + list(args.hidden) + [k]
    extras = "".join([f", dropout {args.dropout}" if args.dropout else "",
                      ", batch norm" if args.batch_norm else "",
                      f", {args.schedule} schedule" if args.schedule != "constant" else ""])
    print(f"model {'-'.join(map(str, widths))} ({args.activation}{extras}), "
          f"{model.count_params():,} parameters; {args.optimizer} lr {args.lr}, batch "
          f"{args.batch_size}, {args.epochs} epochs")
    verbose = args.verbose if args.verbose is not None else (1 if sys.stdout.isatty() else 2)
    t0 = time.perf_counter()
    hist = model.fit(xtr, ytr, batch_size=args.batch_size, epochs=args.epochs,
                     validation_split=args.validation_split, seed=args.seed, verbose=verbose,
                     steps_per_epoch=args.steps_per_epoch)
    fit_s = time.perf_counter() - t0
    res = model.evaluate(xte, yte)
    rates = hist.history.get("examples_per_sec") or []
    rate = float(np.mean(rates)) if len(rates) else float("nan")
    print(f"test accuracy {res['accuracy']:.2%}  loss {res['loss']:.4f}  "
          f"({fit_s:.2f} s, {_fmt_rate(rate)} examples/s)")
    if args.save:
        model.save(args.save)
        print(f"model saved to {args.save}")
    if args.plot:
        from ..plot import plot_history
        plot_history(hist, path=args.plot, title=f"fastmlp train: {args.dataset}")
        print(f"learning curves written to {args.plot}")
    return 0


# --- experiments ----------------------------------------------------------------------------

def cmd_experiments(args):
    from .experiments import run_experiments

    try:
        run_experiments(studies=args.study, datasets=args.datasets, epochs=args.epochs,
                        lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                        repeats=args.repeats, out_dir=args.out)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    return 0


# --- info -----------------------------------------------------------------------------------

def _openmp_runtimes():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (install threadpoolctl to see it)"
    libs = [f"{i.get('internal_api')}{' ' + i['version'] if i.get('version') else ''} "
            f"({os.path.basename(i.get('filepath', ''))}, "
            f"{i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "openmp"]
    return "; ".join(libs) if libs else "none loaded"


def cmd_info(args):
    import fastmlp as fm
    from .. import datasets as fds

    info = fm.cpu_info()
    print(f"fastmlp {fm.__version__}  (python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()})")
    print(f"ISA tier      active: {info['isa']}   supported: {', '.join(info['supported'])}   "
          f"compiled: {', '.join(info['compiled'])}")
    if info.get("env_isa"):
        print(f"              (FASTMLP_ISA={info['env_isa']})")
    print(f"threads       {info['num_threads']}   (cpu count {os.cpu_count()})")
    print(f"OpenMP        {'yes' if info['openmp'] else 'no'}; runtime: {_openmp_runtimes()}")
    lp = info["low_precision"]
    print(f"int8          {lp['int8']}")
    print(f"bf16          {lp['bf16']}")
    if lp["cpu_has"]:
        print(f"              CPU low-precision units: {', '.join(lp['cpu_has'])}")
    print("datasets")
    print(f"  sample          bundled ({os.path.basename(fds.SAMPLE_PATH)})")
    for name in fds.DATASETS:
        where = fds.find_local(name)
        print(f"  {name:<15} {where or 'not found locally (downloads on first use)'}")
    from importlib.metadata import PackageNotFoundError, version
    opt = []
    for mod in ("matplotlib", "torch", "onnxruntime", "onnx", "tqdm", "threadpoolctl"):
        try:  # the installed distribution's version, without importing (torch takes seconds)
            opt.append(f"{mod} {version(mod)}")
        except PackageNotFoundError:
            opt.append(f"{mod} -")
    print("optional      " + ", ".join(opt))
    return 0


# --- parser ---------------------------------------------------------------------------------

def build_parser():
    """The ``argparse`` parser of the ``fastmlp`` command (subcommands ``demo``, ``train``,
    ``bench``, ``experiments``, ``info``, ``studio``).
    """
    p = argparse.ArgumentParser(
        prog="fastmlp",
        description="Fast multilayer perceptrons on the CPU: demo, training, benchmarks.")
    p.add_argument("--version", action="version", version=_version())
    p.add_argument("--threads", dest="num_threads", type=_positive_int, default=None,
                   help="number of threads for fastmlp's kernels (default: all)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser("demo", help="train 784-256-128-10 on the bundled sample (offline, seconds)")
    d.add_argument("--epochs", type=_positive_int, default=10)
    d.add_argument("--batch-size", type=_positive_int, default=64)
    d.add_argument("--seed", type=_nonneg_int, default=0)
    d.add_argument("--plot", metavar="PNG", help="write learning curves (needs matplotlib)")
    d.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    d.set_defaults(func=cmd_demo)

    t = sub.add_parser("train", help="train an MLP on a dataset")
    t.add_argument("--dataset", choices=DATASETS, default="sample")
    t.add_argument("--hidden", type=_hidden, default=[256, 128],
                   help="hidden layer widths, comma separated (default: 256,128)")
    t.add_argument("--activation", choices=ACTIVATIONS, default="relu")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    t.add_argument("--lr", type=_positive_float, default=1e-3, help="learning rate (default: 1e-3)")
    t.add_argument("--schedule", choices=SCHEDULES, default="constant",
                   help="learning-rate schedule over the whole run (default: constant)")
    t.add_argument("--dropout", type=_dropout_rate, default=0.0, metavar="RATE",
                   help="Dropout(RATE) after each hidden layer (default: none)")
    t.add_argument("--batch-norm", action="store_true",
                   help="BatchNormalization between each hidden Dense and its activation")
    t.add_argument("--batch-size", type=_positive_int, default=64)
    t.add_argument("--epochs", type=_positive_int, default=5)
    t.add_argument("--steps-per-epoch", type=_positive_int, default=None,
                   help="batches per epoch (default: the whole training set)")
    t.add_argument("--validation-split", type=_fraction, default=0.0)
    t.add_argument("--seed", type=_nonneg_int, default=0)
    t.add_argument("--save", metavar="PATH", help="save the trained model (e.g. model.npz)")
    t.add_argument("--plot", metavar="PNG", help="write learning curves (needs matplotlib)")
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=None,
                   help="0 silent, 1 progress bar, 2 one line per epoch (default: 1 on a terminal)")
    t.set_defaults(func=cmd_train)

    b = sub.add_parser("bench", help="inference and training rates beside PyTorch / ONNX Runtime")
    b.add_argument("--models", type=_name_list(tuple(BENCH_MODELS)), default=list(BENCH_MODELS),
                   help="comma separated, from: " + ", ".join(BENCH_MODELS))
    b.add_argument("--batches", type=_int_list, default=[1, 64, 1024])
    b.add_argument("--threads", dest="bench_threads", type=_int_list, default=None,
                   help="thread counts to compare (default: 1 and all)")
    b.add_argument("--seconds", type=_positive_float, default=0.3,
                   help="time per measurement (default: 0.3)")
    b.add_argument("--no-train", action="store_true", help="inference only")
    b.add_argument("--precision", choices=PRECISIONS, default="float32",
                   help="int8 / bf16: fastmlp's quantized model beside ONNX Runtime's and "
                        "PyTorch's at the same precision (inference only)")
    b.add_argument("--no-torch", action="store_true")
    b.add_argument("--no-onnx", action="store_true")
    b.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    b.set_defaults(func=cmd_bench)

    from .experiments import STUDIES
    e = sub.add_parser("experiments", help="the classic depth / width / batch-size studies")
    e.add_argument("--study", type=_name_list(STUDIES), default=list(STUDIES),
                   help="comma separated, from: " + ", ".join(STUDIES))
    e.add_argument("--datasets", type=_name_list(DATASETS), default=list(DATASETS),
                   help="comma separated (default: all); all but the sample are used only "
                        "when present locally, never downloaded")
    e.add_argument("--epochs", type=_positive_int, default=5)
    e.add_argument("--repeats", type=_positive_int, default=5,
                   help="seeds per configuration (default: 5)")
    e.add_argument("--lr", type=_positive_float, default=3e-3)
    e.add_argument("--batch-size", type=_positive_int, default=32)
    e.add_argument("--seed", type=_nonneg_int, default=0)
    e.add_argument("--out", metavar="DIR", help="write report.md (+ PNGs) into DIR")
    e.set_defaults(func=cmd_experiments)

    i = sub.add_parser("info", help="version, CPU tiers, threads, OpenMP runtime, datasets")
    i.set_defaults(func=cmd_info)

    from ..studio.cli import add_parser as add_studio  # (imports no web framework)
    add_studio(sub)
    return p


def _version():
    try:
        from importlib.metadata import version
        return f"fastmlp {version('fastmlp')}"
    except Exception:
        return "fastmlp"


def main(argv=None):
    """Run the ``fastmlp`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: the subcommand's status (0 on success), 1 on a CLI, value, type
        or OS error (printed to stderr; ``FASTMLP_DEBUG=1`` re-raises the last three), 2 when no command is given (help is
        printed), 130 on Ctrl-C.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        import fastmlp as fm
    except ImportError as exc:
        print(f"fastmlp: error: cannot import fastmlp: {exc}", file=sys.stderr)
        return 1
    if args.num_threads is not None:
        fm.set_num_threads(args.num_threads)
    debug = bool(os.environ.get("FASTMLP_DEBUG"))
    try:
        return args.func(args) or 0
    except CLIError as exc:
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as exc:
        # the model API reports bad configurations (e.g. a layer that does not fit) this way;
        # FASTMLP_DEBUG=1 shows the traceback instead
        if debug:
            raise
        print(f"fastmlp: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nfastmlp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fastmlp bench | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
