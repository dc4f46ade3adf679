"""The one length-bucketed batching rule, torch-free: longest first, outputs in input order.

`transferkit.core.inference` runs models through it; the torch-free fast start
(`models.ready`) uses it directly, so the rule lives once.

Why bucket: a batch of texts is padded to its longest member, so sorting by length
(longest first: the largest batch shape shows up at once, not at the end) wastes
little padding. Images (and anything that is not a string) keep their order.

>>> length_order(["a", "abc", "ab"])
[1, 2, 0]
>>> index_batches(["a", "abc", "ab"], 2)
[[1, 2], [0]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Key = Callable[[Any], int]


def _text_length(item: Any) -> int:
    return len(item) if isinstance(item, str) else 0


def length_order(items: Sequence[Any], key: Key | None = None) -> list[int]:
    """Indices of `items`, longest first by `key` (default: a string's length, 0 for
    anything else, so non-text inputs keep their order: the sort is stable)."""
    k = key or _text_length
    return sorted(range(len(items)), key=lambda i: -k(items[i]))


def index_batches(items: Sequence[Any], batch_size: int, key: Key | None = None) -> list[list[int]]:
    """Length-bucketed batches of indices into `items` (see :func:`length_order`)."""
    order = length_order(items, key)
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


Output = np.ndarray | dict[str, np.ndarray]


def run_batched(
    run: Callable[[list[Any]], Output],
    items: Sequence[Any],
    *,
    batch_size: int = 64,
    key: Key | None = None,
    progress: bool = False,
    description: str = "encoding",
) -> Output:
    """Call ``run(batch_items)`` over length-bucketed batches of `items`; return its
    outputs (an array with one row per item, or a dict of such arrays) in input order."""
    from transferkit.utils.progress import progress_bar

    order: list[int] = []
    parts: list[Output] = []
    with progress_bar(len(items), description, enabled=progress) as bar:
        for idx in index_batches(items, batch_size, key):
            parts.append(run([items[i] for i in idx]))
            order += idx
            bar.advance(len(idx))
    inverse = np.argsort(np.asarray(order, dtype=np.int64))  # rows back to input order
    if parts and isinstance(parts[0], dict):
        keys = parts[0].keys()
        return {k: np.concatenate([p[k] for p in parts])[inverse] for k in keys}  # type: ignore[index]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts)[inverse]  # type: ignore[arg-type]
