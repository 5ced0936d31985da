"""Mixed precision training (issue 12): one E1 epoch (Fashion-MNIST, 784-256-128-10,
Adam 1e-3, batch 64, from uint8 images) in float32 and under the mixed_bfloat16 policy
(bf16 GEMM operands, float32 sums, weights and optimizer state), interleaved in one run,
threads pinned; PyTorch float32 and bf16 autocast as the anchor when installed. Prints
seconds per epoch (median), mixed / float32 speed (targets: >= 1.5x on an AMX machine,
>= 1.1x on Zen 4) and each run's test accuracy after its first epoch (target: mixed
within 0.3 points of float32).

    python -m bench.mixed_epoch [--threads 1,2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

from ._common import load_fashion_mnist, optional, pinned_threads, torch_e1_epoch

POLICIES = ("float32", "mixed_bfloat16")


def fastmlp_model(policy):
    import fastmlp as fm
    layers = [fm.Rescaling(1 / 255), fm.Flatten(), fm.Dense(256, activation="relu"),
              fm.Dense(128, activation="relu"), fm.Dense(10, activation="softmax")]
    m = fm.Sequential(layers, input_shape=(28, 28), seed=0, dtype_policy=policy)
    m.compile(optimizer=fm.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def torch_epoch_fn(torch, bf16, x, y):
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128),
                        nn.ReLU(), nn.Linear(128, 10))
    return torch_e1_epoch(torch, net, x, y, bf16=bf16)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    data = load_fashion_mnist()
    if data is None:
        raise SystemExit("Fashion-MNIST not found (apt-get install dataset-fashion-mnist)")
    (x, y), (xte, yte) = data
    torch = optional("torch")
    import fastmlp as fm
    print(f"fastmlp {fm.__version__}, ISA {fm.cpu_info()['isa']} "
          f"(bf16: {fm.cpu_info()['low_precision']['bf16']}); E1, {a.rounds} rounds, "
          f"seconds per epoch (median)")
    for nt in [int(t) for t in a.threads.split(",")]:
        with pinned_threads(nt):
            fms = {pol: fastmlp_model(pol) for pol in POLICIES}
            acc = {}
            tes = {b: torch_epoch_fn(torch, b, x, y) for b in (False, True)} if torch else {}
            times = {k: [] for k in list(POLICIES) + ["torch", "torch bf16"]}
            for r in range(a.rounds):
                for pol in (POLICIES if r % 2 == 0 else POLICIES[::-1]):  # interleaved
                    t0 = time.perf_counter()
                    fms[pol].fit(x, y, batch_size=64, epochs=1, seed=r, verbose=0)
                    times[pol].append(time.perf_counter() - t0)
                    if r == 0:
                        acc[pol] = fms[pol].evaluate(xte, yte, verbose=0)["accuracy"]
                for b in (tes and (False, True)) or ():
                    t0 = time.perf_counter()
                    tes[b]()
                    times["torch bf16" if b else "torch"].append(time.perf_counter() - t0)
            med = {k: statistics.median(t) for k, t in times.items() if t}
            f32 = med["float32"]
            for k, t in med.items():
                line = f"threads={nt} {k:15s} {t:6.3f} s   {f32 / t:.2f}x fastmlp float32"
                if k in acc:
                    line += f"   test accuracy after epoch 1: {100 * acc[k]:.2f}%"
                print(line)
            print(f"threads={nt} mixed_bfloat16 - float32 accuracy: "
                  f"{100 * (acc['mixed_bfloat16'] - acc['float32']):+.2f} points")


if __name__ == "__main__":
    main()
