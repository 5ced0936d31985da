"""``from_sklearn``: a fitted scikit-learn MLP as a :class:`fastmlp.Sequential`.

Works on duck-typed fitted attributes (``coefs_``, ``intercepts_``, ``activation``,
``out_activation_``), so it needs no scikit-learn import and accepts both
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` and ``fastmlp.sklearn``'s.
"""
from __future__ import annotations

import numpy as np

__all__ = ["from_sklearn", "sequential_from_coefs", "HIDDEN_ACTIVATIONS"]

# scikit-learn hidden activation -> fastmlp Dense activation
HIDDEN_ACTIVATIONS = {"identity": None, "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}


def sequential_from_coefs(coefs, intercepts, activation, out_activation, binary_as_softmax=True,
                          name=None):
    """A Sequential with ``Dense`` layers holding ``coefs``/``intercepts`` (``[in, out]``).

    ``out_activation`` is scikit-learn's (``softmax``, ``logistic``, ``identity``). A single
    logistic output becomes ``Dense(2, softmax)`` with a zero first column when
    ``binary_as_softmax`` (``softmax([0, z]) == [1 - sigmoid(z), sigmoid(z)]``, i.e.
    ``predict_proba``), else ``Dense(1, sigmoid)``.
    """
    from ..layers import Dense
    from ..models import Sequential

    coefs = [np.asarray(c, dtype=np.float64) for c in coefs]
    intercepts = [np.asarray(b, dtype=np.float64).reshape(-1) for b in intercepts]
    if not coefs or len(coefs) != len(intercepts):
        raise ValueError(f"expected as many coefs_ as intercepts_ (at least one), got "
                         f"{len(coefs)} and {len(intercepts)}")
    if activation not in HIDDEN_ACTIVATIONS:
        raise ValueError(f"unsupported hidden activation {activation!r}; fastmlp supports "
                         f"{sorted(HIDDEN_ACTIVATIONS)}")
    for i, (w, b) in enumerate(zip(coefs, intercepts)):
        if w.ndim != 2 or b.shape != (w.shape[1],) or (i and w.shape[0] != coefs[i - 1].shape[1]):
            raise ValueError(f"layer {i}: inconsistent shapes coef {w.shape}, intercept "
                             f"{b.shape}")
    layers, weights = [], []
    for w, b in zip(coefs[:-1], intercepts[:-1]):
        layers.append(Dense(w.shape[1], activation=HIDDEN_ACTIVATIONS[activation]))
        weights += [w, b]
    w, b = coefs[-1], intercepts[-1]
    k = w.shape[1]
    if out_activation == "softmax":
        layers.append(Dense(k, activation="softmax"))
    elif out_activation == "logistic":
        if k == 1 and binary_as_softmax:
            layers.append(Dense(2, activation="softmax"))
            w = np.concatenate([np.zeros_like(w), w], axis=1)
            b = np.concatenate([np.zeros_like(b), b])
        else:
            layers.append(Dense(k, activation="sigmoid"))
    elif out_activation == "identity":
        layers.append(Dense(k))
    else:
        raise ValueError(f"unsupported output activation {out_activation!r} (fastmlp has "
                         "softmax, logistic and identity outputs; e.g. a Poisson regressor's "
                         "'exp' output has no fastmlp layer)")
    weights += [w, b]
    model = Sequential(layers, input_shape=(coefs[0].shape[0],), seed=0,
                       name=name or "sequential")
    model.set_weights([np.asarray(a, dtype=np.float32) for a in weights])
    return model


def from_sklearn(estimator, binary_as_softmax=True):
    """Convert a fitted scikit-learn ``MLPClassifier`` / ``MLPRegressor``.

    The returned model's ``predict`` equals the estimator's ``predict_proba`` for
    classifiers (binary: two columns, via ``Dense(2, softmax)``; multilabel: sigmoid
    columns) and its ``predict`` for regressors, to float32 precision.
    """
    for attr in ("coefs_", "intercepts_", "out_activation_"):
        if not hasattr(estimator, attr):
            raise ValueError(f"from_sklearn: expected a fitted scikit-learn MLPClassifier or "
                             f"MLPRegressor, got {type(estimator).__name__} without {attr} "
                             "(call fit first)")
    return sequential_from_coefs(estimator.coefs_, estimator.intercepts_,
                                 getattr(estimator, "activation", "relu"),
                                 estimator.out_activation_, binary_as_softmax=binary_as_softmax)
