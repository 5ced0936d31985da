"""One rank of the distributed tests (started 2x by tests/_dist_launch.py through mpirun or
torchrun): ``python _dist_worker.py BACKEND SCENARIO OUTDIR``. Writes
OUTDIR/SCENARIO.rankR.npz with what the test compares."""
import os
import sys
import time

import numpy as np

import fastmlp as fm
import fastmlp.distributed as fmd

BACKEND, SCENARIO, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
fm.set_num_threads(1)  # two ranks share two cores


def small_model(optimizer, bn=False, seed=3):
    layers = [fm.Dense(32, activation="relu")]
    if bn:
        layers.append(fm.BatchNormalization())
    layers.append(fm.Dense(10, activation="softmax"))
    m = fm.Sequential(layers, input_shape=(784,), seed=seed)
    m.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return m


def sample(rows):
    (x, y), _ = fm.datasets.load_sample()
    return x[:rows].reshape(rows, 784).astype(np.float32) / 255.0, y[:rows]


def save(name, model, **extra):
    np.savez(os.path.join(OUT, f"{name}.rank{fmd.rank()}.npz"),
             *model.get_weights(), **extra)


def run_sync():
    x, y = sample(512)
    for name, opt, bn in (("sgd", fm.optimizers.SGD(0.1), False),
                          ("adam", fm.optimizers.Adam(1e-3), False),
                          ("bn", fm.optimizers.SGD(0.1), True)):
        # rank 1 starts from other weights: fit must broadcast rank 0's
        model = small_model(opt, bn, seed=3 + fmd.rank())
        h = fmd.fit(model, x, y, batch_size=64, epochs=2, shuffle=False, verbose=0)
        save(name, model, loss=np.array(h.history["loss"]))


def run_local_sgd():
    (x, y), (xt, yt) = fm.datasets.load_fashion_mnist(download=False)
    x = x.reshape(len(x), 784)
    model = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(128, activation="relu"),
                           fm.Dense(10, activation="softmax")], input_shape=(784,), seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    xf = x.astype(np.float32) / 255.0
    xt = xt.reshape(len(xt), 784).astype(np.float32) / 255.0
    h = fmd.fit(model, xf, y, batch_size=64, epochs=3, sync_every=8, seed=0, verbose=0,
                validation_data=(xt, yt))
    acc = model.evaluate(xt, yt)["accuracy"]
    save("local", model, accuracy=np.array(acc),
         val_accuracy=np.array(h.history["val_accuracy"]))
    path = os.path.join(OUT, "local.fastmlp")
    fmd.save(model, path)  # rank 0 writes


def run_fault(kind):
    x, y = sample(256)
    model = small_model(fm.optimizers.SGD(0.1))
    fmd.fit(model, x, y, batch_size=64, epochs=1, verbose=0)
    if fmd.rank() == 1:
        if kind == "kill":
            os.kill(os.getpid(), 9)
        if kind == "hang":  # alive but never joins the next collective: the timeout ends it
            time.sleep(600)
        raise RuntimeError("boom on rank 1")
    fmd.fit(model, x, y, batch_size=64, epochs=50, verbose=0)  # waits for rank 1
    print("rank 0 finished although rank 1 failed", flush=True)


fmd.init(BACKEND, timeout={"raise": 20, "kill": 20, "hang": 5}.get(SCENARIO, 120))
if SCENARIO == "sync":
    run_sync()
elif SCENARIO == "local":
    run_local_sgd()
else:
    run_fault(SCENARIO)
fmd.shutdown()
