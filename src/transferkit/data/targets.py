"""What a label column holds — one class, a set of labels, or a number — and reading it.

`infer_task` decides the task from the raw column values when the user did not give one,
and says how in a sentence for the fit summary; `parse_label_sets` and `parse_numbers`
turn raw values into label tuples / floats, with one error naming the rows and the fix
for values that cannot be read.

>>> infer_task(["game|audio", "game"], "labels", "|").kind
'multi-label'
>>> infer_task([0.5, 1.25, 3.0], "score", "|").kind
'regression'
>>> parse_label_sets(["game|audio", ["x", "y"], None], "|")
[('audio', 'game'), ('x', 'y'), ()]
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from transferkit.errors import DataError

# The kinds of models/problems.py (data sits below models, so it cannot import them;
# tests check the two agree).
SINGLE, MULTI, REGRESSION = "single-label", "multi-label", "regression"
KINDS = (SINGLE, MULTI, REGRESSION)


@dataclass(frozen=True)
class TaskChoice:
    """The task of a label column and how it was decided.

    kind: one of SINGLE, MULTI, REGRESSION; how: "given" (task=/--task) or "inferred";
    reason: one sentence for the fit summary (why this kind, and what else it could be).
    """

    kind: str
    how: str
    reason: str


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _is_list(v: Any) -> bool:
    return isinstance(v, list | tuple | set | frozenset) or (
        hasattr(v, "tolist") and getattr(v, "ndim", 0) == 1
    )


def _as_number(v: Any) -> float | None:
    """A finite or non-finite float when `v` is a number or a numeric string, else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, numbers.Real):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return None
    return None


def _rows(idx: list[int], values: list[Any], limit: int = 5) -> str:
    """'row 3 ('abc'), row 9 ('n/a') and 4 more' — rows counted from 1 (the first data row)."""
    shown = ", ".join(f"row {i + 1} ({values[i]!r})" for i in idx[:limit])
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    return f"{shown}{more} (rows counted from 1, the header excluded)"


def infer_task(values: list[Any], column: str, label_sep: str) -> TaskChoice:
    """The task a label column implies: lists or `label_sep`-joined strings → multi-label;
    non-integer numbers → regression; anything else (integers included) → single-label."""
    present = [v for v in values if not _missing(v)]
    lists = sum(_is_list(v) for v in present)
    if lists:
        return TaskChoice(MULTI, "inferred", f"column {column!r} holds lists of labels")
    joined = sum(isinstance(v, str) and label_sep in v for v in present)
    if joined:
        return TaskChoice(
            MULTI,
            "inferred",
            f"{joined} of {len(values)} rows of column {column!r} hold several labels joined "
            f"with {label_sep!r} (pass --label-sep / label_sep= if the separator differs)",
        )
    nums = [_as_number(v) for v in present]
    fractional = sum(x is not None and not float(x).is_integer() for x in nums)
    bad = [i for i, v in enumerate(values) if not _missing(v) and _as_number(v) is None]
    if fractional and len(bad) <= len(present) // 2:
        if bad:  # a number column with a typo would otherwise become hundreds of classes
            raise DataError(
                f"column {column!r} holds numbers (a regression target?) but "
                f"{_rows(bad, values)} are not numbers. Fix or drop those rows, or pass "
                "--task single-label / task='single-label' to read every value as a class name."
            )
        return TaskChoice(
            REGRESSION, "inferred", f"column {column!r} holds non-integer numbers: a target"
        )
    if present and all(x is not None for x in nums):
        n = len({float(x) for x in nums if x is not None})
        return TaskChoice(
            SINGLE,
            "inferred",
            f"column {column!r} holds integers ({n} distinct values): read as classes; "
            "pass --task regression / task='regression' to predict them as numbers",
        )
    return TaskChoice(SINGLE, "inferred", f"column {column!r} holds one label per row")


def _clean_one(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def parse_label_sets(values: list[Any], label_sep: str) -> list[tuple[str, ...]]:
    """Each value → a sorted tuple of distinct labels: a list as is, a string split on
    `label_sep`, a missing value → () (an empty label set)."""
    out: list[tuple[str, ...]] = []
    for v in values:
        if _missing(v):
            parts: list[Any] = []
        elif _is_list(v):
            parts = list(v.tolist() if hasattr(v, "tolist") else v)
        elif isinstance(v, str):
            parts = v.split(label_sep) if label_sep else [v]
        else:
            parts = [v]
        labs = {_clean_one(p) for p in parts if not _missing(p)}
        out.append(tuple(sorted(lab for lab in labs if lab)))
    return out


def parse_numbers(values: list[Any], column: str, source: str) -> list[float]:
    """Each value → a finite float; one DataError naming the rows that are not numbers,
    or that are missing, NaN or infinite, and the fix."""
    nums = [_as_number(v) for v in values]
    missing = [i for i, v in enumerate(values) if _missing(v)]
    words = [i for i, x in enumerate(nums) if x is None and i not in set(missing)]
    if words:
        raise DataError(
            f"{source}: the regression target {column!r} must be numeric, but "
            f"{_rows(words, values)} are not numbers. Fix or drop those rows, or pass "
            "--task single-label / task='single-label' if the values are class names."
        )
    bad = [i for i, x in enumerate(nums) if x is not None and not math.isfinite(x)]
    bad = sorted(set(bad) | set(missing))
    if bad:
        raise DataError(
            f"{source}: the regression target {column!r} has missing, NaN or infinite values "
            f"at {_rows(bad, values)}; a model cannot learn from them. Drop those rows or "
            "fill them with real values."
        )
    return [float(x) for x in nums if x is not None]
