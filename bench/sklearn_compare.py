"""fastmlp.sklearn.MLPClassifier vs scikit-learn's MLPClassifier on Fashion-MNIST.

    python -m bench.sklearn_compare [--epochs 5] [--hidden 256,128] [--seeds 0,1,2]

Same data (pixels / 255, float32 for both, which is also scikit-learn's fastest path),
same parameters (adam, batch_size='auto' = 200, alpha=1e-4, lr 1e-3, max_iter = epochs,
tol never reached), runs interleaved per seed; prints test accuracy and fit time of each,
the accuracy difference and the speed ratio (medians over seeds).
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings


def main(argv=None):
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as SkMLP

    import fastmlp
    from fastmlp.datasets import load_fashion_mnist
    from fastmlp.sklearn import MLPClassifier as FmMLP

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--float64", action="store_true", help="give both float64 inputs")
    a = ap.parse_args(argv)
    hidden = tuple(int(h) for h in a.hidden.split(","))
    seeds = [int(s) for s in a.seeds.split(",")]
    (xtr, ytr), (xte, yte) = load_fashion_mnist(download=False)
    dt = np.float64 if a.float64 else np.float32
    xtr = (xtr.reshape(len(xtr), -1) / 255.0).astype(dt)
    xte = (xte.reshape(len(xte), -1) / 255.0).astype(dt)
    print(f"Fashion-MNIST {xtr.shape} -> hidden {hidden}, {a.epochs} epochs, adam, batch 200, "
          f"{dt.__name__}; fastmlp threads={fastmlp.get_num_threads()}")
    res = {"fastmlp": ([], []), "sklearn": ([], [])}
    for seed in seeds:
        for name, cls in (("fastmlp", FmMLP), ("sklearn", SkMLP)):
            est = cls(hidden_layer_sizes=hidden, max_iter=a.epochs, random_state=seed)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est.fit(xtr, ytr)
            t = time.perf_counter() - t0
            acc = float((est.predict(xte) == yte).mean())
            res[name][0].append(acc)
            res[name][1].append(t)
            print(f"  seed {seed} {name:8s} test acc {acc * 100:6.2f}%  fit {t:7.2f} s  "
                  f"final loss {est.loss_:.4f}", flush=True)
    fa, ft = (statistics.median(v) for v in res["fastmlp"])
    sa, st = (statistics.median(v) for v in res["sklearn"])
    print(f"median: fastmlp {fa * 100:.2f}% in {ft:.2f} s; scikit-learn {sa * 100:.2f}% in "
          f"{st:.2f} s; accuracy difference {100 * (fa - sa):+.2f} points; fastmlp is "
          f"{st / ft:.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
