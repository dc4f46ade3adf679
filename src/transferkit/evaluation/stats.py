"""Confidence intervals over seeds, and the rule that calls a difference between two methods.

The rule is deliberately conservative: **a difference is called only where the two
confidence intervals separate.** Non-overlapping 95% intervals imply a difference
significant well below the 5% level, while overlapping ones do not prove the
methods equal, hence the verdict "no clear difference" rather than "equal". With one
seed there is no interval at all, and no difference is ever called.

Example:
    >>> from transferkit.evaluation.stats import compare, mean_ci
    >>> ci = mean_ci([1.0, 2.0, 3.0])
    >>> round(ci["low"], 3), round(ci["high"], 3)
    (-0.484, 4.484)
    >>> compare([0.90, 0.91, 0.92], [0.70, 0.71, 0.72])["verdict"]
    'better'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from transferkit.errors import InputError

VERDICTS = ("better", "worse", "no clear difference")


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> dict[str, Any]:
    """Mean and two-sided Student-t confidence interval of `values` (e.g. one accuracy per seed).

    The interval is ``mean ± t_{(1+confidence)/2, n-1} * std / sqrt(n)`` with the sample
    standard deviation (ddof=1).

    Returns:
        ``{"mean", "std", "low", "high", "n", "confidence", "interval_defined"}``, plain
        floats. With n = 1 there is no spread to estimate: ``std`` is 0, ``low`` and
        ``high`` equal the mean, and ``interval_defined`` is False, which `separated`
        reads so that a single run never "proves" a difference.

    Raises:
        InputError: no values, a value that is not a finite number, or a confidence
            outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence={confidence!r} must lie strictly between 0 and 1, e.g. 0.95.")
    xs: list[float] = []
    for i, v in enumerate(values):
        try:
            x = float(v)
        except (TypeError, ValueError) as err:
            raise InputError(f"values[{i}] = {v!r} is not a number; pass numbers.") from err
        if not math.isfinite(x):
            raise InputError(
                f"values[{i}] = {x!r} is not finite; drop failed runs before computing an interval."
            )
        xs.append(x)
    n = len(xs)
    if n == 0:
        raise InputError("values is empty; pass at least one measurement (one per seed).")
    mean = math.fsum(xs) / n
    if n == 1:
        return {
            "mean": mean,
            "std": 0.0,
            "low": mean,
            "high": mean,
            "n": 1,
            "confidence": confidence,
            "interval_defined": False,
        }
    from scipy import stats

    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = float(stats.t.ppf((1.0 + confidence) / 2.0, df=n - 1)) * std / math.sqrt(n)
    return {
        "mean": mean,
        "std": std,
        "low": mean - half,
        "high": mean + half,
        "n": n,
        "confidence": confidence,
        "interval_defined": True,
    }


def _check_ci(ci: Mapping[str, Any], name: str) -> None:
    missing = [k for k in ("mean", "low", "high") if k not in ci]
    if missing:
        raise InputError(
            f"{name} lacks {missing} (keys: {sorted(ci)}); pass a dict returned by mean_ci()."
        )


def _defined(ci: Mapping[str, Any]) -> bool:
    # Older or hand-written dicts may lack the flag; fall back on n when present.
    return bool(ci.get("interval_defined", ci.get("n", 2) >= 2))


def separated(a_ci: Mapping[str, Any], b_ci: Mapping[str, Any]) -> bool:
    """True when the intervals do not overlap (touching counts as overlapping).

    False whenever either interval is undefined (a single seed): one run cannot
    separate from anything.
    """
    _check_ci(a_ci, "a_ci")
    _check_ci(b_ci, "b_ci")
    if not (_defined(a_ci) and _defined(b_ci)):
        return False
    return bool(a_ci["low"] > b_ci["high"] or b_ci["low"] > a_ci["high"])


def verdict(
    a_ci: Mapping[str, Any], b_ci: Mapping[str, Any], *, higher_is_better: bool = True
) -> str:
    """ "better" / "worse" (a relative to b) where the intervals separate, else
    "no clear difference". Use ``higher_is_better=False`` for losses or seconds."""
    if not separated(a_ci, b_ci):
        return "no clear difference"
    a_higher = a_ci["mean"] > b_ci["mean"]
    return "better" if a_higher == higher_is_better else "worse"


def compare(
    a_values: Sequence[float],
    b_values: Sequence[float],
    *,
    confidence: float = 0.95,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """Compare method a with method b from one measurement per seed each.

    Returns:
        ``{"diff": mean(a) - mean(b), "verdict": "better" | "worse" |
        "no clear difference", "a": mean_ci(a), "b": mean_ci(b)}``.
    """
    a_ci = mean_ci(a_values, confidence)
    b_ci = mean_ci(b_values, confidence)
    return {
        "diff": a_ci["mean"] - b_ci["mean"],
        "verdict": verdict(a_ci, b_ci, higher_is_better=higher_is_better),
        "a": a_ci,
        "b": b_ci,
    }
