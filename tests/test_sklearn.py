"""fastmlp.sklearn: scikit-learn semantics, fitted attributes, from_sklearn."""
from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

from _optional import require

require("sklearn", "1.6", module_level=True)

from sklearn.datasets import load_digits, load_iris, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkC  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkR  # noqa: E402

from fastmlp.interop import from_sklearn  # noqa: E402
from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return (X - X.mean(0)) / X.std(0), y


def test_defaults_match_scikit_learn():
    for ours, theirs in ((MLPClassifier, SkC), (MLPRegressor, SkR)):
        assert ours().get_params() == theirs().get_params()


@pytest.mark.parametrize("solver", ["adam", "sgd"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_loss_curve_equals_scikit_learn(iris, solver, activation):
    """One full batch (no shuffling effect) from the same initial weights: the engine's
    epochs reproduce scikit-learn's loss curve to float32 precision."""
    X, y = iris
    kw = dict(hidden_layer_sizes=(12, 7), activation=activation, solver=solver,
              max_iter=8, random_state=3, alpha=1e-3)
    a, b = MLPClassifier(**kw).fit(X, y), SkC(**kw).fit(X, y)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=2e-5)
    # (single weights may differ more: Adam turns float32 noise in near-zero gradients into
    # full-size steps)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=2e-3)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_regressor_loss_curve_equals_scikit_learn(solver):
    X, y = make_regression(120, 6, n_targets=3, random_state=0)
    y /= y.std()
    kw = dict(hidden_layer_sizes=(10,), solver=solver, max_iter=6, random_state=1,
              batch_size=120, learning_rate_init=1e-3, alpha=1e-2)
    a, b = MLPRegressor(**kw).fit(X, y), SkR(**kw).fit(X, y)
    np.testing.assert_allclose(a.loss_curve_, b.loss_curve_, rtol=2e-5)


def test_fitted_attributes_binary_and_multiclass():
    X, y = make_classification(300, 8, n_informative=5, random_state=0)
    labels = np.array(["no", "yes"])[y]
    clf = MLPClassifier((16, 8), max_iter=30, random_state=0).fit(X, labels)
    assert list(clf.classes_) == ["no", "yes"]
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1 and clf.n_layers_ == 4
    assert [c.shape for c in clf.coefs_] == [(8, 16), (16, 8), (8, 1)]
    assert [b.shape for b in clf.intercepts_] == [(16,), (8,), (1,)]
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30 and clf.loss_ == clf.loss_curve_[-1]
    assert clf.n_features_in_ == 8 and clf.t_ == 30 * 300
    p = clf.predict_proba(X)
    assert p.shape == (300, 2) and np.allclose(p.sum(1), 1)
    assert set(clf.predict(X)) <= {"no", "yes"}
    assert clf.score(X, labels) > 0.8
    # the exposed single logit reproduces predict_proba like scikit-learn's forward pass
    h = X
    for w, b in zip(clf.coefs_[:-1], clf.intercepts_[:-1]):
        h = np.maximum(h @ w + b, 0)
    z = (h @ clf.coefs_[-1] + clf.intercepts_[-1]).ravel()
    np.testing.assert_allclose(p[:, 1], 1 / (1 + np.exp(-z)), rtol=1e-4, atol=1e-6)

    Xd, yd = load_digits(return_X_y=True)
    clf = MLPClassifier(max_iter=20, random_state=0).fit(Xd / 16, yd)
    assert clf.out_activation_ == "softmax" and clf.coefs_[-1].shape == (100, 10)
    assert clf.score(Xd / 16, yd) > 0.95


def test_accuracy_close_to_scikit_learn_on_digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = X[:1400], X[1400:], y[:1400], y[1400:]
    ours, theirs = [], []
    for seed in range(3):
        ours.append(MLPClassifier((64,), max_iter=40, random_state=seed).fit(Xtr, ytr)
                    .score(Xte, yte))
        theirs.append(SkC((64,), max_iter=40, random_state=seed).fit(Xtr, ytr)
                      .score(Xte, yte))
    assert np.median(ours) >= np.median(theirs) - 0.02, (ours, theirs)


def test_float32_input_keeps_float32(iris):
    X, y = iris
    clf = MLPClassifier((5,), max_iter=5, random_state=0).fit(X.astype(np.float32), y)
    assert clf.coefs_[0].dtype == np.float32
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float64


def test_partial_fit_and_warm_start(iris):
    X, y = iris
    clf = MLPClassifier((10,), learning_rate_init=0.01, random_state=0)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2] and clf.n_iter_ == 1
    for _ in range(30):
        clf.partial_fit(X, y)
    assert clf.t_ == 50 + 30 * 150 and clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y + 5)
    w = MLPClassifier((10,), max_iter=5, warm_start=True, random_state=0).fit(X, y)
    first = [c.copy() for c in w.coefs_]
    w.fit(X, y)
    assert len(w.loss_curve_) == 10 and not np.allclose(first[0], w.coefs_[0])
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="early_stopping"):
        MLPRegressor(early_stopping=True).partial_fit(X, X[:, 0])


def test_early_stopping_and_tol_stop():
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier((32,), early_stopping=True, n_iter_no_change=3, max_iter=200,
                        random_state=0).fit(X / 16, y)
    assert clf.n_iter_ < 200 and clf.best_loss_ is None
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    reg = MLPRegressor(hidden_layer_sizes=(8,), tol=1.0, n_iter_no_change=2, random_state=0).fit(X / 16, y / 9)
    assert reg.n_iter_ == 4 and reg.validation_scores_ is None and np.isfinite(reg.best_loss_)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier((4,), max_iter=2, random_state=0).fit(X / 16, y)


def test_sgd_adaptive_and_invscaling(iris):
    X, y = iris
    for lr in ("adaptive", "invscaling", "constant"):
        clf = MLPClassifier((10,), solver="sgd", learning_rate=lr, learning_rate_init=0.1,
                            max_iter=50, random_state=0).fit(X, y)
        assert clf.score(X, y) > 0.7, lr


def test_lbfgs(iris):
    X, y = iris
    clf = MLPClassifier((10,), solver="lbfgs", max_iter=200, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.97 and clf.n_iter_ <= 200
    reg = MLPRegressor(hidden_layer_sizes=(10,), solver="lbfgs", max_iter=200, random_state=0).fit(X[:, :3],
                                                                                X[:, 3])
    assert reg.score(X[:, :3], X[:, 3]) > 0.9


def test_multilabel_poisson_and_sample_weight():
    X, y = make_classification(300, 10, random_state=0)
    Y = np.c_[y, 1 - y, X[:, 0] > 0]
    clf = MLPClassifier((20,), max_iter=300, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (20, 3)
    # scikit-learn's own scores 0.903 here
    assert clf.predict(X).shape == (300, 3) and clf.score(X, Y) > 0.88
    rng = np.random.default_rng(0)
    lam = np.exp(X[:, :2].sum(1) * 0.3)
    reg = MLPRegressor(hidden_layer_sizes=(10,), loss="poisson", max_iter=300,
                       random_state=0).fit(X, rng.poisson(lam))
    assert reg.out_activation_ == "exp" and np.all(reg.predict(X) > 0)
    assert np.corrcoef(reg.predict(X), lam)[0, 1] > 0.8  # scikit-learn: 0.851
    # a zero weight drops samples: flipping their labels changes (almost) nothing
    sw = np.ones(300)
    sw[:100] = 0
    y2 = y.copy()
    y2[:100] = 1 - y2[:100]
    a = MLPClassifier((10,), max_iter=40, random_state=0).fit(X, y, sample_weight=sw)
    b = MLPClassifier((10,), max_iter=40, random_state=0).fit(X, y2, sample_weight=sw)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-5)
    r = MLPRegressor(hidden_layer_sizes=(10,), max_iter=200, random_state=0)
    r.fit(X, X[:, 0], sample_weight=np.r_[np.zeros(100), np.ones(200)])
    assert r.score(X[100:], X[100:, 0]) > 0.85  # scikit-learn's own: 0.888


def test_pickle_round_trip_exact(iris):
    X, y = iris
    clf = MLPClassifier((10,), max_iter=20, random_state=0).fit(X, y[:150] % 2)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    back.partial_fit(X, y % 2)  # trains on after unpickling


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel", "regression"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_from_sklearn_predicts_the_same(kind, activation):
    X, y = make_classification(200, 7, n_informative=5, n_classes=3 if kind == "multiclass"
                               else 2, random_state=1)
    kw = dict(hidden_layer_sizes=(9, 6), activation=activation, max_iter=30, random_state=0)
    if kind == "regression":
        est = SkR(**kw).fit(X, np.c_[X[:, 0], X[:, 1] * 2])
        ref = est.predict(X)
    else:
        target = np.c_[y, X[:, 0] > 0] if kind == "multilabel" else y
        est = SkC(**kw).fit(X, target)
        ref = est.predict_proba(X)
    model = from_sklearn(est)
    got = model.predict(X.astype(np.float32))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    if kind != "regression":
        assert np.array_equal(est.classes_[got.argmax(1)], est.predict(X)) or kind == "multilabel"
    # and fastmlp's own estimator converts the same way
    ours = (MLPRegressor if kind == "regression" else MLPClassifier)(**kw).fit(
        X, np.c_[X[:, 0], X[:, 1] * 2] if kind == "regression" else target)
    ref2 = ours.predict(X) if kind == "regression" else ours.predict_proba(X)
    np.testing.assert_allclose(from_sklearn(ours).predict(X.astype(np.float32)), ref2,
                               rtol=1e-4, atol=1e-5)


def test_from_sklearn_errors():
    with pytest.raises(ValueError, match="fitted"):
        from_sklearn(SkC())
    X, y = make_regression(50, 3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SkR(loss="poisson", max_iter=5).fit(X, np.abs(y))
    with pytest.raises(ValueError, match="exp"):
        from_sklearn(est)


def test_divergence_is_a_value_error():
    X, y = make_regression(100, 3, random_state=0)
    with pytest.raises(ValueError, match="non-finite"):
        MLPRegressor(solver="sgd", learning_rate_init=10.0, max_iter=50,
                     random_state=0).fit(X * 1e3, y * 1e6)


@pytest.mark.skipif(not hasattr(__import__("fastmlp"), "from_sklearn"),
                    reason="fm.from_sklearn not wired in yet (__init__.py)")
def test_public_from_sklearn(iris):
    import fastmlp as fm
    X, y = iris
    est = SkC((5,), max_iter=10, random_state=0).fit(X, y)
    np.testing.assert_allclose(fm.from_sklearn(est).predict(X.astype(np.float32)),
                               est.predict_proba(X), rtol=1e-4, atol=1e-5)
