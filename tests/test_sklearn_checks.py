"""scikit-learn's estimator checks on fastmlp.sklearn.MLPClassifier / MLPRegressor."""
from __future__ import annotations

import pytest

from _optional import require

require("sklearn", "1.6", module_level=True)

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastmlp.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

_SW_REASON = (
    "mini-batch training: a weight of 2 scales one sample's gradient in its batch, while a "
    "repeated sample lands in another batch (scikit-learn's own MLPs pass this check only "
    "with float64 full-batch lbfgs; fastmlp computes in float32 and the check needs rtol "
    "1e-7)")
_XFAIL = {
    name: {"check_sample_weight_equivalence_on_dense_data": _SW_REASON,
           "check_sample_weight_equivalence_on_sparse_data": _SW_REASON}
    for name in ("MLPClassifier", "MLPRegressor")
}


def _expected_failed_checks(estimator):
    return _XFAIL.get(type(estimator).__name__, {})


# max_iter=100 as scikit-learn's own test suite sets for its MLPs (instance_generator.py).
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
