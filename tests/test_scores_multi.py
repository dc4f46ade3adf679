"""Transferability scores for numeric targets and multi-label data."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import InputError
from transferkit.select.scores import (
    hscore,
    knn_regression,
    logme,
    logme_regression,
    multilabel_mean,
)


def _regression_data(n: int = 200, d: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, d))
    y = f @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    return f, y, rng.normal(size=(n, d))


def test_logme_regression_is_the_bayesian_ridge_evidence():
    """The evidence LogME maximises is scikit-learn's BayesianRidge log marginal likelihood
    (no intercept, flat hyper-priors) on the standardised target."""
    from sklearn.linear_model import BayesianRidge

    f, y, _ = _regression_data()
    z = (y - y.mean()) / y.std()
    ref = BayesianRidge(
        fit_intercept=False,
        compute_score=True,
        alpha_1=0.0,
        alpha_2=0.0,
        lambda_1=0.0,
        lambda_2=0.0,
        max_iter=1000,
        tol=1e-10,
    ).fit(f, z)
    assert logme_regression(f, y) * len(y) == pytest.approx(ref.scores_[-1], rel=1e-4)


def test_logme_regression_prefers_informative_features_and_ignores_units():
    f, y, noise = _regression_data()
    assert logme_regression(f, y) > logme_regression(noise, y) + 0.5
    assert logme_regression(f, 3.0 * y + 7.0) == pytest.approx(logme_regression(f, y))
    two = np.stack([y, -y], axis=1)  # a (N, K) target: the mean over its columns
    assert logme_regression(f, two) == pytest.approx(logme_regression(f, y))


def test_knn_regression_r2():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 8)) * 5
    group = np.repeat(np.arange(5), 20)
    f = centres[group] + 0.1 * rng.normal(size=(100, 8))
    y = group.astype(float)
    assert knn_regression(f, y) == pytest.approx(1.0)  # neighbours share the target exactly
    assert knn_regression(rng.normal(size=(100, 8)), y) < 0.2
    # hand-checked 1-NN on unit vectors at 0, 1, 3, 6 degrees (no ties), targets 0, 1, 2, 4:
    # predictions 1, 0, 1, 2 -> SSE = 1 + 1 + 1 + 4 = 7; SST = 8.75 -> R² = 1 - 7/8.75 = 0.2
    ang = np.deg2rad([0.0, 1.0, 3.0, 6.0])
    pts = np.stack([np.cos(ang), np.sin(ang)], axis=1)
    assert knn_regression(pts, np.array([0.0, 1.0, 2.0, 4.0]), k=1) == pytest.approx(0.2)
    with pytest.raises(InputError, match="k must be"):
        knn_regression(f, y, k=100)


def test_multilabel_mean_averages_binary_scores_and_skips_constant_labels():
    rng = np.random.default_rng(1)
    f = rng.normal(size=(60, 6))
    y = np.zeros((60, 4), dtype=int)
    y[:, 0] = f[:, 0] > 0
    y[:, 1] = f[:, 1] > 0.5
    y[:, 3] = 1  # present everywhere: cannot be scored
    value, n = multilabel_mean(logme, f, y)
    assert n == 2
    assert value == pytest.approx((logme(f, y[:, 0]) + logme(f, y[:, 1])) / 2)
    h, _ = multilabel_mean(hscore, f, y, shrinkage=0.0)
    assert h == pytest.approx(
        (hscore(f, y[:, 0], shrinkage=0.0) + hscore(f, y[:, 1], shrinkage=0.0)) / 2
    )
    with pytest.raises(InputError, match="both present and absent"):
        multilabel_mean(logme, f, y[:, 2:])
    with pytest.raises(InputError, match="0/1 matrix"):
        multilabel_mean(logme, f, y[:, 0])


@pytest.mark.parametrize(
    ("targets", "match"),
    [
        (np.array(["a"] * 10), "must be numbers"),
        (np.r_[np.arange(9.0), np.nan], "first at row 9"),
        (np.ones(10), "constant"),
        (np.arange(7.0), "one value"),
    ],
)
def test_numeric_scores_reject_bad_targets(targets, match):
    f = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(InputError, match=match):
        logme_regression(f, targets)
