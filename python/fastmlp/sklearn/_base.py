"""What MLPClassifier and MLPRegressor share: _BaseMLP (parameters, the engine model, the
stochastic and L-BFGS solvers)."""
from __future__ import annotations

import warnings

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from scipy.special import xlogy
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as _SkMLPClassifier
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_sample_weight, validate_data

from .. import optimizers as _optimizers
from ..interop._sklearn import HIDDEN_ACTIVATIONS, sequential_from_coefs

_MAX_SEED = 2**31 - 1


def _expit(z):
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def _dense32(X):
    if sp.issparse(X):
        X = X.toarray()
    return np.ascontiguousarray(X, dtype=np.float32)


class _BaseMLP(BaseEstimator):
    """Shared implementation; use :class:`MLPClassifier` or :class:`MLPRegressor`."""

    _parameter_constraints: dict = dict(getattr(_SkMLPClassifier, "_parameter_constraints", {}))

    def __init__(self, hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate,
                 learning_rate_init, power_t, max_iter, loss, shuffle, random_state, tol,
                 verbose, warm_start, momentum, nesterovs_momentum, early_stopping,
                 validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun):
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun

    # ------------------------------------------------------------------ pickling
    def __getstate__(self):
        state = super().__getstate__() if hasattr(super(), "__getstate__") else dict(self.__dict__)
        state = dict(state)
        for k in ("_fm_model", "_fm_opt"):
            state.pop(k, None)
        return state

    # ------------------------------------------------------------------ engine model
    def _model_from_coefs(self):
        # softmax modes: a single logistic output becomes Dense(2, softmax) with a zero
        # first column; other modes train on logits (output function applied in NumPy)
        out = self.out_activation_ if self._fm_mode in ("sce", "cce") else "identity"
        model = sequential_from_coefs(self.coefs_, self.intercepts_, self.activation, out,
                                      binary_as_softmax=True)
        exact = getattr(self, "_fm_weights", None)
        if exact is not None and getattr(self, "_fm_src", None) is self.coefs_:
            # the engine's own float32 weights (e.g. after unpickling): predictions stay
            # bitwise identical (a binary model's two logits are not recoverable exactly
            # from their difference)
            model.set_weights(exact)
        else:
            self._fm_weights = None
        self._fm_model = model
        self._fm_src = self.coefs_
        self._fm_opt = None
        return model

    def _get_model(self):
        model = getattr(self, "_fm_model", None)
        if model is None or getattr(self, "_fm_src", None) is not self.coefs_:
            model = self._model_from_coefs()
        return model

    def _export_coefs(self, dtype):
        ws = self._fm_model.get_weights()
        coefs = [w.astype(dtype) for w in ws[0::2]]
        intercepts = [b.astype(dtype) for b in ws[1::2]]
        if self._fm_mode in ("sce", "cce") and self.out_activation_ == "logistic":
            coefs[-1] = (coefs[-1][:, 1] - coefs[-1][:, 0])[:, None]
            intercepts[-1] = intercepts[-1][1:] - intercepts[-1][:1]
        self.coefs_, self.intercepts_ = coefs, intercepts
        self._fm_src = self.coefs_  # pickled with coefs_: identity survives a round trip
        self._fm_weights = ws

    def _init_weights(self, layer_units, dtype):
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_, self.intercepts_ = [], []
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(self._random_state.uniform(-bound, bound, (fan_in, fan_out))
                               .astype(dtype, copy=False))
            self.intercepts_.append(self._random_state.uniform(-bound, bound, fan_out)
                                    .astype(dtype, copy=False))

    def _engine_scale(self):
        """Ratio engine gradient / scikit-learn gradient of the data term."""
        if self._fm_mode == "mse":
            return 2.0 / self.n_outputs_
        return 1.0

    def _compile(self, model, batch_size):
        s = self._engine_scale()
        wd = s * self.alpha / batch_size
        if self.solver == "sgd":
            opt = _optimizers.SGD(learning_rate=self.learning_rate_init / s,
                                  momentum=min(float(self.momentum), 1.0 - 1e-7),
                                  nesterov=bool(self.nesterovs_momentum) and self.momentum > 0,
                                  weight_decay=wd)
        else:
            opt = _optimizers.Adam(learning_rate=self.learning_rate_init,
                                   beta_1=min(float(self.beta_1), 1.0 - 1e-7),
                                   beta_2=min(float(self.beta_2), 1.0 - 1e-7),
                                   epsilon=s * self.epsilon, weight_decay=wd)
        loss = {"sce": "sparse_categorical_crossentropy", "cce": "categorical_crossentropy"
                }.get(self._fm_mode, "mse")
        model.compile(optimizer=opt, loss=loss)
        self._fm_opt = (self.solver, batch_size, self._fm_mode)
        self._fm_lr = float(self.learning_rate_init)

    def _set_lr(self, model, lr):
        self._fm_lr = lr
        if self.solver == "sgd":  # Adam's step does not scale with the gradient
            lr = lr / self._engine_scale()
        model.optimizer.learning_rate = max(lr, 1e-30)

    # ------------------------------------------------------------------ losses
    def _out_fn(self, z):
        """scikit-learn's output activation on engine logits (moved-target modes)."""
        if self.out_activation_ == "logistic":
            return _expit(z)
        if self.out_activation_ == "exp":
            return np.exp(z)
        return z

    def _data_loss(self, p, y, sw):
        """scikit-learn's loss of predictions p (after the output function)."""
        eps = np.finfo(p.dtype).eps
        if self.out_activation_ == "logistic":
            p = np.clip(p, eps, 1 - eps)
            per = -(y * np.log(p) + (1 - y) * np.log1p(-p)).sum(axis=1)
        elif self.out_activation_ == "exp":
            per = (xlogy(y, y / np.maximum(p, eps)) - y + p).sum(axis=1)  # half deviance
        elif self.out_activation_ == "softmax":
            p = np.clip(p, eps, 1 - eps)
            per = -(y * np.log(p)).sum(axis=1)
        else:
            return float(np.average(((y - p) ** 2).mean(axis=1), weights=sw) / 2)
        return float(np.average(per, weights=sw))

    def _l2(self):
        return float(sum(np.dot(c.ravel(), c.ravel()) for c in self._fm_model.get_weights()[0::2]))

    def _moved_targets(self, z, y, sw):
        """Targets whose engine-MSE gradient equals the sklearn loss gradient."""
        g = self._out_fn(z.astype(np.float64)) - y  # canonical link: dloss/dz
        if sw is not None:
            g *= sw[:, None]
        return (z - 0.5 * z.shape[1] * g).astype(np.float32), g

    # ------------------------------------------------------------------ fitting
    def _prepare(self, y2, sw):
        """Pick the engine mode and the engine targets."""
        raise NotImplementedError

    def _fit(self, X, y, sample_weight=None, incremental=False):
        self._validate_params()
        hidden = self.hidden_layer_sizes
        if not hasattr(hidden, "__iter__"):
            hidden = [hidden]
        hidden = list(hidden)
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {hidden}.")
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"activation: expected one of {sorted(HIDDEN_ACTIVATIONS)}, got "
                             f"{self.activation!r}")
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
            if np.all(sample_weight == sample_weight[0]) and sample_weight[0] > 0:
                sample_weight = None  # uniform weights: the unweighted problem
            else:
                total = sample_weight.sum()
                if not total > 0:
                    raise ValueError("sample_weight: the weights must not all be zero")
                sample_weight = sample_weight * (len(sample_weight) / total)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        n_samples, n_features = X.shape
        self.n_outputs_ = y.shape[1]
        layer_units = [n_features] + hidden + [self.n_outputs_]
        self._random_state = check_random_state(self.random_state)
        mode = self._pick_mode(sample_weight)
        if first_pass:
            self._initialize(y, layer_units, X.dtype)
            self._fm_mode = mode
            self._fm_model = None
        elif mode != self._fm_mode:
            # same function, other engine objective (e.g. weights given this time)
            self._fm_mode = mode
            self._fm_model = None
        model = self._get_model()
        X32 = _dense32(X)
        try:
            if self.solver == "lbfgs":
                self._fit_lbfgs(model, X32, y, sample_weight)
            else:
                self._fit_stochastic(model, X, X32, y, sample_weight, incremental)
        except FloatingPointError:
            self._export_coefs(X.dtype)
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.") from None
        self._export_coefs(X.dtype)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError("Solver produced non-finite parameter weights. The input data "
                             "may contain large values and need to be preprocessed.")
        return self

    def _pick_mode(self, sw):
        raise NotImplementedError

    def _initialize(self, y, layer_units, dtype):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        self._init_weights(layer_units, dtype)
        self._fm_src = None
        if self.solver != "lbfgs":
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _engine_targets(self, y, sw):
        """Targets in the engine's format for the fast modes."""
        if self._fm_mode == "sce":
            return self._labels(y)
        if self._fm_mode == "cce":
            onehot = self._onehot(y)
            return np.ascontiguousarray(onehot * sw[:, None], dtype=np.float32)
        return np.ascontiguousarray(y, dtype=np.float32)

    def _fit_stochastic(self, model, X, X32, y, sw, incremental):
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping and not incremental
        if not hasattr(self, "loss_curve_"):  # e.g. warm start after an lbfgs fit
            self.loss_curve_, self._no_improvement_count = [], 0
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = \
                np.inf, None, None
        X_val = y_val = sw_val = None
        idx = np.arange(len(X32))
        if early_stopping:
            stratify = y if (self._is_clf and self.n_outputs_ == 1) else None
            parts = train_test_split(idx, random_state=self._random_state,
                                     test_size=self.validation_fraction, stratify=stratify)
            tr, va = parts
            if len(va) < 2:
                raise ValueError("The validation set is too small. Increase "
                                 "'validation_fraction' or the size of your dataset.")
            X_val, y_val = X[va], self._val_targets(y[va])
            sw_val = None if sw is None else sw[va]
            X32, y = X32[tr], y[tr]
            sw = None if sw is None else sw[tr]
            if self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_ = [], -np.inf
                self.best_loss_ = None
        n = len(X32)
        if self.batch_size == "auto":
            bs = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. "
                              "It is going to be clipped")
            bs = int(np.clip(self.batch_size, 1, n))
        if not incremental or getattr(self, "_fm_opt", None) != (self.solver, bs, self._fm_mode):
            self._compile(model, bs)
        if not incremental or not hasattr(self, "_fm_lr"):
            self._set_lr(model, float(self.learning_rate_init))
        fast = self._fm_mode in ("sce", "cce", "mse")
        Y = self._engine_targets(y, sw) if fast else None
        yf = None if fast else y.astype(np.float64)
        nb = -(-n // bs)
        best = None
        try:
            self.n_iter_ = 0
            for it in range(self.max_iter):
                if fast:
                    seed = int(self._random_state.randint(_MAX_SEED))
                    hist = model.fit(X32, Y, batch_size=bs, epochs=1, shuffle=bool(self.shuffle),
                                     seed=seed, verbose=0)
                    data_loss = float(hist.history["loss"][0])
                    if self._fm_mode == "mse":
                        data_loss /= 2.0
                else:
                    data_loss = self._epoch_moved(model, X32, yf, sw, bs)
                self.n_iter_ += 1
                self.loss_ = data_loss + 0.5 * self.alpha * self._l2() * nb / n
                self.t_ += n
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                if early_stopping:
                    score = self._score_internal(model, X_val, y_val, sw_val)
                    self.validation_scores_.append(score)
                    if self.verbose:
                        print("Validation score: %f" % score)
                    if score < self.best_validation_score_ + self.tol:
                        self._no_improvement_count += 1
                    else:
                        self._no_improvement_count = 0
                    if score > self.best_validation_score_:
                        self.best_validation_score_ = score
                        best = model.get_weights()
                else:
                    if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                        self._no_improvement_count += 1
                    else:
                        self._no_improvement_count = 0
                    if self.loss_curve_[-1] < self.best_loss_:
                        self.best_loss_ = self.loss_curve_[-1]
                if self.solver == "sgd" and self.learning_rate == "invscaling":
                    self._set_lr(model, float(self.learning_rate_init)
                                 / (self.t_ + 1) ** self.power_t)
                if self._no_improvement_count > self.n_iter_no_change:
                    what = "Validation score" if early_stopping else "Training loss"
                    msg = (f"{what} did not improve more than tol={self.tol:f} for "
                           f"{self.n_iter_no_change} consecutive epochs.")
                    if self.solver == "sgd" and self.learning_rate == "adaptive" \
                            and self._fm_lr > 1e-6:
                        self._set_lr(model, self._fm_lr / 5.0)
                        if self.verbose:
                            print(msg + " Setting learning rate to %f" % self._fm_lr)
                        self._no_improvement_count = 0
                    else:
                        if self.verbose:
                            print(msg + " Stopping." if self.solver == "adam" or
                                  self.learning_rate != "adaptive" else
                                  msg + " Learning rate too small. Stopping.")
                        break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn("Stochastic Optimizer: Maximum iterations (%d) reached and "
                                  "the optimization hasn't converged yet." % self.max_iter,
                                  ConvergenceWarning)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping and best is not None:
            model.set_weights(best)

    def _epoch_moved(self, model, X32, y, sw, bs):
        """One epoch with moved targets (losses the engine lacks); returns the data loss."""
        n = len(X32)
        order = self._random_state.permutation(n) if self.shuffle else np.arange(n)
        total = 0.0
        for s in range(0, n, bs):
            b = order[s:s + bs]
            xb = X32[b]
            z = model.predict(xb)
            yb = y[b]
            swb = None if sw is None else sw[b]
            target, _ = self._moved_targets(z, yb, swb)
            total += self._data_loss(self._out_fn(z.astype(np.float64)), yb, swb) * len(b)
            model.train_on_batch(xb, target)
        return total / n

    # ------------------------------------------------------------------ lbfgs
    def _fit_lbfgs(self, model, X32, y, sw):
        net = model._ensure_net()
        self._compile(model, len(X32))  # sets the engine loss
        n = len(X32)
        shapes = [w.shape for w in model.get_weights()]
        sizes = [int(np.prod(s)) for s in shapes]
        is_w = [i % 2 == 0 for i in range(len(shapes))]
        fast = self._fm_mode in ("sce", "cce", "mse")
        Y = self._engine_targets(y, sw) if fast else None
        yf = y.astype(np.float64)
        C = model.output_shape[0]
        s = self._engine_scale()

        def unpack(theta):
            out, o = [], 0
            for shp, k in zip(shapes, sizes):
                out.append(theta[o:o + k].reshape(shp).astype(np.float32))
                o += k
            return out

        def fun(theta):
            ws = unpack(theta)
            model.set_weights(ws)
            if fast:
                loss, grads = net.compute_gradients(X32, Y)
                loss, grads = loss / s, [g / s for g in grads]
                if self._fm_mode == "mse":
                    loss *= C / 2.0  # the loss whose gradient sklearn uses
            else:
                z = model.predict(X32)
                target, _ = self._moved_targets(z, yf, sw)
                loss = self._data_loss(self._out_fn(z.astype(np.float64)), yf, sw)
                _, grads = net.compute_gradients(X32, target)
            reg, flat = 0.0, []
            for w, g, isw in zip(ws, grads, is_w):
                g = g.astype(np.float64).ravel()
                if isw:
                    w64 = w.astype(np.float64).ravel()
                    reg += np.dot(w64, w64)
                    g = g + self.alpha * w64 / n
                flat.append(g)
            return float(loss) + 0.5 * self.alpha * reg / n, np.concatenate(flat)

        theta0 = np.concatenate([w.astype(np.float64).ravel() for w in model.get_weights()])
        res = scipy.optimize.minimize(
            fun, theta0, method="L-BFGS-B", jac=True,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol})
        self.n_iter_ = int(res.nit)
        if res.status != 0:
            warnings.warn(f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                          f"(status={res.status}): {res.message}", ConvergenceWarning)
        self.loss_ = float(res.fun)
        model.set_weights(unpack(res.x))

    # ------------------------------------------------------------------ inference
    def _forward(self, X):
        """scikit-learn's network output (after its output activation), float64/32."""
        X32 = _dense32(X)
        model = self._get_model()
        out = model.predict(X32)
        if self._fm_mode in ("sce", "cce"):
            if self.out_activation_ == "logistic":
                out = out[:, 1:]
            return out
        return self._out_fn(out) if self.out_activation_ != "identity" else out

    def _check_solver(self):
        if self.solver not in ("sgd", "adam"):
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _validate_X(self, X):
        return validate_data(self, X, accept_sparse=["csr", "csc"],
                             dtype=(np.float64, np.float32), reset=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
