"""Learning curves: which training sizes can be measured, stratified subsamples, and
the points (mean and 95% interval over seeds per method) that the report plots.

Sizes are given per class ("8,32,128,all"): a size k draws k examples of every class
(a new draw per seed, so the interval also covers which examples were labelled);
"all" is the whole training set. A size the smallest class cannot fill is not
measured, and the reason is returned, not raised: "compute what can be computed".

>>> parse_sizes("8,32,all")
[8, 32, 'all']
>>> plan_sizes({"a": 40, "b": 12}, [8, 32, "all"])
([8, 'all'], [{'what': 'learning_curve size 32 per class', 'why': "the smallest class ('b') has only 12 training examples"}])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from transferkit.errors import InputError

Size = int | str  # examples per class, or "all"


def parse_sizes(spec: str | Sequence[Size] | None) -> list[Size]:
    """ "8,32,128,all" (or a list) → [8, 32, 128, "all"], sorted, duplicates dropped.

    Raises InputError for a size that is neither a positive integer nor "all".
    """
    if spec is None:
        return []
    parts: list[Any] = spec.split(",") if isinstance(spec, str) else list(spec)
    sizes: list[Size] = []
    for raw in parts:
        s = str(raw).strip().lower()
        if not s:
            continue
        if s == "all":
            value: Size = "all"
        else:
            try:
                value = int(s)
            except ValueError:
                value = 0
            if value < 1:
                raise InputError(
                    f"learning-curve size {raw!r} is not allowed; give examples per class as "
                    "positive integers and/or 'all', e.g. --sizes 8,32,128,all"
                )
        if value not in sizes:
            sizes.append(value)
    return sorted(sizes, key=lambda v: (v == "all", v if isinstance(v, int) else 0))


def plan_sizes(
    counts: Mapping[str, int], sizes: Sequence[Size], *, min_per_class: int = 2
) -> tuple[list[Size], list[dict[str, str]]]:
    """(sizes that can be measured, [{"what", "why"}] for those that cannot).

    A size k needs k < the smallest class count (k equal to it is the same as "all")
    and k >= `min_per_class` (a classifier, and the probe's cross-validation, need 2).
    """
    smallest_class = min(counts, key=lambda c: counts[c])
    smallest = counts[smallest_class]
    ok: list[Size] = []
    skipped: list[dict[str, str]] = []
    for k in sizes:
        if k == "all":
            ok.append(k)
            continue
        what = f"learning_curve size {k} per class"
        if int(k) < min_per_class:
            skipped.append(
                {
                    "what": what,
                    "why": f"fewer than {min_per_class} examples per class cannot train a classifier",
                }
            )
        elif int(k) >= smallest:
            skipped.append(
                {
                    "what": what,
                    "why": f"the smallest class ({smallest_class!r}) has only {smallest} training examples",
                }
            )
        else:
            ok.append(k)
    return ok, skipped


def subsample_per_class(data: Any, k: int, seed: int) -> Any:
    """A LabelledData with k examples of every class, drawn with `seed` (original order kept)."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(data.labels):
        by_class.setdefault(lab, []).append(i)
    idx: list[int] = []
    for c in data.classes:
        members = by_class.get(c, [])
        if len(members) < k:
            raise InputError(
                f"size {k} per class: class {c!r} has only {len(members)} examples; pick a "
                "smaller size (plan_sizes lists the sizes that fit)"
            )
        idx += [int(i) for i in rng.choice(members, k, replace=False)]
    return data.subset(sorted(idx))


def curve_point(
    size: Size, n_train: int, n_classes: int, accuracies: Mapping[str, Sequence[float]]
) -> dict[str, Any]:
    """One learning-curve point: {"size": training examples, "per_class", and per method
    mean_ci over its seeds (None for a method with no run)}."""
    from transferkit.evaluation.stats import mean_ci

    point: dict[str, Any] = {
        "size": int(n_train),
        "per_class": size if isinstance(size, int) else round(n_train / max(1, n_classes), 1),
        "label": f"{size} per class" if isinstance(size, int) else "all",
    }
    for method, values in accuracies.items():
        point[method] = mean_ci(list(values)) if values else None
        if values:
            point[method]["values"] = [float(v) for v in values]
    return point
