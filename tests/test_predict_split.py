"""predict with a few rows per thread splits each layer's output columns between the
threads (network.cpp, predict_split). The split must not change a single bit: compare
1 vs 2 threads, a row alone vs inside its batch, and a float64 NumPy forward pass, on
widths that are not multiples of the register tile and on every layer kind. Larger
batches on several threads are cut into equal tiles (balanced_tile_rows), which must not
change a bit either."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
from _np_reference import np_activation

# On 2 threads the column split serves batches below 2 x min_rows_per_tile_thread (8 to 32
# rows, by weight size: 16 / 20 / 24 / 64 for these models); 15-24 and 63-65 straddle
# that. Then row tiles: 264 one per thread, 300, 1030 balanced tiles.
BATCHES = (1, 2, 3, 4, 5, 15, 16, 19, 20, 23, 24, 63, 64, 65, 100, 256, 257, 264, 265, 300,
           1024, 1030)


def _reference(model, x):
    """float64 forward pass from the model's layers and weights."""
    h = x.astype(np.float64)
    for layer in model.layers:
        if isinstance(layer, fm.Rescaling):
            h = h * layer.scale + layer.offset
        elif isinstance(layer, fm.Dense):
            h = h @ np.asarray(layer.kernel, np.float64)
            if layer.use_bias:
                h = h + np.asarray(layer.bias, np.float64)
            h = np_activation(layer.activation, h)
        elif isinstance(layer, fm.Softmax):
            e = np.exp(h - h.max(axis=1, keepdims=True))
            h = e / e.sum(axis=1, keepdims=True)
        elif isinstance(layer, fm.ReLU):
            h = np.maximum(h, 0)
        elif isinstance(layer, fm.Tanh):
            h = np.tanh(h)
        else:
            raise AssertionError(f"no reference for {type(layer).__name__}")
    return h


MODELS = {
    # I1 / I2 of PERFORMANCE.md
    "784-128-10": lambda: fm.Sequential([fm.Dense(128, activation="relu"), fm.Dense(10),
                                         fm.Softmax()], input_shape=(784,), seed=1),
    "784-512-512-10": lambda: fm.Sequential([fm.Dense(512, activation="relu"),
                                             fm.Dense(512, activation="relu"), fm.Dense(10),
                                             fm.Softmax()], input_shape=(784,), seed=2),
    # widths off the tile (NR = 32 / 16 / 8 by tier), tanh epilogue, no bias
    "37-300-100-33-7": lambda: fm.Sequential(
        [fm.Dense(300, activation="relu"), fm.Dense(100, activation="tanh"),
         fm.Dense(33, activation="sigmoid", use_bias=False), fm.Dense(7), fm.Softmax()],
        input_shape=(37,), seed=3),
    # stand-alone activation and Rescaling layers, a leaky ReLU epilogue, between wide layers
    "200-257-ReLU-Rescaling-129-Tanh-10": lambda: fm.Sequential(
        [fm.Dense(257, activation="tanh"), fm.ReLU(), fm.Rescaling(0.5, 0.1),
         fm.Dense(129, activation="leaky_relu"), fm.Tanh(), fm.Dense(10)],
        input_shape=(200,), seed=4),
}


def _bits(a):
    return np.ascontiguousarray(a).view(np.uint32)


@pytest.mark.parametrize("name", list(MODELS))
def test_predict_split_bitwise_across_threads_and_rows(isa, restore_threads, rng, name):
    model = MODELS[name]()
    d = model.input_shape[0]
    for batch in BATCHES:
        x = rng.uniform(-1, 1, (batch, d)).astype(np.float32)
        fm.set_num_threads(1)
        one = model.predict(x)
        fm.set_num_threads(2)
        two = model.predict(x)
        assert np.array_equal(_bits(one), _bits(two)), (name, batch)
        for r in {0, batch // 2, batch - 1}:  # a row alone gives the bits it gets in a batch
            assert np.array_equal(_bits(model.predict(x[r:r + 1])), _bits(two[r:r + 1])), \
                (name, batch, r)
        ref = _reference(model, x)
        np.testing.assert_allclose(two, ref, rtol=1e-4, atol=2e-5, err_msg=f"{name} b{batch}")


@pytest.mark.parametrize("batch", [1, 3, 64, 200])
def test_predict_split_converted_inputs(restore_threads, rng, batch):
    """uint8 input through a leading Rescaling, and strided float rows: both are gathered
    (split by rows between the threads) before the first layer."""
    model = fm.Sequential([fm.Rescaling(1 / 255), fm.Dense(160, activation="relu"),
                           fm.Dense(10), fm.Softmax()], input_shape=(784,), seed=5)
    xu = rng.integers(0, 256, (batch, 784), dtype=np.uint8)
    wide = rng.uniform(0, 255, (batch, 900)).astype(np.float32)
    xs = wide[:, :784]  # rows 900 floats apart
    for x in (xu, xs):
        fm.set_num_threads(1)
        one = model.predict(x)
        fm.set_num_threads(2)
        two = model.predict(x)
        assert np.array_equal(_bits(one), _bits(two)), (x.dtype, batch)
        np.testing.assert_allclose(two, _reference(model, np.asarray(x, np.float64)),
                                   rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("batch", [1, 5, 64, 300, 1030])
def test_predict_nonfinite_rows(restore_threads, rng, batch):
    """NaN / inf rows (found by the tier's all_finite before the pass) give all-NaN rows
    on both the split and the tile paths; the other rows are untouched."""
    model = MODELS["784-512-512-10"]()
    x = rng.uniform(0, 1, (batch, 784)).astype(np.float32)
    clean = model.predict(x)
    bad = sorted({batch // 2, batch - 1})
    x[bad[0], 17] = np.nan
    x[bad[-1], 783] = np.inf if len(bad) > 1 else np.nan
    fm.set_num_threads(2)
    y = model.predict(x)
    assert np.isnan(y[bad]).all()
    ok = np.setdiff1d(np.arange(batch), bad)
    assert np.array_equal(_bits(y[ok]), _bits(clean[ok]))
    fm.set_num_threads(1)
    assert np.array_equal(_bits(model.predict(x)), _bits(y))
