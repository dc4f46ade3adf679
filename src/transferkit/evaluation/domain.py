"""Domain-gap checks: the proxy A-distance between two feature sets, and a zero-shot summary.

The proxy A-distance (PAD) comes from Ben-David, Blitzer, Crammer and Pereira,
"Analysis of representations for domain adaptation" (NIPS 2007) and Ben-David et al.,
"A theory of learning from different domains" (Machine Learning, 2010): train a
classifier to tell source examples from target examples; with its held-out error
ε, ``PAD = 2 (1 - 2 ε)``. Domains a linear classifier cannot separate (ε ≈ 0.5) give
PAD ≈ 0; perfectly separable domains (ε = 0) give PAD = 2. The target error of a
source-trained classifier is bounded by its source error plus a term that grows with
this distance, which is why a large PAD warns that a source head will not work as is.

Example:
    >>> import numpy as np
    >>> from transferkit.evaluation.domain import proxy_a_distance
    >>> rng = np.random.default_rng(0)
    >>> r = proxy_a_distance(rng.normal(size=(200, 8)), rng.normal(5, 1, size=(200, 8)))
    >>> r["a_distance"] > 1.9
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.errors import DataError, InputError

# Thresholds of `interpret_a_distance`. They are rules of thumb, not from the papers:
# PAD 0.5 means the domain classifier is right 62.5% of the time (ε = 0.375), and
# PAD 1.5 means 87.5% (ε = 0.125).
SMALL_GAP = 0.5
LARGE_GAP = 1.5


def _features(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(
            f"{name} must be a 2-D array (examples, features); got shape {arr.shape}. "
            "Pass one feature vector per example, e.g. embeddings from the backbone."
        )
    if not np.isfinite(arr).all():
        raise InputError(f"{name} contains NaN or infinite values; check the feature extractor.")
    return arr


def proxy_a_distance(
    source_features: Any,
    target_features: Any,
    *,
    seed: int = 0,
    folds: int = 5,
    max_per_domain: int = 2000,
    C: float = 1.0,
) -> dict[str, Any]:
    """Proxy A-distance between source and target features (Ben-David et al. 2007, 2010).

    Both domains are subsampled to the same size ``m = min(n_source, n_target,
    max_per_domain)`` so that chance accuracy is exactly 0.5. A linear domain
    classifier (standardised features, L2 logistic regression with strength `C`) is
    scored by stratified `folds`-fold cross-validation; ε = 1 - held-out accuracy and
    ``PAD = 2 (1 - 2 ε)``, clipped to [0, 2] (a classifier below chance means "no gap").

    Args:
        source_features: (n_source, d) array, e.g. embeddings of the source data.
        target_features: (n_target, d) array with the same d.
        seed: seed of the subsample and of the fold split.
        folds: number of cross-validation folds.
        max_per_domain: cap on m, to bound the cost on large sets.
        C: inverse regularisation strength of the domain classifier.

    Returns:
        ``{"a_distance", "domain_classifier_accuracy", "n_source", "n_target",
        "n_used_per_domain", "folds"}``; ``n_source``/``n_target`` are the sizes given.

    Raises:
        InputError: arrays not 2-D, non-finite, or of different feature sizes.
        DataError: fewer than `folds` examples (at least 2) in a domain.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit.evaluation.baselines import one_thread

    src = _features(source_features, "source_features")
    tgt = _features(target_features, "target_features")
    if src.shape[1] != tgt.shape[1]:
        raise InputError(
            f"source_features have {src.shape[1]} features but target_features have "
            f"{tgt.shape[1]}; extract both with the same backbone."
        )
    if folds < 2:
        raise InputError(f"folds={folds!r} must be at least 2.")
    m = min(len(src), len(tgt), max_per_domain)
    if m < folds:
        raise DataError(
            f"proxy_a_distance needs at least {folds} examples per domain for {folds}-fold "
            f"cross-validation; got {len(src)} source and {len(tgt)} target. "
            "Add examples or pass a smaller folds."
        )
    rng = np.random.default_rng(seed)
    # (2m, d): m source rows then m target rows; label 0 = source, 1 = target.
    X = np.vstack(
        [src[rng.choice(len(src), m, replace=False)], tgt[rng.choice(len(tgt), m, replace=False)]]
    )
    y = np.repeat([0, 1], m)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    with one_thread():  # small dense problem: thread pools only contend (see baselines)
        accuracy = float(cross_val_score(clf, X, y, cv=cv, scoring="accuracy").mean())
    error = 1.0 - accuracy
    return {
        "a_distance": float(np.clip(2.0 * (1.0 - 2.0 * error), 0.0, 2.0)),
        "domain_classifier_accuracy": accuracy,
        "n_source": int(len(src)),
        "n_target": int(len(tgt)),
        "n_used_per_domain": int(m),
        "folds": int(folds),
    }


def interpret_a_distance(pad: float) -> str:
    """One sentence on what a proxy A-distance predicts for transferring a source head."""
    pad = float(pad)
    if not 0.0 <= pad <= 2.0:
        raise InputError(f"pad={pad!r} is not a proxy A-distance; it must lie in [0, 2].")
    if pad < SMALL_GAP:
        return (
            f"Small domain gap (proxy A-distance {pad:.2f} < {SMALL_GAP}): source and target "
            "features are hard to tell apart, so a head trained on the source should transfer "
            "with little loss."
        )
    if pad < LARGE_GAP:
        return (
            f"Moderate domain gap (proxy A-distance {pad:.2f}): the domains differ visibly, so "
            "expect some accuracy loss if the source head is used as is; fine-tune on target "
            "labels if you have them."
        )
    return (
        f"Large domain gap (proxy A-distance {pad:.2f} >= {LARGE_GAP}): a linear classifier "
        "tells the domains apart almost perfectly, so transfer of a source head is unlikely "
        "to work as is; adapt with target labels (refit the head or fine-tune)."
    )


def zero_shot_summary(probs: Any, y_true_idx: Any) -> dict[str, Any]:
    """How a source head does on target data before any adaptation.

    Args:
        probs: (N, C) class probabilities from the unadapted model on target examples.
        y_true_idx: (N,) true class indices into the C columns.

    Returns:
        ``{"accuracy", "mean_confidence", "confidence_when_wrong", "n", "n_wrong"}``;
        confidence is the top probability. ``confidence_when_wrong`` is None when no
        prediction is wrong. High confidence when wrong is the sign of a domain gap the
        model does not know about.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true_idx)
    if p.ndim != 2 or p.shape[0] == 0 or p.shape[1] < 2:
        raise InputError(
            f"probs must have shape (N, C) with N >= 1 and C >= 2; got {p.shape}. "
            "Pass the softmax output of the model, one row per example."
        )
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise InputError("probs must be probabilities in [0, 1]; apply softmax to logits first.")
    if y.shape != (p.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise InputError(
            f"y_true_idx must be {p.shape[0]} integer class indices; got shape {y.shape} "
            f"and dtype {y.dtype}. Map label names to column indices first."
        )
    if ((y < 0) | (y >= p.shape[1])).any():
        raise InputError(
            f"y_true_idx holds values outside 0..{p.shape[1] - 1}, the columns of probs."
        )
    pred = p.argmax(axis=1)
    conf = p.max(axis=1)  # (N,)
    wrong = pred != y
    return {
        "accuracy": float((~wrong).mean()),
        "mean_confidence": float(conf.mean()),
        "confidence_when_wrong": float(conf[wrong].mean()) if wrong.any() else None,
        "n": int(len(y)),
        "n_wrong": int(wrong.sum()),
    }
