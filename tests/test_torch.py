"""PyTorch conversion: from_torch / to_torch round trips predict the same."""
from __future__ import annotations

import numpy as np
import pytest

import fastmlp as fm
from _optional import require
from fastmlp.interop import torch as ftorch


def _run(module, x):
    torch = require("torch")
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_from_torch_every_supported_module():
    torch = require("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Dropout(0.5),
                        nn.Sequential(nn.Linear(16, 10), nn.LeakyReLU(0.1)),
                        nn.Linear(10, 9, bias=False), nn.Sigmoid(), nn.Linear(9, 8), nn.Tanh(),
                        nn.Identity(), nn.Linear(8, 4), nn.Softmax(dim=-1)).eval()
    model = ftorch.from_torch(net, input_shape=(3, 4))
    x = np.random.default_rng(0).standard_normal((37, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _run(net, x), rtol=1e-5, atol=1e-6)
    # weights arrive transposed: kernel [in, out] == weight.T
    np.testing.assert_array_equal(model.layers[1].kernel, net[1].weight.detach().numpy().T)


def test_from_torch_default_input_shape_and_round_trip():
    torch = require("torch")
    nn = torch.nn
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    model = ftorch.from_torch(net)
    assert model.input_shape == (5,)
    x = np.random.default_rng(1).standard_normal((11, 5)).astype(np.float32)
    np.testing.assert_allclose(model.predict(x), _run(net, x), rtol=1e-5, atol=1e-6)
    back = ftorch.to_torch(model)
    np.testing.assert_allclose(_run(back, x), model.predict(x), rtol=1e-5, atol=1e-6)


def test_to_torch_and_back():
    torch = require("torch")
    model = fm.Sequential([fm.Rescaling(1 / 255), fm.Flatten(), fm.Dense(20, activation="relu"),
                           fm.Dense(12, activation="leaky_relu"), fm.Dense(10), fm.LeakyReLU(),
                           fm.Dense(9, activation="sigmoid"), fm.Dense(8, activation="tanh"),
                           fm.Dense(5, activation="softmax")], input_shape=(4, 6), seed=3)
    x = np.random.default_rng(2).uniform(0, 255, (29, 4, 6)).astype(np.float32)
    ref = model.predict(x)
    net = ftorch.to_torch(model)
    assert isinstance(net, torch.nn.Sequential) and not net.training
    assert net[2].weight.shape == (20, 24)  # [out, in]
    np.testing.assert_allclose(_run(net, x), ref, rtol=1e-5, atol=1e-6)
    again = ftorch.from_torch(net, input_shape=(4, 6))
    np.testing.assert_allclose(again.predict(x), ref, rtol=1e-6, atol=1e-7)


def test_from_torch_refuses_other_modules():
    torch = require("torch")
    nn = torch.nn
    with pytest.raises(ValueError, match="unsupported modules: Conv1d, RNN"):
        ftorch.from_torch(nn.Sequential(nn.Conv1d(1, 2, 3), nn.RNN(2, 2), nn.BatchNorm1d(2),
                                        nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="last layer"):
        ftorch.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=1), nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="dim"):
        ftorch.from_torch(nn.Sequential(nn.Linear(2, 2), nn.Softmax(dim=0)))
    with pytest.raises(TypeError):
        ftorch.from_torch("not a module")


def test_torch_stays_optional():
    """Importing fastmlp and its interop package does not import torch."""
    import subprocess
    import sys
    code = ("import sys, fastmlp, fastmlp.interop, fastmlp.interop.torch, "
            "fastmlp.interop.onnx; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'onnx' not in sys.modules, 'onnx imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.skipif(not hasattr(fm.Sequential, "to_torch") or not hasattr(fm, "from_torch"),
                    reason="Sequential.to_torch / fm.from_torch not wired in yet (models.py, "
                           "__init__.py)")
def test_public_api_wiring():
    require("torch")
    model = fm.Sequential([fm.Dense(4, activation="tanh"), fm.Dense(3)], input_shape=(5,), seed=0)
    x = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)
    np.testing.assert_allclose(fm.from_torch(model.to_torch()).predict(x), model.predict(x),
                               rtol=1e-6, atol=1e-7)
