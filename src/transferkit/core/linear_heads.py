"""Linear heads fitted on frozen (or contrastively tuned) features, for multi-label and
regression problems — the probe's head for the kinds `strategies.fit_logistic` (softmax,
single-label) does not cover — and per-label threshold tuning.

- multi-label: one L2-regularised logistic regression per label (scikit-learn), C shared
  by all labels and chosen on a seeded 20 % hold-out of train by mean log-loss (a proper,
  threshold-free score); a label that is always or never present gets a constant logit.
- regression: ridge regression on the standardised target, alpha by efficient
  leave-one-out (scikit-learn's RidgeCV).
- thresholds: per label, the probability in THRESHOLD_GRID that maximises F1 on the
  validation data, shrunk towards the one threshold that maximises micro-F1 over all
  labels by the label's weight of evidence: n / (n + THRESHOLD_PRIOR) for n positives
  there. A label's own F1-optimal threshold on a few dozen positives is noisy: on debtags
  (20 labels, 12-69 positives each in a 379-row validation split) the raw per-label
  thresholds scored 1.7 micro-F1 points *below* a single 0.5 on the test split, the shrunk
  ones 0.1 above it (benchmarks/results/multitask_thresholds.md). A label without a
  positive gets the shared threshold.

>>> import numpy as np
>>> p = np.array([[0.9, 0.7], [0.3, 0.6], [0.2, 0.8], [0.6, 0.1]])
>>> y = np.array([[1, 1], [1, 0], [0, 1], [0, 0]])
>>> tune_thresholds(p, y, prior=0)  # each label's own F1-optimal threshold
(0.3, 0.65)
>>> tune_thresholds(p, y, prior=2)  # 2 positives each: halfway to the shared 0.65
(0.475, 0.65)
"""

from __future__ import annotations

import numpy as np

THRESHOLD_GRID = tuple(round(t, 2) for t in np.arange(0.05, 0.951, 0.05))
# Positives a label needs on the validation data before its own F1-optimal threshold
# weighs as much as the threshold shared by all labels (see the module docstring).
THRESHOLD_PRIOR = 50.0
_C_GRID = (0.1, 1.0, 10.0)
_CONSTANT_LOGIT = 8.0  # sigmoid(±8) = 0.9997 / 0.0003: a label always / never seen


def _logistic(c: float, balanced: bool) -> object:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, class_weight="balanced" if balanced else None)


def _fit_labels(
    x: np.ndarray, y: np.ndarray, c: float, balanced: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(weight (labels, d), bias (labels,)): one logistic regression per label column."""
    d, k = x.shape[1], y.shape[1]
    w = np.zeros((k, d), dtype=np.float32)
    b = np.zeros(k, dtype=np.float32)
    for j in range(k):
        col = y[:, j]
        if col.min() == col.max():  # one class only: a constant, confident logit
            b[j] = _CONSTANT_LOGIT if col[0] > 0 else -_CONSTANT_LOGIT
            continue
        lr = _logistic(c, balanced).fit(x, col)  # type: ignore[attr-defined]
        w[j], b[j] = lr.coef_[0], lr.intercept_[0]
    return w, b


def _mean_log_loss(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray) -> float:
    z = x @ w.T + b
    # log(1 + e^-z) for positives, log(1 + e^z) for negatives, numerically stable
    return float(np.mean(np.logaddexp(0.0, np.where(y > 0.5, -z, z))))


def fit_multilabel_logistic(
    features: np.ndarray, y: np.ndarray, seed: int = 0, class_weight: str | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """(weight (labels, d), bias (labels,), C) of per-label logistic regressions on a 0/1
    matrix `y` (n, labels); logits → sigmoid gives each label's probability."""
    balanced = class_weight == "balanced"
    best_c = 1.0
    if len(y) >= 20:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(y))
        cut = max(1, len(y) // 5)
        held, kept = order[:cut], order[cut:]
        losses = []
        for c in _C_GRID:
            w, b = _fit_labels(features[kept], y[kept], c, balanced)
            losses.append(_mean_log_loss(features[held], y[held], w, b))
        best_c = _C_GRID[int(np.argmin(losses))]
    w, b = _fit_labels(features, y, best_c, balanced)
    return w, b, float(best_c)


def fit_ridge(features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(weight (1, d), bias (1,), alpha) of a ridge regression of `y` (n,) on the
    features, alpha by leave-one-out over 10^-2 … 10^3."""
    from sklearn.linear_model import RidgeCV

    r = RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(features, y)
    w = np.asarray(r.coef_, dtype=np.float32).reshape(1, -1)
    b = np.asarray([r.intercept_], dtype=np.float32)
    return w, b, float(r.alpha_)


def tune_thresholds(
    probs: np.ndarray, y: np.ndarray, prior: float | None = None
) -> tuple[float, ...]:
    """Per label, a threshold for `probs` (n, labels) against the 0/1 matrix `y`: the
    label's F1-optimal threshold in THRESHOLD_GRID (ties nearest 0.5) and the shared
    micro-F1-optimal one, weighted n / (n + prior) and the rest for n positive examples
    of the label (`prior`: THRESHOLD_PRIOR when None; 0 gives the raw per-label ones)."""
    grid = np.asarray(THRESHOLD_GRID)
    prior = THRESHOLD_PRIOR if prior is None else float(prior)
    truth = y > 0.5
    n_pos = truth.sum(0)
    tp = np.zeros((y.shape[1], len(grid)))
    n_pred = np.zeros((y.shape[1], len(grid)))
    for j in range(y.shape[1]):  # one label at a time: (n, thresholds), not (n, labels, ...)
        pred = probs[:, j][:, None] >= grid[None, :]
        tp[j], n_pred[j] = (pred & truth[:, j][:, None]).sum(0), pred.sum(0)
    shared = _nearest_half(grid, 2 * tp.sum(0), n_pred.sum(0) + n_pos.sum())
    out: list[float] = []
    for j in range(y.shape[1]):
        n = int(n_pos[j])
        if n == 0:
            out.append(shared)
            continue
        own = _nearest_half(grid, 2 * tp[j], n_pred[j] + n)
        w = n / (n + prior)
        out.append(round(float(w * own + (1 - w) * shared), 3))
    return tuple(out)


def _nearest_half(grid: np.ndarray, num: np.ndarray, den: np.ndarray) -> float:
    """The grid value of the best F1 = num / den (0 where den is 0: nothing predicted and
    nothing to find), ties going to the one nearest 0.5; 0.5 when no F1 is above 0."""
    f1 = np.divide(num, den, out=np.zeros(len(grid)), where=den > 0)
    if f1.max() <= 0:
        return 0.5
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])
