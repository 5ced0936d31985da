"""Plain-NumPy references shared by the model tests (float64 activations, run
comparisons); kept here so that each test file checks against the same definitions."""
import numpy as np


def np_activation(name, z, alpha=0.01):
    """The activation `name` ("relu", "leaky_relu", "sigmoid", "tanh", else linear) of z."""
    if name == "relu":
        return np.maximum(z, 0)
    if name == "leaky_relu":
        return np.where(z > 0, z, alpha * z)
    if name == "sigmoid":
        return 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    return z


def assert_runs_bitwise_equal(runs):
    """runs: [(batch_losses, weights), ...] from the same training at different thread
    counts; all must match the first to the bit."""
    losses0, weights0 = runs[0]
    for losses, weights in runs[1:]:
        assert np.array_equal(losses0, losses)
        assert len(weights0) == len(weights)
        for p, q in zip(weights0, weights):
            assert np.array_equal(p, q)
