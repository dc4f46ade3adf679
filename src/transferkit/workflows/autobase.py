"""`fit(base="auto")`: start from the model (and cut point) that `rank` recommends.

The training data `fit` will learn from is ranked exactly as `transferkit rank` ranks
it (:func:`transferkit.select.rank.rank`: one encoding pass per zoo model of the data's
modality, its default cut points included, scored on a stratified subsample of large
data, features cached), and its recommendation gives the base, the cut and — when the
user left ``strategy="auto"`` — the strategy. Features-only encoders are left out: `fit`
cannot put a head on them. When no candidate can be scored, the modality's default body
is used and the reason says so.

>>> # choice = choose_base(load_labelled("train.csv"), budget=120)
>>> # choice.ref, choice.strategy, choice.reason
>>> # ('minilm-l6@6', 'probe', 'rank recommends minilm-l6@6 (kNN 0.84 at ...')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from transferkit.zoo.registry import DEFAULT_BASES

logger = logging.getLogger(__name__)

__all__ = ["AUTO_MAX_EXAMPLES", "DEFAULT_BASES", "BaseChoice", "choose_base", "zoo_candidates"]

# Examples rank scores before fit starts (a stratified subsample of larger data). Text:
# rank's own default (None: 100 per class, 300-2000; MiniLM's cut points share one pass).
# Images: every candidate decodes and encodes the images itself, ~30 images/s for a small
# CNN on 2 cores, so 4 CNNs x 100 images is ~15 s; 2000 would be minutes.
AUTO_MAX_EXAMPLES: dict[str, int | None] = {"text": None, "image": 100}


@dataclass
class BaseChoice:
    """The base `fit` starts from when asked for "auto", and why (one sentence)."""

    ref: str  # a zoo name, with "@k" for a cut point
    reason: str
    strategy: str | None = None  # rank's strategy for it; None when rank was not used
    strategy_reason: str = ""
    ranked: bool = False  # True: chosen by rank (its features are in the feature cache)

    @property
    def chosen_by(self) -> str:
        """ "rank" (rank's recommendation) or "default" (rank could not score any)."""
        return "rank" if self.ranked else "default"


def zoo_candidates(modality: str) -> list[str]:
    """Installed zoo bodies of `modality` that `fit` can adapt (not classifiers built on
    another zoo body, whose features duplicate it; not features-only encoders)."""
    from transferkit.zoo.registry import list_models

    return [c.name for c in list_models(modality) if c.base is None and c.installed]


def _label(row: dict[str, Any]) -> str:
    from transferkit.select.candidates import candidate_ref

    return candidate_ref(row["model"], row["cut"])


def _fallback(modality: str, why: str) -> BaseChoice:
    name = DEFAULT_BASES[modality]
    return BaseChoice(name, f"{why}, so fit starts from {name}, the default {modality} body")


def choose_base(
    data: Any, *, budget: float | None = None, seed: int = 0, progress: bool = False
) -> BaseChoice:
    """Rank the zoo candidates (with cut points) on `data` and take the recommendation.

    `data` is a LabelledData (what fit trains on, after its validation split). `budget`
    is passed to rank, which weighs cost by it and picks a strategy that fits it.
    Never raises for a ranking failure: it falls back to the default body and says so.
    """
    from transferkit.select.rank import rank
    from transferkit.select.recommend import SCORE_NAMES, strategy_for

    candidates = zoo_candidates(data.modality)
    if not candidates:
        return _fallback(data.modality, f"base auto: no {data.modality} zoo model is installed")
    try:
        result = rank(
            data,
            candidates=candidates,
            budget=budget,
            max_examples=AUTO_MAX_EXAMPLES[data.modality],
            progress=progress,
            seed=seed,
        )
    except Exception as e:  # noqa: BLE001 - ranking is advice; fit goes on without it
        logger.warning("rank failed, fit falls back to the default base: %s", e)
        return _fallback(data.modality, f"base auto: ranking failed ({str(e).splitlines()[0]})")
    reco = result.recommendation
    scored = [r for r in result.candidates if r.get("rank") is not None]
    if reco is None or not scored:
        errors = "; ".join(f"{_label(r)}: {r['error']}" for r in result.candidates[:3])
        return _fallback(data.modality, f"base auto: rank could not score any candidate ({errors})")

    best, runner = scored[0], (scored[1] if len(scored) > 1 else None)
    score = result.ranked_by
    name = SCORE_NAMES.get(score, score)

    def said(r: dict[str, Any]) -> str:
        value = r["scores"].get(score)
        lat = r["cost"].get("latency_ms")
        text = (
            f"{name} {value:.2f}"
            if value is not None
            else f"transferability {r['transferability']:.2f}"
        )
        return text + (f" at {lat:.1f} ms/example" if lat is not None else "")

    ref = _label(best)
    if runner is not None:
        versus = f"{said(best)} vs {said(runner)} for {_label(runner)}, the runner-up"
    else:
        versus = f"{said(best)}, the only candidate that could be scored"
    reason = (
        f"base auto: rank recommends {ref} ({versus}; {len(scored)} candidates scored on "
        f"{result.n_scored} examples in {result.seconds:.1f} s)"
    )
    strategy, why, _ = strategy_for(
        modality=data.modality,
        counts=result.counts,
        features_only=bool(best.get("features_only")),
        params=best["cost"].get("params"),
        finetune_s=best["cost"].get("finetune_s"),
        budget=budget,
    )
    return BaseChoice(ref, reason, strategy, why, ranked=True)
