"""Stratified subsampling, so transferability scores stay cheap on large training sets.

Scores such as kNN accuracy are O(N^2); ranking many candidate models on a 100k-row
table should first draw a subsample that keeps every class represented.

Example:
    >>> import numpy as np
    >>> labels = np.array([0] * 95 + [1] * 4 + [2])
    >>> idx = stratified_subsample(labels, max_n=20, seed=0)
    >>> len(idx), sorted(set(labels[idx].tolist()))
    (20, [0, 1, 2])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.errors import InputError

__all__ = ["default_max_examples", "stratified_subsample"]


def default_max_examples(n_classes: int, modality: str = "text") -> int:
    """How many examples `rank` (and so `fit --base auto`) scores by default.

    Text: 100 per class, at least 300 and at most 2000. On all of sst2 (2 classes) and
    trec (6), scoring 300 rather than 2,000 examples gave the same order of the candidates
    but for two tied at the top, at a fifth of the CPU time (benchmarks/results/rank.md);
    the ratio to brute-force fine-tuning grows as the scored share shrinks.
    Images: 100 (at least 2 per class): every candidate decodes and encodes the images
    itself, ~30 images/s for a small CNN on 2 cores, so 4 CNNs x 100 images is ~15 s."""
    if modality == "image":
        return int(max(100, 2 * n_classes))
    return int(min(2000, max(300, 100 * n_classes)))


def stratified_subsample(labels: Any, max_n: int, seed: int = 0) -> np.ndarray:
    """Indices of at most ``max_n`` examples, stratified by label.

    Contract:
        - If ``max_n >= N`` every index is returned.
        - Otherwise exactly ``max_n`` distinct indices are returned; every class keeps at
          least ``min(count, 2)`` examples (so a class of 1 keeps its single example, and
          leave-one-out scores still see a neighbour of the same class where one exists),
          and the rest is shared in proportion to class size (largest remainder;
          ties go to the class that sorts first).
        - Which examples of a class are kept is uniform at random and fixed by ``seed``.
        - Indices come back sorted ascending, dtype int64, so the original order is kept.

    Args:
        labels: ``(N,)`` class labels of any sortable kind (ints, strings).
        max_n: the most examples to keep, >= 1.
        seed: seed for ``numpy.random.default_rng``.

    Raises:
        InputError: labels not 1-D, empty, or ``max_n`` too small to keep
            ``min(count, 2)`` examples of every class.
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise InputError(
            f"labels must be a non-empty 1-D array, got shape {y.shape}. "
            "Pass one label per example."
        )
    if isinstance(max_n, bool) or not isinstance(max_n, int | np.integer) or max_n < 1:
        raise InputError(f"max_n must be a positive integer, got {max_n!r}.")
    n = y.size
    if max_n >= n:
        return np.arange(n, dtype=np.int64)

    classes, ids = np.unique(y, return_inverse=True)
    counts = np.bincount(ids)  # (C,)
    floor = np.minimum(counts, 2)
    if floor.sum() > max_n:
        raise InputError(
            f"max_n={max_n} is too small to keep every class: {classes.size} classes need at "
            f"least {int(floor.sum())} examples (min(count, 2) each). Raise max_n to "
            f"{int(floor.sum())} or more."
        )

    desired = max_n * counts / n  # (C,) proportional share, each <= count since max_n < N
    quota = np.clip(np.floor(desired).astype(np.int64), floor, counts)
    # Fix rounding and the floor lifts so the quotas sum to exactly max_n; each loop runs
    # fewer than 2C times (deficit < C from flooring, excess <= 2C from the floor lifts).
    while quota.sum() < max_n:
        gap = np.where(quota < counts, desired - quota, -np.inf)
        quota[int(np.argmax(gap))] += 1
    while quota.sum() > max_n:
        surplus = np.where(quota > floor, quota - desired, -np.inf)
        quota[int(np.argmax(surplus))] -= 1

    rng = np.random.default_rng(seed)
    order = np.argsort(ids, kind="stable")  # indices grouped by class, ascending within class
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    chosen = [
        rng.choice(order[s : s + c], size=q, replace=False)
        for s, c, q in zip(starts, counts, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen)).astype(np.int64)
