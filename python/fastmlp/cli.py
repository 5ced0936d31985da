"""The ``fastmlp`` command (also ``python -m fastmlp``).

    fastmlp demo                      train 784-256-128-10 on the bundled sample, offline
    fastmlp train --dataset mnist ... train an MLP on a dataset and report test accuracy
    fastmlp bench                     inference / training rates beside PyTorch, ONNX Runtime
    fastmlp experiments               the classic depth / width / batch-size studies
    fastmlp info                      version, CPU tiers, threads, OpenMP, datasets found

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

__all__ = ["main", "build_parser"]

DATASETS = ("sample", "mnist", "fashion-mnist", "cifar10")
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh")
OPTIMIZERS = ("adam", "adamw", "sgd")


class CLIError(Exception):
    """An expected failure: printed as ``fastmlp: error: ...`` with exit status 1."""


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


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and np.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _fraction(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return v


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

def _fmt_rate(v):
    if v is None or not np.isfinite(v):
        return "-"
    for div, unit in ((1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.2f}{unit}" if v < 10 * div else f"{v / div:.0f}{unit}"
    return f"{v:.0f}"


def _require_matplotlib(flag):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise CLIError(f'{flag} needs matplotlib, which is not installed: pip install "fastmlp[plot]"') from None


def _load(name):
    from . import datasets as fds

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


def _optimizer(name, lr):
    from . import optimizers

    if name == "sgd":
        return optimizers.SGD(learning_rate=lr, momentum=0.9)
    if name == "adamw":
        return optimizers.AdamW(learning_rate=lr)
    return optimizers.Adam(learning_rate=lr)


# --- demo -----------------------------------------------------------------------------------

def cmd_demo(args):
    import fastmlp as fm
    from . import datasets as fds
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
        from .plot import plot_history
        plot_history(hist, path=args.plot, title="fastmlp demo: Fashion-MNIST sample")
        print(f"learning curves written to {args.plot}")
    return 0


# --- train ----------------------------------------------------------------------------------

def cmd_train(args):
    from .experiments import build_mlp

    if args.plot:
        _require_matplotlib("--plot")
    (xtr, ytr), (xte, yte) = _load(args.dataset)
    k = int(max(ytr.max(), yte.max())) + 1
    print(f"dataset {args.dataset}: {len(xtr)} training, {len(xte)} test images of shape "
          f"{xtr.shape[1:]}, {k} classes")
    model = build_mlp(args.hidden, input_shape=xtr.shape[1:], num_classes=k,
                      activation=args.activation, seed=args.seed)
    model.compile(optimizer=_optimizer(args.optimizer, args.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    widths = [int(np.prod(xtr.shape[1:]))] + list(args.hidden) + [k]
    print(f"model {'-'.join(map(str, widths))} ({args.activation}), {model.count_params():,} "
          f"parameters; {args.optimizer} lr {args.lr}, batch {args.batch_size}, {args.epochs} epochs")
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
        from .plot import plot_history
        plot_history(hist, path=args.plot, title=f"fastmlp train: {args.dataset}")
        print(f"learning curves written to {args.plot}")
    return 0


# --- bench ----------------------------------------------------------------------------------

BENCH_MODELS = {
    # name: (hidden widths, training optimizer)
    "784-128-10": ([128], "sgd"),
    "784-512-512-10": ([512, 512], "adam"),
}


def _measure(fn, items, seconds):
    """Items/s of ``fn`` (median of 3 timed blocks after a warm-up), ``fn`` doing ``items``."""
    fn()
    loops, t = 1, 0.0
    while True:  # calibrate: one block lasts about seconds / 3
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        t = time.perf_counter() - t0
        if t >= seconds / 3 or loops >= 1 << 20:
            break
        loops = max(loops * 2, int(loops * (seconds / 3) / max(t, 1e-9)))
    rates = [items * loops / t]
    for _ in range(2):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        rates.append(items * loops / (time.perf_counter() - t0))
    return float(np.median(rates))


def _onnx_session(weights, threads):
    """An ONNX Runtime session for the MLP ``weights`` ([W [in, out], b, ...]) or None."""
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        return None
    nodes, inits = [], []
    cur = "x"
    n_layers = len(weights) // 2
    for i in range(n_layers):
        w, b = weights[2 * i], weights[2 * i + 1]
        inits += [numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"),
                  numpy_helper.from_array(np.asarray(b, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Gemm", [cur, f"W{i}", f"b{i}"], [f"h{i}"]))
        cur = f"h{i}"
        if i < n_layers - 1:
            nodes.append(helper.make_node("Relu", [cur], [f"r{i}"]))
            cur = f"r{i}"
    nodes.append(helper.make_node("Softmax", [cur], ["y"], axis=1))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", weights[0].shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", weights[-1].shape[0]])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def _torch_mlp(weights):
    try:
        import torch
    except ImportError:
        return None, None
    layers = []
    n_layers = len(weights) // 2
    for i in range(n_layers):
        w, b = weights[2 * i], weights[2 * i + 1]
        lin = torch.nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(np.asarray(w, np.float32).T)))
            lin.bias.copy_(torch.from_numpy(np.asarray(b, np.float32)))
        layers.append(lin)
        if i < n_layers - 1:
            layers.append(torch.nn.ReLU())
    return torch, torch.nn.Sequential(*layers)


def _bench_rows(args, print_fn):
    import fastmlp as fm

    all_threads = fm.get_num_threads()
    torch_threads = None
    if not args.no_torch:
        try:
            import torch
            torch_threads = torch.get_num_threads()
        except ImportError:
            pass
    try:
        return _bench_rows_inner(args, print_fn, all_threads)
    finally:  # leave the thread settings as we found them, whatever happened
        fm.set_num_threads(all_threads)
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)


def _bench_rows_inner(args, print_fn, all_threads):
    import fastmlp as fm
    from .experiments import build_mlp

    threads = args.bench_threads or sorted({1, all_threads})
    rng = np.random.default_rng(0)
    rows = []
    for mname in args.models:
        hidden, opt = BENCH_MODELS[mname]
        model = build_mlp(hidden, input_shape=(784,), rescale=False, seed=0)
        model.compile(optimizer=_optimizer(opt, 1e-3 if opt != "sgd" else 0.01),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        weights = [np.asarray(w) for w in model.get_weights()]
        torch, tnet = (None, None) if args.no_torch else _torch_mlp(weights)
        for nt in threads:
            fm.set_num_threads(nt)
            if torch is not None:
                torch.set_num_threads(nt)
            sess = None if args.no_onnx else _onnx_session(weights, nt)
            for bs in args.batches:
                x = rng.random((bs, 784), dtype=np.float32)
                # inference, checked against each other before timing
                ref = model.predict(x)
                row = {"model": mname, "task": "inference", "batch": bs, "threads": nt,
                       "fastmlp": _measure(lambda: model.predict(x), bs, args.seconds)}
                if torch is not None:
                    xt = torch.from_numpy(x)
                    with torch.inference_mode():
                        out = torch.softmax(tnet(xt), dim=1).numpy()
                        if not np.allclose(out, ref, atol=1e-4):
                            raise CLIError(f"{mname}: PyTorch and fastmlp predictions differ")

                        def tstep():
                            torch.softmax(tnet(xt), dim=1)
                        row["torch"] = _measure(tstep, bs, args.seconds)
                if sess is not None:
                    out = sess.run(None, {"x": x})[0]
                    if not np.allclose(out, ref, atol=1e-4):
                        raise CLIError(f"{mname}: ONNX Runtime and fastmlp predictions differ")
                    row["onnxruntime"] = _measure(lambda: sess.run(None, {"x": x}), bs, args.seconds)
                rows.append(row)
                print_fn(_row_text(row))
                if args.no_train:
                    continue
                # training: whole-epoch fit over enough batches to time
                steps = max(4, min(256, 4096 // bs))
                n = steps * bs
                xtr = rng.random((n, 784), dtype=np.float32)
                ytr = rng.integers(0, 10, size=n).astype(np.uint8)
                trow = {"model": mname, "task": f"train ({opt})", "batch": bs, "threads": nt}
                # a separate model: training must not change the one the others are checked against
                tmodel = build_mlp(hidden, input_shape=(784,), rescale=False, seed=0)
                tmodel.compile(optimizer=_optimizer(opt, 1e-3 if opt != "sgd" else 0.01),
                               loss="sparse_categorical_crossentropy", metrics=["accuracy"])
                trow["fastmlp"] = _measure(
                    lambda: tmodel.fit(xtr, ytr, batch_size=bs, epochs=1, shuffle=False, verbose=0),
                    n, args.seconds)
                if torch is not None:
                    trow["torch"] = _torch_train_rate(torch, tnet, xtr, ytr, bs, opt, args.seconds)
                rows.append(trow)
                print_fn(_row_text(trow))
    return rows


def _torch_train_rate(torch, net, xtr, ytr, bs, opt, seconds):
    import copy

    net = copy.deepcopy(net)
    if opt == "sgd":
        o = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    else:
        o = torch.optim.Adam(net.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    xs = torch.from_numpy(xtr)
    ys = torch.from_numpy(ytr.astype(np.int64))
    batches = [(xs[i:i + bs], ys[i:i + bs]) for i in range(0, len(xs), bs)]
    it = iter(())

    def step():  # one optimizer step on the next batch (PyTorch runs step by step anyway)
        nonlocal it
        try:
            xb, yb = next(it)
        except StopIteration:
            it = iter(batches)
            xb, yb = next(it)
        o.zero_grad(set_to_none=True)
        lossf(net(xb), yb).backward()
        o.step()
    return _measure(step, bs, seconds)


_BENCH_COLS = ("fastmlp", "torch", "onnxruntime")


def _row_text(row, header=False):
    cols = [("model", 16), ("task", 14), ("batch", 6), ("threads", 7)] + [(c, 12) for c in _BENCH_COLS] \
        + [("vs best other", 13)]
    if header:
        return "  ".join(n.rjust(w) if i >= 2 else n.ljust(w) for i, (n, w) in enumerate(cols))
    others = [row[c] for c in _BENCH_COLS[1:] if c in row]
    ratio = f"{row['fastmlp'] / max(others):.2f}x" if others else "-"
    cells = [row["model"], row["task"], str(row["batch"]), str(row["threads"])] \
        + [_fmt_rate(row.get(c)) + ("/s" if c in row else "") for c in _BENCH_COLS] + [ratio]
    return "  ".join(c.rjust(w) if i >= 2 else c.ljust(w) for i, (c, (_, w)) in enumerate(zip(cells, cols)))


def cmd_bench(args):
    import fastmlp as fm

    have = []
    for mod in ("torch", "onnxruntime", "onnx"):
        try:
            __import__(mod)
            have.append(mod)
        except ImportError:
            pass
    print(f"fastmlp {fm.__version__} bench: ISA {fm.cpu_info()['isa']}, up to "
          f"{fm.get_num_threads()} threads; comparing with: {', '.join(have) or 'nothing installed'}")
    if "onnxruntime" in have and "onnx" not in have:
        print("(onnxruntime column skipped: building its graph needs the 'onnx' package)")
    print("rates are inferences/s or training examples/s, median of 3; float32 input")
    print(_row_text(None, header=True))
    rows = _bench_rows(args, print)
    if args.json:
        import json
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
        print(f"results written to {args.json}")
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
    from . import datasets as fds
    from .datasets import _loaders

    info = fm.cpu_info()
    print(f"fastmlp {fm.__version__}  (python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()})")
    print(f"ISA tier      active: {info['isa']}   supported: {', '.join(info['supported'])}   "
          f"compiled: {', '.join(info['compiled'])}")
    if info.get("env_isa"):
        print(f"              (FASTMLP_ISA={info['env_isa']})")
    print(f"threads       {info['num_threads']}   (cpu count {os.cpu_count()})")
    print(f"OpenMP        {'yes' if info['openmp'] else 'no'}; runtime: {_openmp_runtimes()}")
    print("datasets")
    print(f"  sample          bundled ({os.path.basename(fds._sample.SAMPLE_PATH)})")
    for name, finder in (("mnist", _loaders._find_mnist), ("fashion-mnist", _loaders._find_idx),
                         ("cifar10", _loaders._find_cifar)):
        where = next((d for _, d in fds.search_dirs(name) if os.path.isdir(d) and finder(d) is not None), None)
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
    ``bench``, ``experiments``, ``info``).
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
