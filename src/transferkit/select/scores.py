"""Transferability scores: how well a pretrained model should transfer to a labelled task.

Each score is computed from a model's outputs on the target training set, without
fine-tuning, so candidates can be ranked in seconds (``transferkit rank``). Higher is
better for every score. Scores are comparable across models on the *same* data, not
across datasets.

From frozen features ``(N, D)`` (any backbone):

- :func:`logme` — LogME (You et al., ICML 2021)
- :func:`hscore` — H-score (Bao et al., ICIP 2019), regularised (Ibrahim et al. 2022)
- :func:`knn_accuracy` — leave-one-out k-nearest-neighbour accuracy

For a numeric target (regression): :func:`logme_regression` (LogME natively, on the
standardised target) and :func:`knn_regression` (leave-one-out kNN R²). For multi-label
data, :func:`multilabel_mean` averages a per-label binary score over the labels.

From a source classification head (models that have one):

- :func:`leep` — LEEP (Nguyen et al., ICML 2020), from source-class probabilities ``(N, Z)``
- :func:`nce` — NCE (Tran et al., ICCV 2019), from hard source predictions ``(N,)``

:func:`weighted_kendall_tau` measures how well a score ranks models against their
fine-tuned accuracy (the benchmark metric used by TLlib and the LogME paper).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> good = rng.normal(size=(100, 8)) + 3.0 * y[:, None]
    >>> noise = rng.normal(size=(100, 8))
    >>> bool(logme(good, y) > logme(noise, y))
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from transferkit.errors import InputError

__all__ = [
    "SCORES_FROM_FEATURES",
    "SCORES_FROM_HEAD",
    "hscore",
    "knn_accuracy",
    "knn_regression",
    "leep",
    "logme",
    "logme_regression",
    "multilabel_mean",
    "nce",
    "weighted_kendall_tau",
]

_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny


# --------------------------------------------------------------------------- validation


def _check_labels(
    labels: Any, n: int | None = None, *, name: str = "labels"
) -> tuple[np.ndarray, int]:
    """Return ``(labels as int64 (N,), number of classes C)``; every class 0..C-1 must occur."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise InputError(
            f"{name} must be a 1-D array of class ids, got shape {y.shape}. "
            "Pass one integer per example, e.g. labels.ravel()."
        )
    if n is not None and y.shape[0] != n:
        raise InputError(
            f"{name} has {y.shape[0]} entries but there are {n} examples; "
            "pass exactly one label per row of the features."
        )
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise InputError(
            f"{name} must be integers 0..C-1, got dtype {y.dtype}. Map classes to ids first, "
            f"e.g. ids = np.unique({name}, return_inverse=True)[1]."
        )
    if y.size and y.min() < 0:
        raise InputError(
            f"{name} must be integers 0..C-1, got negative value {int(y.min())}. "
            f"Re-encode with np.unique({name}, return_inverse=True)[1]."
        )
    present = np.unique(y)
    if present.size < 2:
        raise InputError(
            f"{name} must contain at least 2 classes to score transferability, got "
            f"{present.size} ({present.tolist()}). Add examples of another class."
        )
    n_classes = int(present[-1]) + 1
    if present.size != n_classes:
        missing = sorted(set(range(n_classes)) - set(present.tolist()))
        raise InputError(
            f"{name} must use every class id 0..{n_classes - 1}, but class ids {missing[:10]} have "
            f"no examples. Re-encode with np.unique({name}, return_inverse=True)[1]."
        )
    return y.astype(np.int64, copy=False), n_classes


def _check_features(features: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, int]:
    """Return ``(features float64 (N, D), labels int64 (N,), C)`` or raise InputError."""
    f = _check_matrix(features)
    y, n_classes = _check_labels(labels, f.shape[0])
    return f, y, n_classes


def _check_matrix(features: Any) -> np.ndarray:
    """Features as a finite float64 (N, D) matrix, N >= 2, or InputError."""
    f = np.asarray(features)
    if f.ndim != 2:
        raise InputError(
            f"features must be a 2-D array (examples, dims), got shape {f.shape}. "
            "Flatten or pool each example's features into one vector."
        )
    if not (np.issubdtype(f.dtype, np.floating) or np.issubdtype(f.dtype, np.integer)):
        raise InputError(f"features must be numeric, got dtype {f.dtype}.")
    if f.shape[0] < 2 or f.shape[1] < 1:
        raise InputError(f"features need at least 2 examples and 1 dim, got shape {f.shape}.")
    f = f.astype(np.float64, copy=False)
    finite = np.isfinite(f)
    if not finite.all():
        bad_rows = np.flatnonzero(~finite.all(axis=1))
        raise InputError(
            f"features contain NaN or inf in {bad_rows.size} rows (first: row {int(bad_rows[0])}, "
            f"value {f[bad_rows[0]][~finite[bad_rows[0]]][0]}). Drop or fix those examples; "
            "NaN features usually mean an overflow in the backbone (try float32 instead of fp16)."
        )
    return f


def _one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """(N,) int -> (N, C) float64 indicator matrix."""
    out = np.zeros((y.shape[0], n_classes), dtype=np.float64)
    out[np.arange(y.shape[0]), y] = 1.0
    return out


# --------------------------------------------------------------------------------- LogME


def logme(features: np.ndarray, labels: np.ndarray) -> float:
    """LogME: mean per-class log marginal evidence of a Bayesian linear model, divided by N.

    You, Liu, Wang, Long. "LogME: Practical Assessment of Pre-trained Models for Transfer
    Learning", ICML 2021. For each class c the indicator vector ``y_c = [labels == c]``
    is modelled as ``y_c = F w + noise`` with prior ``w ~ N(0, I/alpha)`` and noise
    ``N(0, I/beta)``; ``alpha, beta`` maximise the evidence ``log p(y_c | F, alpha, beta)``
    via MacKay's fixed-point iteration, computed from the eigen-spectrum of ``F`` so
    each iteration is O(min(N, D)) per class. The score is
    ``mean_c(max_evidence_c) / N`` (higher is better; typically a small negative number).

    Features are used as given (no centring or bias term), as in the paper. Unlike the
    reference code's fixed-point variant, ``log|A|`` counts all D eigenvalues of
    ``A = alpha I + beta F^T F`` (the D - rank(F) zero ones contribute ``log alpha``),
    which matters when N < D (thuml/LogME issue #23). When F has full row rank the
    evidence can peak on the boundary (a noise-free fit, beta -> inf); the iteration then
    stops within ~1e-5 of that supremum.

    Args:
        features: ``(N, D)`` real features, one row per example.
        labels: ``(N,)`` integer class ids 0..C-1, C >= 2, every class present.

    Returns:
        The LogME score as a Python float.

    Raises:
        InputError: bad shapes, non-finite features, or labels not 0..C-1.
    """
    f, y, n_classes = _check_features(features, labels)
    return float(_logme_evidence(f, _one_hot(y, n_classes)).mean())


def _logme_evidence(f: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Maximised log evidence / N of ``targets[:, c] = F w + noise`` for each column c:
    `f` (N, D) float64 features, `targets` (N, C) float64. Returns (C,)."""
    n, d = f.shape
    n_classes = targets.shape[1]

    # Spectrum of F = U S V^T restricted to its rank k: sigma = s^2 (k,), x = U^T Y (k, C).
    if n <= d:
        u, s, _ = np.linalg.svd(f, full_matrices=False)  # u (N, N), s (N,)
        keep = s > s[0] * max(n, d) * _EPS if s[0] > 0 else np.zeros_like(s, dtype=bool)
        sigma = s[keep] ** 2
        x = u[:, keep].T @ targets
    else:
        # N > D: eigen-decompose the small (D, D) Gram matrix instead of an (N, D) SVD.
        gram = f.T @ f
        evals, evecs = np.linalg.eigh(gram)  # ascending
        top = evals[-1]
        keep = evals > top * d * _EPS * 10 if top > 0 else np.zeros_like(evals, dtype=bool)
        sigma = evals[keep]
        # U^T Y = S^-1 V^T F^T Y, without forming U (N, k).
        x = (evecs[:, keep].T @ (f.T @ targets)) / np.sqrt(sigma)[:, None]
    k = sigma.shape[0]
    x2 = x**2  # (k, C)
    # Energy of y outside the column space of F (the zero singular values).
    y_norm2 = (targets**2).sum(axis=0)  # ||y_c||^2, (C,)
    outside = np.maximum(y_norm2 - x2.sum(axis=0), 0.0)  # (C,)

    sig = sigma[:, None]  # (k, 1) broadcasts over classes
    alpha = np.ones(n_classes)
    beta = np.ones(n_classes)
    fp_eps = 1e-10  # keeps the updates finite when a class is fit perfectly

    def posterior_terms(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, ...]:
        t = a / b  # (C,)
        denom = sig + t  # (k, C)
        gamma = (sig / denom).sum(axis=0)  # effective number of parameters
        m2 = (sig * x2 / denom**2).sum(axis=0)  # ||m||^2, m the posterior mean
        res2 = (x2 * (t / denom) ** 2).sum(axis=0) + outside  # ||y - F m||^2
        return gamma, m2, res2

    for _ in range(200):
        gamma, m2, res2 = posterior_terms(alpha, beta)
        new_alpha = np.maximum(gamma / (m2 + fp_eps), _TINY)
        new_beta = np.maximum((n - gamma) / (res2 + fp_eps), _TINY)
        old_t, new_t = alpha / beta, new_alpha / new_beta
        alpha, beta = new_alpha, new_beta
        if np.all(np.abs(new_t - old_t) <= 1e-9 * old_t):
            break

    _, m2, res2 = posterior_terms(alpha, beta)
    log_det_a = np.log(alpha + beta * sig).sum(axis=0) + (d - k) * np.log(alpha)
    evidence = (
        0.5 * d * np.log(alpha)
        + 0.5 * n * np.log(beta)
        - 0.5 * log_det_a
        - 0.5 * beta * res2
        - 0.5 * alpha * m2
        - 0.5 * n * np.log(2.0 * np.pi)
    )  # (C,)
    return evidence / n


# ------------------------------------------------------------------------------- H-score


def hscore(features: np.ndarray, labels: np.ndarray, *, shrinkage: str | float = "auto") -> float:
    """H-score ``tr(cov(f)^+ cov(E[f | y]))`` with a shrinkage estimate of ``cov(f)``.

    Bao, Li, Huang, Tong, Zhang. "An Information-Theoretic Approach to Transferability in
    Task Transfer Learning", ICIP 2019 (the H-score). Regularised as in Ibrahim, Ponomareva,
    Mazumder. "Newer is not always better: Rethinking transferability metrics, their
    peculiarities, stability and performance", 2022: ``cov(f)`` is replaced by the
    shrinkage estimate ``(1 - a) S + a (tr(S)/D) I`` and ``cov(E[f|y])`` by
    ``(1 - a) cov(E[f|y])`` (as in TLlib's ``regularized_h_score``), which keeps the
    score stable when D is large relative to N.

    Both covariances are the biased (1/N) estimates, so the plain score
    (``shrinkage=0``) equals the textbook ratio with any consistent normalisation.

    Args:
        features: ``(N, D)`` real features.
        labels: ``(N,)`` integer class ids 0..C-1, C >= 2, every class present.
        shrinkage: ``"auto"`` (Ledoit-Wolf, via scikit-learn), or a fixed ``a`` in
            [0, 1]; 0 gives the original unregularised H-score (pseudo-inverse).

    Returns:
        The H-score (>= 0; at most C - 1 without shrinkage). Higher is better.
    """
    f, y, n_classes = _check_features(features, labels)
    n, d = f.shape
    f = f - f.mean(axis=0, keepdims=True)  # centred: Ledoit-Wolf and the covariances need it
    if isinstance(shrinkage, str):
        if shrinkage != "auto":
            raise InputError(f"shrinkage must be 'auto' or a number in [0, 1], got {shrinkage!r}.")
        from sklearn.covariance import ledoit_wolf_shrinkage

        a = float(ledoit_wolf_shrinkage(f, assume_centered=True))
    else:
        a = float(shrinkage)
        if not 0.0 <= a <= 1.0:
            raise InputError(f"shrinkage must be 'auto' or a number in [0, 1], got {shrinkage!r}.")
    if a >= 1.0:
        return 0.0  # the covariance is all prior: no class signal survives (1 - a = 0)

    cov = f.T @ f / n  # (D, D), biased
    mu = np.trace(cov) / d
    cov = (1.0 - a) * cov
    cov[np.diag_indices(d)] += a * mu

    counts = np.bincount(y, minlength=n_classes).astype(np.float64)  # (C,)
    class_means = _one_hot(y, n_classes).T @ f / counts[:, None]  # (C, D); global mean is 0
    evals, evecs = np.linalg.eigh(cov)
    keep = evals > max(evals[-1], 0.0) * max(n, d) * _EPS * 10  # pseudo-inverse cut-off
    proj = class_means @ evecs[:, keep]  # (C, k)
    # tr(cov^+ cov_g) with cov_g = sum_c p_c m_c m_c^T  =  sum_c p_c m_c^T cov^+ m_c.
    quad = (proj**2 / evals[keep]).sum(axis=1)  # (C,)
    return float((1.0 - a) * (counts / n) @ quad)


# ----------------------------------------------------------------------------------- kNN


def knn_accuracy(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    k: int = 5,
    metric: str = "cosine",
    chunk_elements: int = 4_000_000,
) -> float:
    """Leave-one-out k-nearest-neighbour accuracy of the features (each example excluded).

    For each example, its k nearest *other* examples vote with equal weight. Ties are
    broken deterministically: among neighbours at the k-th distance, lower row indices
    win; among classes with equal votes, the class whose voters have the smaller summed
    distance wins, then the smaller class id. Pairwise distances are computed in
    row chunks of about ``chunk_elements`` floats, so N = 10k needs ~32 MB per chunk.

    Args:
        features: ``(N, D)`` real features.
        labels: ``(N,)`` integer class ids 0..C-1, C >= 2, every class present.
        k: neighbours per vote, 1 <= k <= N - 1.
        metric: ``"cosine"`` (1 - cosine similarity; all-zero rows are at distance 1
            from everything) or ``"euclidean"``.
        chunk_elements: memory knob: rows per chunk = max(1, chunk_elements // N).

    Returns:
        Fraction of examples whose vote equals their label, in [0, 1].
    """
    f, y, n_classes = _check_features(features, labels)
    n = f.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n - 1:
        raise InputError(
            f"k must be an integer in [1, N - 1] = [1, {n - 1}] for leave-one-out kNN, got {k!r}."
        )
    k = int(k)
    if metric == "cosine":
        norms = np.linalg.norm(f, axis=1, keepdims=True)
        f = f / np.where(norms > 0, norms, 1.0)
        sq = None
    elif metric == "euclidean":
        sq = (f**2).sum(axis=1)  # (N,)
    else:
        raise InputError(f"metric must be 'cosine' or 'euclidean', got {metric!r}.")

    onehot = _one_hot(y, n_classes)  # (N, C)
    rows = max(1, int(chunk_elements) // n)
    correct = 0
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        idx = np.arange(start, stop)
        block = f[start:stop] @ f.T  # (B, N)
        if sq is None:
            dist = 1.0 - block
        else:
            dist = np.maximum(sq[start:stop, None] + sq[None, :] - 2.0 * block, 0.0)
        dist[idx - start, idx] = np.inf  # leave the example itself out
        kth = np.partition(dist, k - 1, axis=1)[:, k - 1 : k]  # (B, 1) k-th smallest distance
        closer = dist < kth
        # Fill the remaining slots with the lowest-index neighbours at exactly the k-th distance.
        tied = dist == kth
        slots = k - closer.sum(axis=1, keepdims=True)
        chosen = closer | (tied & (np.cumsum(tied, axis=1) <= slots))  # (B, N), k True per row
        votes = chosen.astype(np.float64) @ onehot  # (B, C)
        dist_sum = np.where(chosen, dist, 0.0) @ onehot  # (B, C) tie-breaker
        best = votes.max(axis=1, keepdims=True)
        dist_sum = np.where(votes == best, dist_sum, np.inf)
        pred = np.argmin(dist_sum, axis=1)  # argmin returns the smallest class id on ties
        correct += int((pred == y[start:stop]).sum())
    return correct / n


# ------------------------------------------------------------ regression and multi-label


def _check_numeric_targets(features: Any, targets: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(features float64 (N, D), targets float64 (N, K))`` for numeric targets; each
    column must be finite and vary (a constant target carries nothing to score)."""
    f = _check_matrix(features)
    n = f.shape[0]
    t = np.asarray(targets)
    if t.dtype == object or not (
        np.issubdtype(t.dtype, np.floating) or np.issubdtype(t.dtype, np.integer)
    ):
        raise InputError(
            f"targets must be numbers, got dtype {t.dtype}; convert them first "
            "(e.g. pandas.to_numeric)."
        )
    t = t.astype(np.float64).reshape(len(t), -1) if t.ndim in (1, 2) else t
    if t.ndim != 2 or t.shape[0] != n:
        raise InputError(
            f"targets must hold one value (or row) per example: got shape "
            f"{np.asarray(targets).shape} for {n} examples."
        )
    if not np.isfinite(t).all():
        row = int(np.flatnonzero(~np.isfinite(t).all(axis=1))[0])
        raise InputError(f"targets contain NaN or inf (first at row {row}); drop those rows.")
    if (np.ptp(t, axis=0) == 0).any():
        raise InputError("a target is constant over the examples; it cannot rank features.")
    return f, t


def logme_regression(features: np.ndarray, targets: np.ndarray) -> float:
    """LogME for a numeric target, natively: the evidence of the Bayesian linear model of
    `logme` with the (standardised) target itself as ``y`` (LogME is a regression evidence
    at heart; classification only feeds it one-hot columns). Targets are z-scored per
    column, so the score does not depend on the target's units and, with features used
    as given (no bias, as in the paper), does not reward modelling its mean.

    Args:
        features: ``(N, D)`` real features.
        targets: ``(N,)`` or ``(N, K)`` real targets (K columns: the mean over them).

    Returns:
        The mean log evidence per example (higher is better).
    """
    f, t = _check_numeric_targets(features, targets)
    z = (t - t.mean(axis=0)) / t.std(axis=0)
    return float(_logme_evidence(f, z).mean())


def knn_regression(
    features: np.ndarray,
    targets: np.ndarray,
    *,
    k: int = 5,
    chunk_elements: int = 4_000_000,
) -> float:
    """R² of leave-one-out k-nearest-neighbour regression (cosine distance): each example
    is predicted by the mean target of its k nearest *other* examples; the score is
    ``1 - SSE / SST`` over all examples (1 is perfect, 0 is predicting the mean, it can
    be negative). The regression counterpart of `knn_accuracy`.

    Args:
        features: ``(N, D)`` real features; targets: ``(N,)`` real targets.
        k: neighbours per prediction, 1 <= k <= N - 1.
    """
    f, t = _check_numeric_targets(features, targets)
    if t.shape[1] != 1:
        raise InputError(f"knn_regression takes one target column, got {t.shape[1]}.")
    y = t[:, 0]
    n = f.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= n - 1:
        raise InputError(f"k must be an integer in [1, N - 1] = [1, {n - 1}], got {k!r}.")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    f = f / np.where(norms > 0, norms, 1.0)
    pred = np.empty(n)
    rows = max(1, int(chunk_elements) // n)
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        dist = 1.0 - f[start:stop] @ f.T  # (B, N)
        dist[np.arange(stop - start), np.arange(start, stop)] = np.inf  # leave itself out
        nearest = np.argpartition(dist, k - 1, axis=1)[:, :k]  # (B, k)
        pred[start:stop] = y[nearest].mean(axis=1)
    return float(1.0 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def multilabel_mean(
    score: Callable[..., float], features: np.ndarray, targets: np.ndarray, **kwargs: Any
) -> tuple[float, int]:
    """Mean over labels of a per-label *binary* score: ``score(features, targets[:, j])``
    for each label j (class ids 0 = absent, 1 = present), e.g. `logme`, `hscore`,
    `knn_accuracy`. A label that is present in every example or in none cannot be scored
    (a binary score needs both classes) and is left out.

    Args:
        score: a function ``(features, labels (N,) int) -> float``.
        features: ``(N, D)`` real features.
        targets: ``(N, L)`` 0/1 label indicators, columns = labels.

    Returns:
        ``(mean score, number of labels scored)``.
    """
    y = np.asarray(targets)
    if y.ndim != 2 or not np.isin(y, (0, 1)).all():
        raise InputError(
            f"multi-label targets must be a 0/1 matrix (examples, labels), got shape {y.shape}."
        )
    y = y.astype(np.int64)
    counts = y.sum(axis=0)
    usable = np.flatnonzero((counts > 0) & (counts < y.shape[0]))
    if usable.size == 0:
        raise InputError(
            "no label is both present and absent in these examples; a per-label score needs "
            "both. Score more examples or check the label column."
        )
    values = [score(features, y[:, j], **kwargs) for j in usable]
    return float(np.mean(values)), int(usable.size)


# ---------------------------------------------------------------------- source-head scores


def leep(source_probs: np.ndarray, labels: np.ndarray) -> float:
    """LEEP: log expected empirical prediction of the source head, re-mapped to the target.

    Nguyen, Hassner, Seeger, Archambeau. "LEEP: A New Measure to Evaluate Transferability
    of Learned Representations", ICML 2020. With ``theta_i`` the source-class
    probabilities of example i: ``P(y, z) = mean_i theta_iz [y_i = y]``,
    ``P(y | z) = P(y, z) / P(z)``, and
    ``LEEP = mean_i log sum_z P(y_i | z) theta_iz`` (<= 0; higher is better).

    Args:
        source_probs: ``(N, Z)`` softmax outputs of the source head (rows sum to 1 within
            1e-3; they are renormalised exactly). Logits are rejected.
        labels: ``(N,)`` integer target class ids 0..C-1, C >= 2, every class present.
    """
    p = np.asarray(source_probs)
    if p.ndim != 2 or p.shape[1] < 1:
        raise InputError(
            f"source_probs must be a 2-D array (examples, source classes), got shape {p.shape}."
        )
    if not np.issubdtype(p.dtype, np.floating):
        raise InputError(f"source_probs must be float probabilities, got dtype {p.dtype}.")
    p = p.astype(np.float64, copy=False)
    if not np.isfinite(p).all():
        raise InputError("source_probs contain NaN or inf; check the source head's outputs.")
    row_sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(row_sums - 1.0)))
    if p.min() < 0 or abs(row_sums[worst] - 1.0) > 1e-3:
        raise InputError(
            f"source_probs must be probabilities (>= 0, rows summing to 1); row {worst} sums to "
            f"{row_sums[worst]:.6g} and the minimum is {p.min():.6g}. If these are logits, "
            "apply a softmax over the source classes first."
        )
    y, n_classes = _check_labels(labels, p.shape[0])
    n = p.shape[0]
    p = p / row_sums[:, None]
    joint = _one_hot(y, n_classes).T @ p / n  # (C, Z): P(y, z)
    marginal = joint.sum(axis=0, keepdims=True)  # (1, Z): P(z)
    # A source class no example puts mass on gets P(y|z) = 0; it never contributes anyway.
    cond = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)  # P(y|z)
    eep = np.einsum("nz,nz->n", p, cond[y])  # (N,): sum_z theta_iz P(y_i | z)
    return float(np.mean(np.log(np.maximum(eep, _TINY))))


def nce(source_labels: np.ndarray, labels: np.ndarray) -> float:
    """NCE: negative conditional entropy ``-H(Y | Z)`` of target labels given source labels.

    Tran, Nguyen, Hassner. "Transferability and Hardness of Supervised Classification
    Tasks", ICCV 2019. ``Z`` is the source head's hard prediction (argmax) for each
    example; ``-H(Y|Z) = sum_{y,z} P(y,z) log P(y|z)`` from empirical counts (natural
    log). Ranges from ``-H(Y)`` (Z tells nothing) to 0 (Z determines Y); higher is better.

    Args:
        source_labels: ``(N,)`` non-negative integer source-class predictions (any ids;
            they need not be contiguous).
        labels: ``(N,)`` integer target class ids 0..C-1, C >= 2, every class present.
    """
    z = np.asarray(source_labels)
    if z.ndim != 1:
        raise InputError(
            f"source_labels must be a 1-D array of predicted source classes, got shape {z.shape}. "
            "If you have probabilities, pass probs.argmax(axis=1)."
        )
    if z.dtype == np.bool_ or not np.issubdtype(z.dtype, np.integer):
        raise InputError(
            f"source_labels must be integer class ids, got dtype {z.dtype}; "
            "pass probs.argmax(axis=1)."
        )
    if z.size and z.min() < 0:
        raise InputError(f"source_labels must be >= 0, got {int(z.min())}.")
    y, n_classes = _check_labels(labels, z.shape[0])
    n = z.shape[0]
    _, z_ids = np.unique(z, return_inverse=True)  # compact ids: Z may be 1000 classes, sparse
    counts = np.zeros((n_classes, int(z_ids.max()) + 1))
    np.add.at(counts, (y, z_ids), 1.0)  # (C, Z') joint counts
    z_counts = counts.sum(axis=0, keepdims=True)  # (1, Z'), all > 0
    nz = counts > 0
    # sum_{y,z} P(y,z) log P(y|z), skipping empty cells (0 log 0 = 0).
    terms = np.where(nz, counts * np.log(np.where(nz, counts, 1.0) / z_counts), 0.0)
    return float(terms.sum() / n)


# ------------------------------------------------------------------------- benchmarking


def weighted_kendall_tau(x: np.ndarray, y: np.ndarray) -> float:
    """Weighted Kendall tau between two score lists (e.g. a transferability score and
    fine-tuned accuracy over candidate models), with hyperbolic weights ``1/(r+1)`` on rank r
    so that agreement among the top models counts most.

    Vigna, "A weighted correlation index for rankings with ties", WWW 2015; this is
    ``scipy.stats.weightedtau`` with its defaults, the metric TLlib and the LogME paper
    report. In [-1, 1]; 1 means identical order.
    """
    from scipy import stats

    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size < 2:
        raise InputError(
            f"x and y must be 1-D with the same length >= 2, got shapes {a.shape} and {b.shape}."
        )
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise InputError("x and y must be finite; drop models whose score is NaN or inf.")
    for name, v in (("x", a), ("y", b)):
        if np.all(v == v[0]):
            raise InputError(
                f"{name} is constant ({v[0]!r} for all {v.size} entries): a rank correlation "
                "is undefined. Compare scores that differ across models."
            )
    return float(stats.weightedtau(a, b).statistic)


SCORES_FROM_FEATURES: dict[str, Callable[..., float]] = {
    "logme": logme,
    "hscore": hscore,
    "knn": knn_accuracy,
}
SCORES_FROM_HEAD: dict[str, Callable[..., float]] = {"leep": leep, "nce": nce}
