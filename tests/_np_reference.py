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


def assert_gradients_match_fd(m, x, y, picks, eps=1e-2, tol=3e-3):
    """The engine's gradients (compute_gradients) of model m against central finite
    differences of its loss, for the (parameter index, element) pairs in picks. Each
    loss is one compute_gradients call: random layers draw the same step's values."""
    w = m.get_weights()
    _, grads = m._net.compute_gradients(x, y)
    for i, idx in picks:
        lo, hi = [a.copy() for a in w], [a.copy() for a in w]
        lo[i][idx] -= eps
        hi[i][idx] += eps
        m.set_weights(hi)
        lh = float(m._net.compute_gradients(x, y)[0])
        m.set_weights(lo)
        ll = float(m._net.compute_gradients(x, y)[0])
        fd = (lh - ll) / (2 * eps)
        assert abs(fd - grads[i][idx]) < tol * max(1.0, abs(fd)), (i, idx, fd, grads[i][idx])
    m.set_weights(w)
