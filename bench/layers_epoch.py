"""E1 with regularisation layers (issue 11): one Fashion-MNIST epoch of 784-256-128-10,
Adam 1e-3, batch 64, plain vs Dropout(0.2) after each hidden layer vs BatchNormalization
before each hidden activation; fastmlp and PyTorch with the same layers, interleaved in one
run, threads pinned. Prints each epoch's time, the cost of each layer against the plain
epoch (targets: Dropout <= 1.15x, BatchNormalization <= 1.25x) and fastmlp / PyTorch.

    python -m bench.layers_epoch [--threads 1,2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

from ._common import load_fashion_mnist, optional, pinned_threads, torch_e1_epoch

VARIANTS = ("plain", "dropout", "batch_norm")


def fastmlp_model(variant):
    import fastmlp as fm
    layers = [fm.Rescaling(1 / 255), fm.Flatten()]
    for h in (256, 128):
        if variant == "batch_norm":
            layers += [fm.Dense(h), fm.BatchNormalization(), fm.ReLU()]
        else:
            layers.append(fm.Dense(h, activation="relu"))
            if variant == "dropout":
                layers.append(fm.Dropout(0.2))
    layers += [fm.Dense(10), fm.Softmax()]
    m = fm.Sequential(layers, input_shape=(28, 28), seed=0)
    m.compile(optimizer=fm.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return m


def torch_epoch_fn(torch, variant, x, y):
    nn = torch.nn
    mods = [nn.Flatten()]
    width = 784
    for h in (256, 128):
        mods.append(nn.Linear(width, h))
        if variant == "batch_norm":
            mods.append(nn.BatchNorm1d(h, eps=1e-3, momentum=0.01))
        mods.append(nn.ReLU())
        if variant == "dropout":
            mods.append(nn.Dropout(0.2))
        width = h
    mods.append(nn.Linear(width, 10))
    return torch_e1_epoch(torch, nn.Sequential(*mods), x, y)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    data = load_fashion_mnist()
    if data is None:
        raise SystemExit("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")
    (x, y), _ = data
    torch = optional("torch")
    import fastmlp as fm
    print(f"fastmlp {fm.__version__}, ISA {fm.cpu_info()['isa']}; E1 with layers, "
          f"{a.rounds} rounds, seconds per epoch (median)")
    for nt in [int(t) for t in a.threads.split(",")]:
        with pinned_threads(nt):
            fms = {v: fastmlp_model(v) for v in VARIANTS}
            tes = {v: torch_epoch_fn(torch, v, x, y) for v in VARIANTS} if torch else {}
            times = {(lib, v): [] for lib in ("fastmlp", "torch") for v in VARIANTS}
            for r in range(a.rounds):
                for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1]):  # interleaved
                    t0 = time.perf_counter()
                    fms[v].fit(x, y, batch_size=64, epochs=1, seed=r, verbose=0)
                    times[("fastmlp", v)].append(time.perf_counter() - t0)
                    if torch:
                        t0 = time.perf_counter()
                        tes[v]()
                        times[("torch", v)].append(time.perf_counter() - t0)
            med = {k: statistics.median(t) for k, t in times.items() if t}
            for v in VARIANTS:
                f = med[("fastmlp", v)]
                line = (f"threads={nt} {v:10s} fastmlp {f:6.3f} s ({f / med[('fastmlp', 'plain')]:.3f}x "
                        f"plain)")
                if torch:
                    t = med[("torch", v)]
                    line += (f"   torch {t:6.3f} s ({t / med[('torch', 'plain')]:.3f}x plain)"
                             f"   fastmlp/torch speed {t / f:.2f}x")
                print(line)


if __name__ == "__main__":
    main()
