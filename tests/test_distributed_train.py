"""fastmlp.distributed with 2 local ranks per backend (mpirun / torchrun): identical weights
on every rank, synchronous all-reduce = single-process training of the global batch, local
SGD reaches single-process accuracy on Fashion-MNIST, a failing rank ends the job in bounded
time. Each scenario is one launch (ranks start in a few seconds); the runs are bounded by
timeouts so that a broken backend fails instead of hanging CI."""
import os

import numpy as np
import pytest

import fastmlp as fm

from _dist_launch import launch, require

BACKENDS = ["mpi", "torch"]
HERE = os.path.dirname(os.path.abspath(__file__))


def _load(outdir, name, rank):
    with np.load(os.path.join(outdir, f"{name}.rank{rank}.npz")) as z:
        weights = [z[f"arr_{i}"] for i in range(sum(k.startswith("arr_") for k in z.files))]
        extra = {k: z[k] for k in z.files if not k.startswith("arr_")}
    return weights, extra


@pytest.fixture(scope="module", params=BACKENDS)
def sync_run(request, tmp_path_factory):
    backend = request.param
    require(backend)
    out = tmp_path_factory.mktemp(f"sync-{backend}")
    rc, log, _ = launch(backend, "sync", out)
    assert rc == 0, log[-4000:]
    return out


def _sample(rows):
    (x, y), _ = fm.datasets.load_sample()
    return x[:rows].reshape(rows, 784).astype(np.float32) / 255.0, y[:rows]


def _single_process(opt, bn):
    """The global batches trained one after the other in one process (the worker's model,
    seed 3 = rank 0's)."""
    layers = [fm.Dense(32, activation="relu")] + ([fm.BatchNormalization()] if bn else []) \
        + [fm.Dense(10, activation="softmax")]
    m = fm.Sequential(layers, input_shape=(784,), seed=3)
    m.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    x, y = _sample(512)
    for _ in range(2):
        for j in range(0, 512, 64):
            m.train_on_batch(x[j:j + 64], y[j:j + 64])
    return m.get_weights()


@pytest.mark.parametrize("name, opt", [("sgd", fm.optimizers.SGD(0.1)),
                                       ("adam", fm.optimizers.Adam(1e-3))])
def test_sync_allreduce_matches_single_process_global_batch(sync_run, name, opt):
    w0, e0 = _load(sync_run, name, 0)
    w1, _ = _load(sync_run, name, 1)
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)  # ranks identical, bit for bit
    ref = _single_process(opt, bn=False)
    for a, r in zip(w0, ref):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=2e-6)
    assert np.all(np.isfinite(e0["loss"])) and e0["loss"][1] < e0["loss"][0]


def _shards_in_one_process():
    """What 2 ranks compute with BatchNormalization, in one process: each half of every
    global batch normalized with its own statistics, the gradients averaged, the moving
    statistics moved by the average of the halves' batch statistics (NumPy: the layer
    before BatchNormalization is Dense + relu)."""
    m = fm.Sequential([fm.Dense(32, activation="relu"), fm.BatchNormalization(),
                       fm.Dense(10, activation="softmax")], input_shape=(784,), seed=3)
    m.compile(optimizer=fm.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    net = m._ensure_net()
    m.optimizer._apply_rate(net)
    x, y = _sample(512)
    y = y.astype(np.int32)
    for _ in range(2):
        for j in range(0, 512, 64):
            halves = [slice(j, j + 32), slice(j + 32, j + 64)]
            grads = [net.compute_gradients(x[h], y[h])[1] for h in halves]
            w = m.get_weights()
            stats = []
            for h in halves:
                a = np.maximum(x[h] @ w[0] + w[1], 0.0)
                stats.append((a.mean(0), a.var(0)))
            net.apply_gradients([(g0 + g1) / 2 for g0, g1 in zip(*grads)])
            for k, (i, old) in enumerate(((4, w[4]), (5, w[5]))):
                batch = (stats[0][k] + stats[1][k]) / 2
                net.set_param(i, (old * 0.99 + batch * 0.01).astype(np.float32))
    return m.get_weights()


def test_sync_with_batch_normalization(sync_run):
    """Each rank normalizes with its shard's statistics (as DDP without SyncBatchNorm): the
    result is that of the shards' gradients averaged in one process, not that of one
    process normalizing the whole global batch (here ~6% apart in W1 after 16 steps)."""
    w0, _ = _load(sync_run, "bn", 0)
    w1, _ = _load(sync_run, "bn", 1)
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    # [W1, b1, gamma, beta, moving_mean, moving_variance, W2, b2]
    assert not np.allclose(w0[4], 0.0) and not np.allclose(w0[5], 1.0)
    for a, r in zip(w0, _shards_in_one_process()):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-5)
    whole = _single_process(fm.optimizers.SGD(0.1), bn=True)
    assert not np.allclose(w0[0], whole[0], rtol=1e-3, atol=1e-4)


def _fashion():
    root = "/usr/share/datasets/fashion-mnist"
    if not os.path.exists(os.path.join(root, "train-images-idx3-ubyte.gz")):
        msg = (f"Fashion-MNIST missing ({root}); install it with "
               "apt-get install dataset-fashion-mnist")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return fm.datasets.load_fashion_mnist(download=False)


@pytest.fixture(scope="module")
def single_process_accuracy():
    (x, y), (xt, yt) = _fashion()
    fm.set_num_threads(2)
    m = fm.Sequential([fm.Dense(256, activation="relu"), fm.Dense(128, activation="relu"),
                       fm.Dense(10, activation="softmax")], input_shape=(784,), seed=0)
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(x.reshape(len(x), 784).astype(np.float32) / 255.0, y, batch_size=64, epochs=3,
          seed=0, verbose=0)
    return m.evaluate(xt.reshape(len(xt), 784).astype(np.float32) / 255.0, yt)["accuracy"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_local_sgd_reaches_single_process_accuracy(backend, tmp_path, single_process_accuracy):
    _fashion()
    require(backend)
    rc, log, _ = launch(backend, "local", tmp_path)
    assert rc == 0, log[-4000:]
    w0, e0 = _load(tmp_path, "local", 0)
    w1, e1 = _load(tmp_path, "local", 1)
    for a, b in zip(w0, w1):
        np.testing.assert_array_equal(a, b)
    acc = float(e0["accuracy"])
    # History's val_accuracy: the ranks evaluated a slice each, the sums all-reduced
    assert abs(float(e0["val_accuracy"][-1]) - acc) < 1e-9
    assert acc >= single_process_accuracy - 0.005, (acc, single_process_accuracy)
    # fmd.save: rank 0 wrote the file, and it holds the trained weights
    saved = fm.load_model(str(tmp_path / "local.fastmlp"))
    for a, b in zip(saved.get_weights(), w0):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fault", ["raise", "kill", "hang"])
def test_failing_rank_ends_the_job_in_bounded_time(backend, fault, tmp_path):
    require(backend)
    rc, log, seconds = launch(backend, fault, tmp_path, timeout=120)
    assert rc != 0, log[-4000:]
    assert "rank 0 finished although rank 1 failed" not in log
    if fault == "raise":
        assert "boom on rank 1" in log, log[-4000:]
    if fault == "hang" and backend == "mpi":  # the watchdog's message (gloo raises its own)
        assert "waited more than 5 s for the other ranks" in log, log[-4000:]
    assert seconds < 60, (seconds, log[-4000:])
