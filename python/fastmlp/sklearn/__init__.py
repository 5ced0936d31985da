"""scikit-learn drop-in estimators trained by the fastmlp C++ engine (extra ``sklearn``).

``MLPClassifier`` and ``MLPRegressor`` take scikit-learn's constructor parameters with its
defaults and expose the same fitted attributes (``coefs_``, ``intercepts_``, ``loss_``,
``loss_curve_``, ``n_iter_``, ``classes_``, ``n_features_in_``, ``out_activation_``, ...).
Training and inference run in float32 in :class:`fastmlp.Sequential`.

How scikit-learn's objective maps onto the engine:

* multiclass / binary classification: softmax output with (sparse) cross-entropy; a binary
  problem trains two softmax logits ``[z0, z1]`` and exposes ``z1 - z0`` as scikit-learn's
  single logistic output (``softmax([z0, z1])[1] == sigmoid(z1 - z0)``). The first logit
  starts at zero, so the initial function equals scikit-learn's initialisation.
* squared error: the engine's mean squared error, with learning rate, L2 and epsilon scaled
  so that the updates equal scikit-learn's (its gradient is ``(y_pred - y) / n_samples``).
* ``alpha``: L2 penalty ``alpha / batch_size`` added to the gradient (scikit-learn adds
  ``alpha * W / n_batch``).
* losses the engine lacks (multilabel logistic, ``loss='poisson'``, weighted regression)
  use the engine's squared error against a moved target ``z - (C / 2) * dloss/dz``, whose
  gradient is exactly the wanted loss's gradient (one extra forward pass per batch).
* ``solver='lbfgs'`` runs SciPy's L-BFGS-B on the engine's full-batch gradients.

Differences: arithmetic is float32 (attributes are returned in the input's dtype); the
shuffling stream differs from scikit-learn's, so results match statistically, not
bitwise; the L2 term also applies (negligibly, ``alpha / batch_size``) to intercepts in
the stochastic solvers; sparse input is densified.

Modules: ``_base`` (_BaseMLP: parameters, solvers), ``_estimators`` (the two estimators).
"""
from __future__ import annotations

from ..interop._sklearn import from_sklearn
from ._estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor", "from_sklearn"]

# Pickles and reprs name the public module.
MLPClassifier.__module__ = MLPRegressor.__module__ = __name__
