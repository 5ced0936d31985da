"""fastmlp.dask.predict and fastmlp.ray.predict equal model.predict on the whole array."""
import os

import numpy as np
import pytest

import fastmlp as fm


def _needs(module, pip_name):
    """The module, or a skip (a failure under CI, which installs the extra)."""
    try:
        return pytest.importorskip(module)
    except pytest.skip.Exception:
        if os.environ.get("CI"):
            pytest.fail(f"{module} missing: pip install {pip_name}")
        raise


@pytest.fixture(scope="module")
def model_and_data():
    m = fm.Sequential([fm.Flatten(), fm.Dense(16, activation="relu"),
                       fm.Dense(3, activation="softmax")], input_shape=(4, 5), seed=1)
    x = np.random.default_rng(0).normal(size=(1000, 4, 5)).astype(np.float32)
    return m, x, m.predict(x)


def test_dask_array(model_and_data):
    da = _needs("dask.array", "'fastmlp[distributed]'")
    import fastmlp.dask as fdask
    m, x, want = model_and_data
    lazy = fdask.predict(m, da.from_array(x, chunks=(137, 2, 5)))
    assert isinstance(lazy, da.Array) and lazy.shape == (1000, 3)
    np.testing.assert_array_equal(lazy.compute(scheduler="threads"), want)


def test_dask_dataframe(model_and_data):
    dd = _needs("dask.dataframe", "'fastmlp[distributed]'")
    import pandas as pd

    import fastmlp.dask as fdask
    m, x, want = model_and_data
    frame = pd.DataFrame(x.reshape(1000, 20), columns=[f"f{i}" for i in range(20)])
    lazy = fdask.predict(m, dd.from_pandas(frame, npartitions=4), columns=["a", "b", "c"])
    got = lazy.compute(scheduler="threads")
    assert list(got.columns) == ["a", "b", "c"] and got.index.equals(frame.index)
    np.testing.assert_array_equal(got.to_numpy(), want)


def test_dask_distributed_workers_load_the_model_file(model_and_data):
    """Worker processes: the model travels as file bytes (no pickle of the engine)."""
    distributed = _needs("distributed", "'fastmlp[distributed]'")
    import dask.array as da

    import fastmlp.dask as fdask
    m, x, want = model_and_data
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = client.compute(fdask.predict(m, da.from_array(x, chunks=(250, 4, 5)))).result()
    np.testing.assert_array_equal(got, want)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, at startup
def test_ray_dataset(model_and_data):
    ray = _needs("ray", "'fastmlp[distributed]'")
    _needs("ray.data", "'ray[data]'")
    import fastmlp.ray as fray
    m, x, want = model_and_data
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True)
    try:
        ds = ray.data.from_numpy(x)
        out = fray.predict(m, ds, feature_column="data", batch_size=300)
        assert isinstance(out, ray.data.Dataset)
        got = np.stack([r["predictions"] for r in out.take_all()])
    finally:
        ray.shutdown()
    np.testing.assert_array_equal(got, want)
