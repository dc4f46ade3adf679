"""`fit(base="auto")`: start from what `rank` recommends, the same call and the same answer.

`fit` ranks the training data exactly as `transferkit rank train.csv` does: the same
function (:func:`transferkit.select.rank.rank`), its default candidate set
(`select.rank.default_candidates`: the installed zoo bodies of the data's modality with
their default cut points, and the zoo classifiers whose head matches the data's labels),
the same sample (rank's default stratified subsample of large data), seed, budget and
label map. Its :class:`~transferkit.core.results.Recommendation` gives the base, the cut,
the strategy (unless the user named one) and the head decision (reuse as it is / refit /
new). When no candidate can be scored, the modality's default body is used and the
reason says so.

>>> # choice = choose_base(load_labelled("train.csv"), budget=120)
>>> # choice.ref, choice.strategy, choice.head, choice.reason
>>> # ('minilm-l6-sst2', 'none', 'reuse', 'base auto: rank recommends minilm-l6-sst2 (...')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_BASES = {"text": "minilm-l6", "image": "mobilenet-v2"}


@dataclass
class BaseChoice:
    """The base `fit` starts from when asked for "auto", and why (one sentence)."""

    ref: str  # a zoo name, with "@k" for a cut point
    reason: str
    strategy: str | None = None  # rank's strategy for it; None when rank was not used
    strategy_reason: str = ""
    ranked: bool = False  # True: chosen by rank (its features are in the feature cache)
    head: str | None = None  # rank's head decision: "reuse" | "tune" | "new"
    recommendation: Any = None  # rank's Recommendation, as it is

    @property
    def chosen_by(self) -> str:
        """ "rank" (rank's recommendation) or "default" (rank could not score any)."""
        return "rank" if self.ranked else "default"


def _label(row: Any) -> str:
    from transferkit.select.candidates import candidate_ref

    return candidate_ref(row["model"], row["cut"])


def _fallback(modality: str, why: str) -> BaseChoice:
    name = DEFAULT_BASES[modality]
    return BaseChoice(name, f"{why}, so fit starts from {name}, the default {modality} body")


def choose_base(
    data: Any,
    *,
    budget: float | None = None,
    seed: int = 0,
    progress: bool = False,
    label_map: dict[str, str] | None = None,
) -> BaseChoice:
    """`rank(data, budget=..., seed=..., label_map=...)` and take its recommendation.

    `data` is a LabelledData: the training data as the user gave it (before fit's
    validation split, so that `rank` on the same file gives the same answer).
    Never raises for a ranking failure: it falls back to the default body and says so,
    as it does for a task rank does not score (`select.rank.SUPPORTED_TASKS`, single-label
    when it declares none).
    """
    from transferkit.select import rank as ranking

    tasks = getattr(ranking, "SUPPORTED_TASKS", ("single-label",))
    task = getattr(data, "task", "single-label")
    if task not in tasks:  # not a crash: the default body, and the summary says why
        return _fallback(
            data.modality,
            f"base auto: rank does not score {task} data yet (pass --base to choose one)",
        )
    rank = ranking.rank
    try:
        result = rank(data, budget=budget, progress=progress, seed=seed, label_map=label_map)
    except Exception as e:  # noqa: BLE001 - ranking is advice; fit goes on without it
        logger.warning("rank failed, fit falls back to the default base: %s", e)
        return _fallback(data.modality, f"base auto: ranking failed ({str(e).splitlines()[0]})")
    reco = result.recommendation
    scored = [r for r in result.candidates if r.get("rank") is not None]
    if reco is None or not scored:
        errors = "; ".join(f"{_label(r)}: {r['error']}" for r in result.candidates[:3])
        return _fallback(data.modality, f"base auto: rank could not score any candidate ({errors})")
    reason = (
        f"base auto: rank recommends {reco.ref} ({_versus(result, scored)}); {reco.head_reason}"
    )
    strategy_reason = reco.strategy_reason
    if reco.preferred_to is not None:
        q = reco.preferred_to
        strategy_reason += (
            f"; preferred to {_label(q)} ({q['expected_accuracy']:.3f}, est. "
            f"{q['estimated_seconds']:.0f} s) as cheaper within the ±{reco.noise:.3f} noise"
        )
    return BaseChoice(
        reco.ref, reason, reco.strategy, strategy_reason, True, reco.head, recommendation=reco
    )


def _versus(result: Any, scored: list[Any]) -> str:
    from transferkit.select.recommend import SCORE_NAMES

    score = result.ranked_by
    name = SCORE_NAMES.get(score, score)

    def said(r: Any) -> str:
        value = r["scores"].get(score)
        lat = r["cost"].get("latency_ms")
        text = (
            f"{name} {value:.2f}"
            if value is not None
            else f"transferability {r['transferability']:.2f}"
        )
        return text + (f" at {lat:.1f} ms/example" if lat is not None else "")

    best, runner = scored[0], (scored[1] if len(scored) > 1 else None)
    if runner is not None:
        versus = f"{said(best)} vs {said(runner)} for {_label(runner)}, the runner-up"
    else:
        versus = f"{said(best)}, the only candidate that could be scored"
    return (
        f"{versus}; {len(scored)} candidates scored on {result.n_scored} examples in "
        f"{result.seconds:.1f} s"
    )
