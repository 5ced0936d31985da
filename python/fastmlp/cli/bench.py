"""``fastmlp bench``: fastmlp's inference and training rates beside PyTorch and ONNX Runtime.

The PyTorch and ONNX Runtime copies of each benchmark model come from fastmlp's own
exporters (``model.to_torch()``, ``model.to_onnx()``); their predictions are checked
against ``model.predict`` before anything is timed.
"""
from __future__ import annotations

import time

import numpy as np

from . import bench_precision as _precision
from ._common import CLIError, _fmt_rate, _optimizer

__all__ = ["BENCH_MODELS", "cmd_bench"]

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


def _onnx_bytes(model):
    """``model.to_onnx()`` serialized for ONNX Runtime, or None without onnx / onnxruntime."""
    try:
        import onnx  # noqa: F401  (the exporter needs it)
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    return model.to_onnx().SerializeToString()


def _onnx_session(model_bytes, threads):
    """An ONNX Runtime session for ``model_bytes`` on ``threads`` threads."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])


def _torch_net(model):
    """(torch, ``model.to_torch()``), or (None, None) without PyTorch. The network ends
    with the model's Softmax."""
    try:
        import torch
    except ImportError:
        return None, None
    return torch, model.to_torch()


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
        torch, tnet = (None, None) if args.no_torch else _torch_net(model)
        onnx_bytes = None if args.no_onnx else _onnx_bytes(model)
        precision = getattr(args, "precision", "float32")
        tol = _precision.TOLERANCE[precision]
        if precision != "float32":  # the peers from the float model, then ours
            tnet = _precision.torch_net(torch, tnet, precision)
            onnx_bytes = _precision.onnx_bytes(onnx_bytes, precision)
            model.quantize(precision)
        for nt in threads:
            fm.set_num_threads(nt)
            if torch is not None:
                torch.set_num_threads(nt)
            sess = None if onnx_bytes is None else _onnx_session(onnx_bytes, nt)
            for bs in args.batches:
                x = rng.random((bs, 784), dtype=np.float32)
                # inference, checked against each other before timing
                ref = model.predict(x)
                row = {"model": mname, "task": "inference", "batch": bs, "threads": nt,
                       "fastmlp": _measure(lambda: model.predict(x), bs, args.seconds)}
                if torch is not None:
                    xt = torch.from_numpy(x)
                    with torch.inference_mode():
                        out = tnet(xt).numpy()  # to_torch keeps the model's Softmax
                        if not np.allclose(out, ref, atol=tol):
                            raise CLIError(f"{mname}: PyTorch and fastmlp predictions differ")
                        row["torch"] = _measure(lambda: tnet(xt), bs, args.seconds)
                if sess is not None:
                    feed = {sess.get_inputs()[0].name: x}
                    out = sess.run(None, feed)[0]
                    if not np.allclose(out, ref, atol=tol):
                        raise CLIError(f"{mname}: ONNX Runtime and fastmlp predictions differ")
                    row["onnxruntime"] = _measure(lambda: sess.run(None, feed), bs, args.seconds)
                rows.append(row)
                print_fn(_row_text(row))
                if args.no_train or precision != "float32":  # (quantized: inference only)
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
    if len(net) and isinstance(net[-1], torch.nn.Softmax):
        net = net[:-1]  # CrossEntropyLoss takes the logits
    net.train()
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
    """Run ``fastmlp bench``: print (and with ``--json`` write) the table of rates."""
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
        print("(onnxruntime column skipped: exporting the model needs the 'onnx' package)")
    precision = getattr(args, "precision", "float32")
    print("rates are inferences/s or training examples/s, median of 3; float32 input")
    if precision != "float32":
        lp = fm.cpu_info()["low_precision"]
        print(f"precision {precision} (inference only): {lp[precision]}")
    print(_row_text(None, header=True))
    rows = _bench_rows(args, print)
    if args.json:
        import json
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
        print(f"results written to {args.json}")
    return 0
