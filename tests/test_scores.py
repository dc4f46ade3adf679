"""Transferability scores: checked against independent slow references and hand counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from transferkit.errors import InputError
from transferkit.select.scores import (
    SCORES_FROM_FEATURES,
    SCORES_FROM_HEAD,
    hscore,
    knn_accuracy,
    leep,
    logme,
    nce,
    weighted_kendall_tau,
)

# ----------------------------------------------------------------------------- helpers


def _blobs(seed: int, n_per_class: int = 30, d: int = 12, n_classes: int = 3, sep: float = 4.0):
    """Well-separated Gaussian blobs (separable) and pure noise with the same labels."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_classes), n_per_class)
    centres = rng.normal(size=(n_classes, d)) * sep
    good = centres[y] + rng.normal(size=(y.size, d))
    noise = rng.normal(size=(y.size, d))
    return good, noise, y


def _log_evidence_naive(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Textbook log evidence of Bayesian linear regression (Bishop PRML eq. 3.86).

    Explicit inverse and determinant of A = alpha I + beta F^T F; no SVD tricks.
    """
    n, d = f.shape
    a = alpha * np.eye(d) + beta * f.T @ f
    m = beta * np.linalg.inv(a) @ f.T @ y
    _, logdet = np.linalg.slogdet(a)
    e_m = beta / 2 * np.sum((y - f @ m) ** 2) + alpha / 2 * m @ m
    return (
        d / 2 * math.log(alpha)
        + n / 2 * math.log(beta)
        - e_m
        - logdet / 2
        - n / 2 * math.log(2 * math.pi)
    )


def _log_marginal_gaussian(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """Same evidence written as y ~ N(0, I/beta + F F^T / alpha): a second, independent form."""
    n = f.shape[0]
    cov = np.eye(n) / beta + f @ f.T / alpha
    _, logdet = np.linalg.slogdet(cov)
    return -0.5 * (n * math.log(2 * math.pi) + logdet + y @ np.linalg.solve(cov, y))


def _logme_reference(f: np.ndarray, labels: np.ndarray) -> float:
    """Grid search over (log alpha, log beta), then Nelder-Mead polish, per class."""
    grid = np.linspace(-8, 8, 33)
    best_per_class = []
    for c in range(labels.max() + 1):
        y = (labels == c).astype(float)

        def neg(p: np.ndarray, y: np.ndarray = y) -> float:
            return -_log_evidence_naive(f, y, math.exp(p[0]), math.exp(p[1]))

        start = min(((la, lb) for la in grid for lb in grid), key=lambda p: neg(np.array(p)))
        res = optimize.minimize(
            neg, np.array(start), method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10}
        )
        best_per_class.append(-res.fun)
    return float(np.mean(best_per_class) / f.shape[0])


# ------------------------------------------------------------------------------- LogME


def test_two_textbook_evidence_forms_agree() -> None:
    # Guards the reference itself: both closed forms of the evidence must coincide.
    rng = np.random.default_rng(1)
    f, y = rng.normal(size=(15, 4)), rng.normal(size=15)
    for alpha, beta in [(0.3, 2.0), (5.0, 0.1)]:
        assert _log_evidence_naive(f, y, alpha, beta) == pytest.approx(
            _log_marginal_gaussian(f, y, alpha, beta), rel=1e-10
        )


@pytest.mark.parametrize(
    "case",
    ["n_greater_than_d", "n_less_than_d_low_rank", "rank_deficient_tall", "n_less_than_d_full"],
)
def test_logme_matches_bruteforce_evidence_maximisation(case: str) -> None:
    rng = np.random.default_rng(7)
    if case == "n_greater_than_d":
        n, d = 60, 5
        labels = np.arange(n) % 3
        f = rng.normal(size=(n, d)) + 1.5 * np.eye(d)[labels]
    elif case == "n_less_than_d_low_rank":
        # N < D with rank 6 < N: the D - rank zero eigenvalues of F^T F must count as log(alpha).
        n, d = 24, 40
        labels = np.arange(n) % 2
        latent = rng.normal(size=(n, 6)) + np.eye(6)[labels]  # labels stay outside the span
        f = latent @ rng.normal(size=(6, d))
    elif case == "n_less_than_d_full":
        # Full-rank N < D: the evidence peaks on the boundary (noise-free fit or w = 0), which
        # the fixed point approaches only asymptotically; it must still get within 1e-4.
        n, d = 20, 40
        labels = np.arange(n) % 2
        f = rng.normal(size=(n, d))
    else:
        n, d = 50, 8
        labels = np.arange(n) % 4
        base = rng.normal(size=(n, 4)) + np.eye(4)[labels]
        f = np.hstack([base, base])  # duplicated columns: rank 4 < D = 8
    expected = _logme_reference(f, labels)
    got = logme(f, labels)
    assert got == pytest.approx(expected, abs=1e-4 if case == "n_less_than_d_full" else 1e-6)


def test_logme_accepts_float32_and_lists() -> None:
    good, _, y = _blobs(0)
    assert logme(good.astype(np.float32), y) == pytest.approx(logme(good, y), abs=1e-5)
    assert logme(good.tolist(), y.tolist()) == pytest.approx(logme(good, y))


# ------------------------------------------------------------------------------- H-score


def test_hscore_without_shrinkage_matches_explicit_covariance_formula() -> None:
    rng = np.random.default_rng(3)
    y = np.arange(80) % 4
    f = rng.normal(size=(80, 6)) + np.eye(6)[y] * 2.0
    # Bao et al.: tr(cov(f)^-1 cov(g)), g_i = E[f | y = y_i].
    g = np.stack([f[y == c].mean(axis=0) for c in y])
    expected = np.trace(np.linalg.inv(np.cov(f, rowvar=False)) @ np.cov(g, rowvar=False))
    assert hscore(f, y, shrinkage=0.0) == pytest.approx(expected, rel=1e-9)


def test_hscore_fixed_shrinkage_matches_explicit_formula() -> None:
    rng = np.random.default_rng(4)
    y = np.arange(40) % 2
    f = rng.normal(size=(40, 30)) + 0.8 * y[:, None]  # D close to N: shrinkage matters
    a = 0.3
    fc = f - f.mean(axis=0)
    s = fc.T @ fc / len(f)
    cov = (1 - a) * s + a * np.trace(s) / s.shape[0] * np.eye(s.shape[0])
    g = np.stack([fc[y == c].mean(axis=0) for c in y])
    expected = np.trace(np.linalg.inv(cov) @ ((1 - a) * g.T @ g / len(f)))
    assert hscore(f, y, shrinkage=a) == pytest.approx(expected, rel=1e-9)


def test_hscore_auto_uses_ledoit_wolf_shrinkage() -> None:
    from sklearn.covariance import LedoitWolf

    rng = np.random.default_rng(5)
    y = np.arange(50) % 3
    f = rng.normal(size=(50, 20)) + np.eye(20)[y]
    a = LedoitWolf().fit(f).shrinkage_
    assert 0.0 < a < 1.0
    assert hscore(f, y) == pytest.approx(hscore(f, y, shrinkage=a), rel=1e-9)


# ----------------------------------------------------------------------------------- kNN


def test_knn_loo_on_a_line_counted_by_hand() -> None:
    # 1-D points; leave-one-out neighbours counted by hand (euclidean):
    #   x:      0    1    2    10   11   12   5
    #   label:  0    0    0    1    1    1    1
    # k=1: nearest other point. 0->1(0) ok, 1->0 or 2 (tie at 1; lower index 0 wins: label 0) ok,
    #   2->1 ok, 10->11 ok, 11->10 ok, 12->11 ok, 5->2 (dist 3, vs 10 at 5) label 0: wrong. 6/7.
    # k=3: 0->{1,2,5}: 0,0,1 -> 0 ok; 1->{0,2,5}: ok; 2->{1,0,5}: ok; 10->{11,12,5}: ok;
    #   11->{10,12,5}: ok; 12->{11,10,5}: ok; 5->{2,1,10} (dists 3,4,5): 0,0,1 -> 0 wrong. 6/7.
    # k=5: 5->{2,1,10,0,11} (3,4,5,5,6): votes 0:3, 1:2 -> wrong;
    #   0->{1,2,5,10,11}: 0:2, 1:3 -> wrong; 1->{0,2,5,10,11}: 2 vs 3 -> wrong;
    #   2->{1,0,5,10,11}: wrong; 10->{11,12,5,2,1}: 1:3 ok; 11 and 12 likewise ok. 3/7.
    x = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [12.0], [5.0]])
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    assert knn_accuracy(x, y, k=1, metric="euclidean") == pytest.approx(6 / 7)
    assert knn_accuracy(x, y, k=3, metric="euclidean") == pytest.approx(6 / 7)
    assert knn_accuracy(x, y, k=5, metric="euclidean") == pytest.approx(3 / 7)


def test_knn_cosine_ignores_length_and_breaks_vote_ties_by_distance() -> None:
    # Directions: two at ~0 deg (class 0), two at ~90 deg (class 1), one at 40 deg (class 1).
    ang = np.deg2rad([0.0, 5.0, 90.0, 85.0, 40.0])
    x = np.stack([np.cos(ang), np.sin(ang)], axis=1) * np.array([[1.0], [7.0], [0.5], [3.0], [2.0]])
    y = np.array([0, 0, 1, 1, 1])
    # k=1: 0->1 ok, 1->0 ok, 2->3 ok, 3->2 ok, 4 (40 deg)->1 (5 deg, 35 away) label 0: wrong.
    assert knn_accuracy(x, y, k=1) == pytest.approx(4 / 5)
    # k=2, example 4: neighbours 1 (35 deg away) and 0 (40): both class 0 -> wrong.
    #   example 0: neighbours 1 (5) and 4 (40): one vote each; class 0's voter is closer -> ok.
    #   1: {0, 4} ok by distance; 2: {3, 4} ok; 3: {2, 4} ok. 4/5.
    assert knn_accuracy(x, y, k=2) == pytest.approx(4 / 5)


def test_knn_chunking_does_not_change_the_answer() -> None:
    good, noise, y = _blobs(2, n_per_class=40)
    feats = 0.3 * good + noise
    whole = knn_accuracy(feats, y, k=7)
    assert knn_accuracy(feats, y, k=7, chunk_elements=1) == whole  # one row per chunk
    assert knn_accuracy(feats, y, k=7, chunk_elements=500) == whole


# ---------------------------------------------------------------------- LEEP and NCE


def test_leep_hand_computed() -> None:
    theta = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
    y = np.array([0, 0, 1, 1])
    # P(y,z) = mean_i theta_iz [y_i = y]:  y0: (1.7/4, 0.3/4) = (.425, .075);
    #                                      y1: (0.5/4, 1.5/4) = (.125, .375)
    # P(z) = (.55, .45);  P(y0|z) = (17/22, 1/6);  P(y1|z) = (5/22, 5/6)
    eep = [
        0.9 * 17 / 22 + 0.1 * 1 / 6,
        0.8 * 17 / 22 + 0.2 * 1 / 6,
        0.3 * 5 / 22 + 0.7 * 5 / 6,
        0.2 * 5 / 22 + 0.8 * 5 / 6,
    ]
    expected = sum(math.log(e) for e in eep) / 4
    assert leep(theta, y) == pytest.approx(expected, rel=1e-12)


def test_leep_unused_source_class_and_perfect_head() -> None:
    theta = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    # Source class 2 never gets mass; the head separates the targets exactly: LEEP = log 1 = 0.
    assert leep(theta, np.array([0, 0, 1])) == pytest.approx(0.0, abs=1e-12)


def test_nce_hand_computed() -> None:
    z = np.array([3, 3, 3, 7, 7, 7])  # sparse source ids are fine
    y = np.array([0, 0, 1, 1, 1, 1])
    # P(z=3) = 1/2 with P(y|z=3) = (2/3, 1/3); P(z=7) = 1/2 with y always 1 (entropy 0).
    h = 0.5 * -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert nce(z, y) == pytest.approx(-h, rel=1e-12)
    # Extremes: Z determines Y -> 0; Z constant -> -H(Y).
    assert nce(np.array([5, 5, 1, 1]), np.array([1, 1, 0, 0])) == pytest.approx(0.0)
    assert nce(np.zeros(4, dtype=int), np.array([0, 1, 1, 1])) == pytest.approx(
        0.25 * math.log(0.25) + 0.75 * math.log(0.75)
    )


# -------------------------------------------------------------------- properties


@pytest.mark.parametrize("name", sorted(SCORES_FROM_FEATURES))
def test_separable_features_score_higher_than_noise(name: str) -> None:
    score = SCORES_FROM_FEATURES[name]
    for seed in range(3):
        good, noise, y = _blobs(seed)
        assert score(good, y) > score(noise, y)


@pytest.mark.parametrize("name", ["logme", "knn"])
def test_scores_invariant_to_permuting_examples(name: str) -> None:
    score = SCORES_FROM_FEATURES[name]
    good, noise, y = _blobs(11)
    feats = 0.4 * good + noise
    perm = np.random.default_rng(0).permutation(len(y))
    assert score(feats[perm], y[perm]) == pytest.approx(score(feats, y), abs=1e-12)


def test_head_scores_prefer_an_informative_head() -> None:
    rng = np.random.default_rng(9)
    y = np.arange(200) % 2
    informative = np.where(y[:, None] == 0, [0.8, 0.2], [0.2, 0.8])
    informative = 0.7 * informative + 0.3 * rng.dirichlet([1, 1], size=200)
    random_head = rng.dirichlet([1, 1], size=200)
    assert leep(informative, y) > leep(random_head, y)
    assert nce(informative.argmax(1), y) > nce(random_head.argmax(1), y)
    assert set(SCORES_FROM_HEAD) == {"leep", "nce"}


def test_weighted_kendall_tau() -> None:
    acc = np.array([0.91, 0.85, 0.80, 0.70])
    assert weighted_kendall_tau(acc * 2, acc) == pytest.approx(1.0)
    assert weighted_kendall_tau(-acc, acc) == pytest.approx(-1.0)
    # Swapping the top two costs more than swapping the bottom two (hyperbolic weights).
    top_swap = weighted_kendall_tau(np.array([3.0, 4.0, 2.0, 1.0]), acc)
    bottom_swap = weighted_kendall_tau(np.array([4.0, 3.0, 1.0, 2.0]), acc)
    assert -1.0 < top_swap < bottom_swap < 1.0
    with pytest.raises(InputError, match="constant"):
        weighted_kendall_tau(np.ones(4), acc)
    with pytest.raises(InputError, match=r"\(3,\)"):
        weighted_kendall_tau(acc[:3], acc)


# -------------------------------------------------------------------- bad inputs


FEATURE_SCORES = [logme, hscore, knn_accuracy]


@pytest.mark.parametrize("score", FEATURE_SCORES)
def test_feature_scores_reject_bad_inputs(score) -> None:
    good, _, y = _blobs(0, n_per_class=5)
    with pytest.raises(InputError, match="20 entries but there are 15"):
        score(good, np.arange(20) % 3)
    with pytest.raises(InputError, match=r"shape \(15,\)"):
        score(good[:, 0], y)
    with pytest.raises(InputError, match=r"at least 2 classes.*\[0\]"):
        score(good, np.zeros(15, dtype=int))
    nan_feats = good.copy()
    nan_feats[4, 2] = np.nan
    with pytest.raises(InputError, match="row 4"):
        score(nan_feats, y)
    with pytest.raises(InputError, match="float64"):
        score(good, y.astype(float))
    with pytest.raises(InputError, match="negative value -1"):
        score(good, y - 1)
    with pytest.raises(InputError, match=r"class ids \[1\] have no examples"):
        score(good, np.where(y == 1, 2, y))


def test_option_validation_names_the_value() -> None:
    good, _, y = _blobs(0, n_per_class=5)
    with pytest.raises(InputError, match="'oas'"):
        hscore(good, y, shrinkage="oas")
    with pytest.raises(InputError, match="1.5"):
        hscore(good, y, shrinkage=1.5)
    with pytest.raises(InputError, match=r"\[1, 14\].*15"):
        knn_accuracy(good, y, k=15)
    with pytest.raises(InputError, match="'manhattan'"):
        knn_accuracy(good, y, metric="manhattan")


def test_head_scores_reject_bad_inputs() -> None:
    y = np.array([0, 1, 0, 1])
    logits = np.array([[2.0, -1.0], [0.5, 0.3], [1.0, 1.0], [-2.0, 3.0]])
    with pytest.raises(InputError, match="row 2 sums to 2 and the minimum is -2.*softmax"):
        leep(logits, y)
    with pytest.raises(InputError, match="3 entries but there are 4"):
        leep(np.full((4, 2), 0.5), y[:3])
    with pytest.raises(InputError, match="argmax"):
        nce(np.full((4, 2), 0.5), y)
    with pytest.raises(InputError, match=">= 0, got -2"):
        nce(np.array([0, -2, 1, 1]), y)
    with pytest.raises(InputError, match="at least 2 classes"):
        nce(np.array([0, 1, 1, 1]), np.ones(4, dtype=int))
