"""Low-precision inference (issue 12): I1 (784-128-10) and I2 (784-512-512-10) predict at
batch 1, 64 and 1024, one thread pinned, every backend interleaved in one run, on the same
weights:

  fastmlp fp32, int8 (per-row dynamic input scales), int8 static (calibrated), bf16
  ONNX Runtime int8 static QDQ (S8S8, per channel) and dynamic (quantize_dynamic, QInt8
  per channel weights), both from fastmlp's own fp32 ONNX export
  PyTorch dynamic int8 (torch.ao quantize_dynamic) and bf16 (.to(torch.bfloat16))

Prints seconds per call (median of the rounds; --clock cpu: process CPU time, steadier on
a shared machine) and each backend's speed relative to ONNX Runtime's int8 models (the
targets: fastmlp int8 >= 1.3x both; at batch 1 on I1 >= 2x) and to fastmlp fp32, plus
each model's argmax agreement with fp32 on the inputs.

    python -m bench.int8_predict [--rounds 7] [--clock cpu] [--models I1,I2]
                                 [--tiers avx2,avx_vnni]

--tiers adds fastmlp fp32 and int8 forced to each named tier (FASTMLP_ISA's names), in the
same interleaved rounds: whether a tier's int8 kernel pays against the tier below it.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import warnings

import numpy as np

from . import _common as C
from ._timing import interleaved

BATCHES = (1, 64, 1024)


def inputs(n_cal=1024):
    """Fashion-MNIST test images scaled to [0, 1] when installed, else uniform noise."""
    data = C.load_fashion_mnist()
    if data is not None:
        (xtr, _), (xte, _) = data
        f = lambda a: (a.reshape(len(a), -1) / np.float32(255)).astype(np.float32)
        return f(xte), f(xtr[:n_cal]), "Fashion-MNIST"
    rng = np.random.default_rng(0)
    return (rng.random((10000, 784), dtype=np.float32),
            rng.random((n_cal, 784), dtype=np.float32), "uniform noise")


def fastmlp_models(sizes, weights, x_cal):
    import fastmlp as fm
    out = {"fastmlp fp32": C.fastmlp_mlp(sizes, weights)}
    for name, mode, cal in (("fastmlp int8", "int8", None),
                            ("fastmlp int8 static", "int8", x_cal),
                            ("fastmlp bf16", "bf16", None)):
        m = C.fastmlp_mlp(sizes, weights)
        m.quantize(mode, calibration_data=cal)
        out[name] = m
    assert all(isinstance(m, fm.Sequential) for m in out.values())
    return {k: m.predict for k, m in out.items()}, out["fastmlp fp32"]


def tier_models(fns, tiers):
    """fastmlp fp32 and int8 predict forced to each of ``tiers`` while they run."""
    out = {}
    for tier in tiers:
        for k in ("fastmlp fp32", "fastmlp int8"):
            def f(x, f=fns[k], tier=tier):
                with C.fastmlp_isa(tier):
                    return f(x)
            out[f"{k.removeprefix('fastmlp ')} @{tier}"] = f
    return out


def ort_models(fp32_model, x_cal, threads):
    ort_q = C.optional("onnxruntime.quantization")
    if ort_q is None or C.optional("onnx") is None:
        return {}
    d = tempfile.mkdtemp()
    src = os.path.join(d, "fp32.onnx")
    with open(src, "wb") as f:
        f.write(fp32_model.to_onnx().SerializeToString())
    name = fp32_model.to_onnx().graph.input[0].name

    class Reader(ort_q.CalibrationDataReader):
        def __init__(self):
            self.it = iter([{name: x_cal[i:i + 64]} for i in range(0, len(x_cal), 64)])

        def get_next(self):
            return next(self.it, None)

    st, dy = os.path.join(d, "static.onnx"), os.path.join(d, "dynamic.onnx")
    logging.getLogger().setLevel(logging.ERROR)  # (its "consider pre-processing" notes)
    ort_q.quantize_static(src, st, Reader(), quant_format=ort_q.QuantFormat.QDQ,
                          per_channel=True, activation_type=ort_q.QuantType.QInt8,
                          weight_type=ort_q.QuantType.QInt8)
    ort_q.quantize_dynamic(src, dy, per_channel=True, weight_type=ort_q.QuantType.QInt8)
    out = {}
    for label, path in (("ORT int8 static", st), ("ORT int8 dynamic", dy)):
        with open(path, "rb") as f:
            out[label] = C.ort_predict(C.ort_session(f.read(), threads))
    return out


def torch_models(fp32_model):
    torch = C.optional("torch")
    if torch is None:
        return {}
    tm = fp32_model.to_torch().eval()
    with warnings.catch_warnings():  # (torch.ao's deprecation notices)
        warnings.simplefilter("ignore")
        tq = torch.ao.quantization.quantize_dynamic(tm, {torch.nn.Linear}, dtype=torch.qint8)
    tb = fp32_model.to_torch().eval().to(torch.bfloat16)

    def q(x):
        with torch.inference_mode():
            return tq(torch.from_numpy(x)).numpy()

    def b(x):
        with torch.inference_mode():
            return tb(torch.from_numpy(x).to(torch.bfloat16)).float().numpy()

    return {"torch int8 dynamic": q, "torch bf16": b}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    p.add_argument("--models", default="I1,I2")
    p.add_argument("--batches", default=",".join(map(str, BATCHES)))
    p.add_argument("--tiers", default="", help="comma-separated tiers to force (see above)")
    a = p.parse_args(argv)
    tiers = [t for t in a.tiers.split(",") if t]
    missing = sorted(set(tiers) - set(C.fastmlp_tiers()))
    if missing:
        p.error(f"--tiers: {missing} not supported here; expected some of {C.fastmlp_tiers()}")
    import fastmlp as fm
    x_test, x_cal, source = inputs()
    info = fm.cpu_info()
    print(f"fastmlp {fm.__version__}, ISA {info['isa']}, 1 thread, inputs: {source}; "
          f"{a.clock} seconds per call (median of {a.rounds} rounds)")
    for model in a.models.split(","):
        sizes = {"I1": C.I1, "I2": C.I2}[model]
        weights = C.mlp_weights(sizes, seed=0)
        with C.pinned_threads(1):
            fns, fp32 = fastmlp_models(sizes, weights, x_cal)
            fns.update(tier_models(fns, tiers))
            fns.update(ort_models(fp32, x_cal, 1))
            fns.update(torch_models(fp32))
            ref = fns["fastmlp fp32"](x_test).argmax(1)
            agree = {k: float((f(x_test).argmax(1) == ref).mean()) for k, f in fns.items()}
            for batch in [int(b) for b in a.batches.split(",")]:
                x = np.ascontiguousarray(x_test[:batch])
                cpu: dict = {}
                wall = interleaved({k: (lambda f=f: f(x)) for k, f in fns.items()},
                                   repeats=a.rounds, cpu_out=cpu)
                t = {k: statistics.median((cpu if a.clock == "cpu" else wall)[k]) for k in fns}
                print(f"\n{model} {'-'.join(map(str, sizes))} batch={batch}")
                for k in fns:
                    line = (f"  {k:20s} {t[k] * 1e6:10.1f} us  {t['fastmlp fp32'] / t[k]:5.2f}x "
                            f"fp32")
                    for anchor in ("ORT int8 static", "ORT int8 dynamic"):
                        if anchor in t:
                            line += f"  {t[anchor] / t[k]:5.2f}x {anchor[4:]}"
                    print(line + f"  agree {agree[k]:.4f}")


if __name__ == "__main__":
    main()
