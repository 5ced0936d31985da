"""MLPClassifier and MLPRegressor: scikit-learn's estimators on the engine."""
from __future__ import annotations

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.neural_network import MLPRegressor as _SkMLPRegressor
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import (_check_partial_fit_first_call, type_of_target,
                                      unique_labels)
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import _BaseMLP, _dense32


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multi-layer perceptron classifier (scikit-learn's API, fastmlp's engine).

    Parameters and attributes are those of :class:`sklearn.neural_network.MLPClassifier`.
    """

    _is_clf = True
    _parameter_constraints: dict = dict(getattr(_SkMLPClassifier, "_parameter_constraints",
                                                {}))

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss="log_loss", shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError("`y` has classes not in `self.classes_`. `self.classes_` "
                                 f"has {self.classes_}. 'y' has {classes}.")
        return X, self._label_binarizer.transform(y).astype(bool)

    def _output_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _pick_mode(self, sw):
        if self._label_binarizer.y_type_ == "multilabel-indicator":
            return "moved"
        return "sce" if sw is None else "cce"

    def _labels(self, y):
        if y.shape[1] == 1:
            return np.ascontiguousarray(y[:, 0], dtype=np.int32)
        return np.ascontiguousarray(y.argmax(axis=1), dtype=np.int32)

    def _onehot(self, y):
        if y.shape[1] == 1:
            return np.concatenate([~y, y], axis=1).astype(np.float32)
        return y.astype(np.float32)

    def _val_targets(self, y):
        return self._label_binarizer.inverse_transform(y)

    def _decode(self, proba):
        if self.out_activation_ == "softmax":
            return self.classes_[np.argmax(proba, axis=1)]
        if self.n_outputs_ == 1:
            return self._label_binarizer.inverse_transform(proba.ravel())
        return self._label_binarizer.inverse_transform(proba)

    def _score_internal(self, model, X, y, sw):
        out = model.predict(_dense32(X))
        if self._fm_mode in ("sce", "cce"):
            if self.out_activation_ == "logistic":
                out = out[:, 1:]
        else:
            out = self._out_fn(out)
        return accuracy_score(y, self._decode(out), sample_weight=sw)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (see scikit-learn)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); ``classes`` is required on the first call."""
        if _check_partial_fit_first_call(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict class labels for X."""
        check_is_fitted(self)
        X = self._validate_X(X)
        return self._decode(self._forward(X))

    def predict_proba(self, X):
        """Probability estimates, columns ordered as ``classes_``."""
        check_is_fitted(self)
        X = self._validate_X(X)
        if self._fm_mode in ("sce", "cce"):
            out = self._get_model().predict(_dense32(X))  # softmax, both binary columns
        else:
            out = self._forward(X)
            if self.n_outputs_ == 1:
                out = np.concatenate([1.0 - out, out], axis=1)
        return out.astype(X.dtype, copy=False)

    def predict_log_proba(self, X):
        """``log(predict_proba(X))``."""
        p = self.predict_proba(X)
        return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multi-layer perceptron regressor (scikit-learn's API, fastmlp's engine).

    Parameters and attributes are those of :class:`sklearn.neural_network.MLPRegressor`
    (``loss`` is ``'squared_error'`` or ``'poisson'``).
    """

    _is_clf = False
    _parameter_constraints: dict = dict(getattr(_SkMLPRegressor, "_parameter_constraints", {}))

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *,
                 solver="adam", alpha=0.0001, batch_size="auto", learning_rate="constant",
                 learning_rate_init=0.001, power_t=0.5, max_iter=200, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000):
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes, activation=activation, solver=solver,
            alpha=alpha, batch_size=batch_size, learning_rate=learning_rate,
            learning_rate_init=learning_rate_init, power_t=power_t, max_iter=max_iter,
            loss=loss, shuffle=shuffle, random_state=random_state, tol=tol,
            verbose=verbose, warm_start=warm_start, momentum=momentum,
            nesterovs_momentum=nesterovs_momentum, early_stopping=early_stopping,
            validation_fraction=validation_fraction, beta_1=beta_1, beta_2=beta_2,
            epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun)

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], multi_output=True,
                             y_numeric=True, dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.any(y < 0):
            raise ValueError("loss='poisson' requires non-negative y")
        return X, y

    def _output_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _pick_mode(self, sw):
        if self.loss == "poisson" or sw is not None:
            return "moved"
        return "mse"

    def _val_targets(self, y):
        return y.ravel() if y.shape[1] == 1 else y

    def _score_internal(self, model, X, y, sw):
        out = model.predict(_dense32(X)).astype(np.float64)
        out = self._out_fn(out)
        if out.shape[1] == 1:
            out = out.ravel()
        if not np.isfinite(out).all():
            return np.nan
        return r2_score(y, out, sample_weight=sw)

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (see scikit-learn)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X):
        """Predict using the multi-layer perceptron model."""
        check_is_fitted(self)
        X = self._validate_X(X)
        out = self._forward(X)
        if out.shape[1] == 1:
            out = out.ravel()
        return out.astype(X.dtype, copy=False)
