"""fastmlp.distributed / fastmlp.dask / fastmlp.ray without starting ranks: bad input names
the argument, expected and received values; a plain import loads none of them."""
import subprocess
import sys

import numpy as np
import pytest

import fastmlp as fm
import fastmlp.distributed as fmd

from _dist_launch import python


def _model(compiled=True):
    m = fm.Sequential([fm.Dense(3, activation="softmax")], input_shape=(4,), seed=0)
    if compiled:
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return m


X = np.zeros((8, 4), np.float32)
Y = np.zeros(8, np.int64)


def test_plain_import_loads_no_scale_out_module():
    r = subprocess.run(python() + ["-c",
                        "import sys, fastmlp\n"
                        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
                        "('mpi4py', 'dask', 'ray', 'torch') or m.startswith("
                        "('fastmlp.distributed', 'fastmlp.dask', 'fastmlp.ray'))))"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
    assert {"distributed", "dask", "ray"} <= set(dir(fm))


@pytest.mark.parametrize("kw, exc, match", [
    ({"backend": "nccl"}, ValueError, r"backend: expected one of \('mpi', 'torch'\), got 'nccl'"),
    ({"backend": 3}, TypeError, r"backend: expected one of .*got int 3"),
    ({"backend": "mpi", "sync_every": 0}, ValueError, r"sync_every: expected an int >= 1 or "
                                                      r"None, got 0"),
    ({"backend": "mpi", "sync_every": 2.5}, TypeError, r"sync_every: expected an int >= 1 "
                                                       r"or None, got float 2.5"),
    ({"backend": "mpi", "batch_size": 0}, ValueError, r"batch_size: expected an int >= 1, "
                                                      r"got 0"),
    ({"backend": "torch", "timeout": -1}, ValueError, r"timeout: expected a number of "
                                                      r"seconds > 0, got -1"),
])
def test_bad_arguments(kw, exc, match):
    with pytest.raises(exc, match=match):
        fmd.fit(_model(), X, Y, **kw)


def test_model_must_be_a_compiled_sequential():
    with pytest.raises(ValueError, match="model: expected a compiled fastmlp.Sequential "
                                         r"\(call model.compile"):
        fmd.fit(_model(compiled=False), X, Y, backend="mpi")
    with pytest.raises(TypeError, match="model: expected a compiled fastmlp.Sequential, got "
                                        "str"):
        fmd.fit("model", X, Y, backend="mpi")


def test_no_backend_before_init():
    with pytest.raises(ValueError, match=r"backend: expected one of .*init\(backend\) first"
                                         r"\), got None"):
        fmd.fit(_model(), X, Y)
    with pytest.raises(ValueError, match="got None"):
        fmd.rank()


def test_predict_rejects_other_collections():
    pytest.importorskip("dask")
    import fastmlp.dask as fdask
    with pytest.raises(TypeError, match="data: expected a dask.array.Array or "
                                        "dask.dataframe.DataFrame, got ndarray"):
        fdask.predict(_model(), X)
    with pytest.raises(TypeError, match="model: expected a fastmlp.Sequential, got list"):
        fdask.predict([], X)
