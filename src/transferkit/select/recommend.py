"""Turn scores, costs and the amount of data into a ranked table and one recommendation.

The rule, in words (each step is said in the output); the measurements behind each
choice are in benchmarks/results/rank.md:

1. **Transferability** = the headline score (:data:`RANKED_BY`, leave-one-out kNN
   accuracy) min-max scaled across the candidates to [0, 1]. kNN is the score whose
   order agreed best (weighted Kendall tau) with the accuracy the candidates reached
   in our rank benchmark; LogME and H-score, for instance, rank the whole MiniLM below
   its own cut points on sst2 although it probes best among them. The other scores
   (LogME, H-score; LEEP and NCE where a source head exists) are still computed and
   shown, and feed the disagreement flag (step 4), but do not move the ranking.
   ``recommend(..., ranked_by="mean")`` ranks by the mean of the scaled feature scores.
   **When the candidate would be fine-tuned** (its strategy is partial, full, lora or
   contrastive), its score is the best one among its own prefixes: the candidate itself
   and the cut points of the same model at or below its cut (the whole model is the
   deepest). Fine-tuning starts from all of a network's layers, so a model whose layer 4
   already separates the classes can reach at least what its cut at 4 reaches, and its
   upper layers are rewritten anyway; frozen features of the top layer cannot see that.
   Ties between a model and its cuts are broken by cost (step 2): the cheaper one wins.
2. **Cost** = log latency per example, scaled to [0, 1] across candidates. The utility is
   ``transferability - w * cost`` with ``w`` larger when data is scarce (few examples
   per class favour a small model used frozen: a large one cannot be tuned on them
   anyway) and when a budget is tight.
3. **Strategy**: `fit --strategy auto`'s own rule on that candidate
   (:func:`transferkit.core.strategies.choose_strategy`, from examples per class, data
   size, modality, the candidate's size and the budget; :func:`strategy_for`), so what
   rank recommends is what fit does. Features-only models are probed. A fine-tune whose
   time, as rank measured it, exceeds the budget falls back to ``probe``; a candidate
   whose probe alone exceeds it is ranked after every candidate that fits.
4. **Honesty**: for each candidate, its rank under every score; when ranks differ by at
   least a third of the candidates (and at least 2 places), the candidate is flagged
   ``scores_disagree`` and the sentence says which score likes it and which does not.
5. **Source heads**: a candidate whose head's labels match the data's carries its
   ``zero_shot`` figures (the head as it is on the scored sample, and a head refitted on
   its frozen features, cross-validated). Its strategy is ``none`` (reuse the head as it
   is) unless the refitted head beats zero-shot by more than the noise, then ``probe``
   (reuse the head and refit it; fit keeps the source head where the refit is worse on
   validation). Its accuracy figure is the better of the two (and of its kNN).
6. **Time**: each candidate's ``expected_accuracy`` is its headline figure when that is an
   accuracy (kNN; a source head's zero-shot / refitted accuracy), and its
   ``estimated_seconds`` the time of its strategy from measured throughput (``none`` 0,
   ``probe`` one encoding pass, ``contrastive`` / fine-tuning from the same latency).
   When a candidate cheaper than the top one is within the noise of it (twice the
   binomial standard error of an accuracy on the scored examples, at least
   ``2 * sqrt(0.0475 / n)``), the cheapest such one is recommended and the reason says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from transferkit.core.results import Recommendation
from transferkit.errors import InputError

__all__ = [
    "FEATURE_SCORES",
    "RANKED_BY",
    "RANKED_BY_TASK",
    "TUNED_STRATEGIES",
    "best_prefix",
    "estimated_seconds",
    "head_strategy",
    "noise",
    "recommend",
    "score_agreement",
    "strategy_for",
]


class StrategyPick(NamedTuple):
    """A candidate's strategy, why (with fit's time estimates), and why without them."""

    strategy: str
    reason: str
    rationale: str


FEATURE_SCORES = ("logme", "hscore", "knn")
RANKED_BY = "knn"  # the headline score; see step 1 of the module docstring for why
# The headline score per task: the one whose order matched the candidates' probe results
# best (weighted tau; benchmarks/results/multitask.json, "rank", and BENCHMARKS.md):
# multi-label, the per-label mean of kNN accuracy; regression, LogME on the target itself.
# kNN there is not an accuracy a model reaches, so these candidates carry no
# `expected_accuracy` (step 6 is skipped).
RANKED_BY_TASK = {"single-label": RANKED_BY, "multi-label": "knn", "regression": "logme"}
SCORE_NAMES = {"logme": "LogME", "hscore": "H-score", "knn": "kNN", "leep": "LEEP", "nce": "NCE"}
TUNED_STRATEGIES = ("partial", "full", "lora", "contrastive")  # they change the body's weights


def _depth(row: dict[str, Any]) -> float:
    return math.inf if row.get("cut") is None else float(row["cut"])


def best_prefix(rows: list[dict[str, Any]], score: str) -> list[int]:
    """For each row, the index of the row with the best `score` among its prefixes: rows of
    the same model (and same features-only flag) whose cut is at or below its own, the
    whole model (cut None) being the deepest. A row is its own prefix; a row without the
    score maps to itself. Ties go to the shallower prefix."""
    out = []
    for i, r in enumerate(rows):
        if score not in r["scores"] or r.get("features_only"):
            out.append(i)
            continue
        prefixes = [
            j
            for j, q in enumerate(rows)
            if q["model"] == r["model"]
            and not q.get("features_only")
            and score in q["scores"]
            and _depth(q) <= _depth(r)
        ]
        out.append(max(prefixes, key=lambda j: (rows[j]["scores"][score], -_depth(rows[j]))))
    return out


def _scaled(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-12 * max(abs(hi), 1.0):
        return [1.0] * len(values)
    return [(v - lo) / (hi - lo) for v in values]


def _ranks(values: list[float]) -> list[int]:
    """1 = best (highest); ties share the better rank."""
    order = sorted(values, reverse=True)
    return [order.index(v) + 1 for v in values]


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def strategy_for(
    *,
    modality: str,
    counts: dict[str, int],
    features_only: bool,
    params: float | None,
    budget: float | None,
    finetune_s: float | None = None,
    kind: str = "single-label",
    n: int | None = None,
) -> StrategyPick:
    """(strategy, reason, rationale) for one candidate: `fit --strategy auto`'s own rule
    (`transferkit.core.strategies.choose_strategy`, from examples per class, data size,
    modality, the candidate's size and the budget), so what rank recommends is what fit
    does on that base. Strategies are fit's: probe, contrastive, partial, full, lora.
    `finetune_s`, rank's measured estimate for this candidate, overrides fit's rough one
    when it says fine-tuning would not fit the budget. `kind` and `n` (training rows; a
    multi-label `counts` counts per label) are the task's, as fit passes them."""
    from transferkit.core.strategies import choose_strategy

    if features_only:
        why = "it gives features only (it cannot be fine-tuned)"
        return StrategyPick("probe", why, why)
    try:
        plan = choose_strategy(
            "auto",
            modality=modality,
            counts=counts,
            budget=budget,
            params=int(params or 0),
            kind=kind,
            n=n,
        )
    except InputError:  # the budget is below even a probe's estimate
        why = f"the {budget:g} s budget is below any adaptation's estimate"
        return StrategyPick("probe", why, why)
    tuned = plan.strategy in ("partial", "full", "lora")
    if tuned and budget is not None and finetune_s is not None and finetune_s > budget:
        why = (
            f"{plan.strategy} fine-tuning (est. {finetune_s:.0f} s) exceeds the {budget:g} s budget"
        )
        return StrategyPick("probe", why, why)
    return StrategyPick(plan.strategy, plan.reason, plan.rationale)


def score_agreement(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Kendall tau between each pair of feature scores over the candidates (1 = same
    order). Empty with fewer than 3 candidates."""
    from scipy import stats

    out: dict[str, float] = {}
    if len(rows) < 3:
        return out
    names = [s for s in FEATURE_SCORES if all(s in r["scores"] for r in rows)]
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            xa = [r["scores"][a] for r in rows]
            xb = [r["scores"][b] for r in rows]
            if len(set(xa)) < 2 or len(set(xb)) < 2:
                continue
            out[f"{a}~{b}"] = round(float(stats.kendalltau(xa, xb).statistic), 3)
    return out


def noise(p: float, n: int) -> float:
    """Half-width within which two accuracies measured on the same `n` examples count as
    equal: twice the binomial standard error at `p` (floored at p = 0.05 or 0.95, so a
    perfect score still has some)."""
    return 2.0 * math.sqrt(max(p * (1.0 - p), 0.0475) / max(n, 1))


def estimated_seconds(row: dict[str, Any]) -> float | None:
    """Adaptation time of `row`'s strategy on the user's data, from its measured cost."""
    c, strategy = row.get("cost") or {}, row.get("strategy")
    if strategy == "none":
        return 0.0
    if strategy == "probe":
        return c.get("probe_s")
    if strategy == "contrastive" and c.get("contrastive_s") is not None:
        return c["contrastive_s"]
    return c.get("finetune_s")


def head_strategy(row: dict[str, Any], n: int, budget: float | None) -> StrategyPick:
    """Step 5: for a candidate whose source head matches the data's labels, "none" (the
    head as it is) or "probe" (the head refitted), with one sentence naming the figures."""
    zs = row["zero_shot"]
    acc, refit = zs["accuracy"], zs["refit_accuracy"]
    half = noise(acc, n)
    said = (
        f"its source head's labels match and it scores {acc:.3f} accuracy (macro-F1 "
        f"{zs['macro_f1']:.3f}) zero-shot on {n} labelled examples, a head refitted on its "
        f"frozen features {refit:.3f}"
    )
    probe_s = (row.get("cost") or {}).get("probe_s")
    if refit > acc + half:
        if budget is None or probe_s is None or probe_s <= budget:
            why = f"{said}, more than the ±{half:.3f} noise above, so the head is refitted"
            return StrategyPick("probe", why, why)
        why = (
            f"{said}, but a refit (est. {probe_s:.0f} s) exceeds the {budget:g} s budget, "
            "so the head is used as it is"
        )
        return StrategyPick("none", why, why)
    why = f"{said}, within the ±{half:.3f} noise, so the head is used as it is (no training)"
    return StrategyPick("none", why, why)


@dataclass
class _Judged:
    """What `recommend` works out for one scored row before writing it down (kept beside
    the row, never inside it)."""

    row: dict[str, Any]
    rationale: str = ""
    fits: bool = True
    score_ranks: dict[str, int] = field(default_factory=dict)
    frozen_only: bool = False


def _assign_strategies(
    judged: list[_Judged],
    modality: str,
    counts: dict[str, int],
    budget: float | None,
    n_scored: int,
    kind: str = "single-label",
    n_rows: int | None = None,
) -> None:
    """Step 3 first: each candidate's strategy (fit's own rule; step 5 for a candidate
    with a matching source head) and its rationale."""
    for j in judged:
        r = j.row
        r.pop("scored_by_prefix", None)
        if r.get("zero_shot"):
            r["strategy"], _, j.rationale = head_strategy(r, n_scored, budget)
            r["head"] = "reuse" if r["strategy"] == "none" else "tune"
            continue
        r["head"] = "new"
        r["strategy"], _, j.rationale = strategy_for(
            modality=modality,
            counts=counts,
            features_only=bool(r.get("features_only")),
            params=r["cost"].get("params"),
            budget=budget,
            finetune_s=r["cost"].get("finetune_s"),
            kind=kind,
            n=n_rows,
        )


def _transferability(
    judged: list[_Judged],
    drivers: list[str],
    names: list[str],
    budget: float | None,
    accuracy: bool = True,
) -> None:
    """Step 1: scaled score (a tuned candidate's best prefix), fits-the-budget flag."""
    ok = [j.row for j in judged]
    ranks = {s: _ranks([r["scores"][s] for r in ok]) for s in names}
    source = {s: best_prefix(ok, s) for s in drivers}
    tuned = [r["strategy"] in TUNED_STRATEGIES for r in ok]
    basis = {
        s: [ok[source[s][i] if tuned[i] else i]["scores"][s] for i in range(len(ok))]
        for s in drivers
    }
    if drivers == ["knn"] and accuracy:  # an accuracy: a source head's figure is one (step 6)
        for i, r in enumerate(ok):
            zs = r.get("zero_shot")
            if zs:
                reach = (
                    zs["accuracy"]
                    if r["strategy"] == "none"
                    else max(zs["accuracy"], zs["refit_accuracy"])
                )
                basis["knn"][i] = max(basis["knn"][i], reach)
            r["expected_accuracy"] = round(float(basis["knn"][i]), 4)
    scaled = {s: _scaled(v) for s, v in basis.items()}
    for i, j in enumerate(judged):
        r = j.row
        need = r["cost"].get("probe_s") if r["strategy"] in ("probe", "contrastive") else None
        need = need if need is not None else r["cost"].get("finetune_s") or 0.0
        need = 0.0 if r["strategy"] == "none" else need
        r["estimated_seconds"] = estimated_seconds(r)
        j.fits = budget is None or need <= budget
        r["transferability"] = round(float(np.mean([scaled[s][i] for s in drivers])), 4)
        j.score_ranks = {s: ranks[s][i] for s in names}
        k = source[drivers[0]][i]
        if tuned[i] and k != i and len(drivers) == 1:
            r["scored_by_prefix"] = {"cut": ok[k]["cut"], drivers[0]: ok[k]["scores"][drivers[0]]}


def _order(judged: list[_Judged], per_class: int, budget: float | None) -> float:
    """Step 2: utility = transferability - w x cost; fitting candidates first, frozen-only
    ones after tunable ones when fit would fine-tune. Sorts `judged`; returns w."""
    latency = [max(j.row["cost"].get("latency_ms") or 1e-3, 1e-3) for j in judged]
    cost = _scaled([math.log(v) for v in latency])
    tight = budget is not None and any(not j.fits for j in judged)
    # Few examples: cost weighs more (a smaller frozen model is the safer bet); a tight
    # budget adds to it. 0.1 means a 10x slower model must transfer ~10% of the score
    # range better to win.
    w = 0.1 + (0.15 if per_class < 50 else 0.0) + (0.2 if tight else 0.0)
    for j, c in zip(judged, cost, strict=True):
        j.row["utility"] = round(j.row["transferability"] - w * c, 4)
    # Many examples: fit fine-tunes a tunable base (partial/full/lora), which beats a
    # frozen probe by several points (benchmarks/results/fit.md). Frozen features score
    # what a probe reaches, not that, so a features-only candidate ranks after the
    # tunable ones that fit the budget.
    tuning = any(
        j.row["strategy"] in ("partial", "full", "lora")
        and j.fits
        and not j.row.get("features_only")
        for j in judged
    )
    for j in judged:
        j.frozen_only = tuning and bool(j.row.get("features_only"))
    judged.sort(key=lambda j: (not j.fits, j.frozen_only, -j.row["utility"]))
    return w


def recommend(
    rows: list[dict[str, Any]],
    *,
    modality: str,
    counts: dict[str, int],
    budget: float | None = None,
    ranked_by: str | None = None,
    n_scored: int | None = None,
    kind: str = "single-label",
    n_rows: int | None = None,
) -> tuple[list[dict[str, Any]], Recommendation | None, dict[str, Any]]:
    """Rank candidate rows and pick one: the one decision of `rank` and `fit --base auto`.

    Args:
        rows: one dict per candidate: ``model``, ``cut``, ``scores`` (may be empty),
            ``cost`` (may be empty), ``features_only``, ``error`` (None when scored) and,
            for a candidate whose source head matches the data's labels, ``zero_shot``.
        modality: "text" or "image".
        counts: examples per class in the user's full training data.
        budget: seconds the user can spend adapting, or None.
        ranked_by: the score that drives the ranking (a key of ``scores``, e.g. "knn",
            "logme"), or "mean" for the mean of the scaled feature scores. If some
            candidate lacks it, the mean is used and the summary says so. None: the
            task's headline score (`RANKED_BY_TASK`).
        kind: the task, "single-label", "multi-label" or "regression". Only single-label
            candidates have an ``expected_accuracy`` (kNN is an accuracy there), so only
            they are compared within the noise of an accuracy (step 6).
        n_rows: training rows (default: the sum of `counts`, which for multi-label data
            counts label occurrences); the strategy rule sizes the data by it.
        n_scored: examples the scores were measured on (the noise of an accuracy);
            default: all of `counts`.

    Returns:
        ``(rows ranked, Recommendation or None, summary)``. Scored rows get ``rank``
        (1 = best), ``transferability``, ``utility``, ``strategy``, ``head``,
        ``expected_accuracy``, ``estimated_seconds``, ``scores_disagree`` and a
        one-sentence ``why``; failed rows come last with ``rank`` None and their reason as
        ``why``. The summary holds the score agreement and the weights used.
    """
    ok = [r for r in rows if r.get("error") is None]
    failed = [r for r in rows if r.get("error") is not None]
    for r in failed:
        r.update(rank=None, why=f"not ranked: {r['error']}")
    summary: dict[str, Any] = {"agreement": score_agreement(ok), "cost_weight": 0.0}
    ranked_by = ranked_by or RANKED_BY_TASK.get(kind, RANKED_BY)
    summary["ranked_by"] = ranked_by
    if not ok:
        return failed, None, summary
    names = [s for s in FEATURE_SCORES if all(s in r["scores"] for r in ok)]
    drivers = [ranked_by]
    if ranked_by == "mean" or not all(ranked_by in r["scores"] for r in ok):
        drivers, summary["ranked_by"] = names, "mean"
    n_scored = int(n_scored or sum(counts.values()))
    judged = [_Judged(r) for r in ok]
    _assign_strategies(judged, modality, counts, budget, n_scored, kind, n_rows)
    _transferability(judged, drivers, names, budget, accuracy=kind == "single-label")
    per_class, n = min(counts.values()), len(ok)
    summary["cost_weight"] = _order(judged, per_class, budget)
    preferred_to = _prefer_cheaper(judged, n_scored)
    spread_flag = max(2, math.ceil(n / 3))
    for k, j in enumerate(judged, start=1):
        r, sr = j.row, j.score_ranks
        r["rank"] = k
        r["score_spread"] = (max(sr.values()) - min(sr.values())) if sr else 0
        r["scores_disagree"] = n >= 3 and r["score_spread"] >= spread_flag
        r["why"] = _why(r, j, n, per_class, budget)
    reco = _recommendation(judged, preferred_to, summary["ranked_by"], n_scored, counts)
    return [j.row for j in judged] + failed, reco, summary


def _prefer_cheaper(judged: list[_Judged], n_scored: int) -> _Judged | None:
    """Step 6: move to the front the cheapest candidate within the noise of the top one
    (fitting the budget, not ranked after the tunable ones); return the top one it was
    preferred to, or None when the top one stays."""
    top = judged[0]
    p, t = top.row.get("expected_accuracy"), top.row.get("estimated_seconds")
    if p is None or t is None:
        return None
    half = noise(p, n_scored)
    cheaper = [
        j
        for j in judged[1:]
        if j.fits
        and not j.frozen_only
        and j.row.get("expected_accuracy") is not None
        and j.row["expected_accuracy"] >= p - half
        and j.row.get("estimated_seconds") is not None
        and j.row["estimated_seconds"] < t
    ]
    if not cheaper:
        return None
    best = min(cheaper, key=lambda j: (j.row["estimated_seconds"], -j.row["expected_accuracy"]))
    judged.remove(best)
    judged.insert(0, best)
    return top


def _recommendation(
    judged: list[_Judged],
    preferred_to: _Judged | None,
    ranked_by: str,
    n_scored: int,
    counts: dict[str, int],
) -> Recommendation:
    """The typed recommendation for the first of `judged`, with its reasons."""
    from transferkit.select.candidates import candidate_ref

    best, n = judged[0].row, len(judged)
    others = f" of {n} candidates" if n > 1 else ""
    why = f"best balance of transferability ({_driver(ranked_by)}) and cost{others}: {best['why']}"
    p = best.get("expected_accuracy")
    half = None if p is None else round(noise(p, n_scored), 4)
    pref = None
    if preferred_to is not None:
        q = preferred_to.row
        pref = {
            "model": q["model"],
            "cut": q["cut"],
            "expected_accuracy": q["expected_accuracy"],
            "estimated_seconds": q["estimated_seconds"],
        }
        why = (
            f"preferred as the cheaper of two candidates within noise: "
            f"{candidate_ref(best['model'], best['cut'])} ({p:.3f}, est. "
            f"{best['estimated_seconds']:.0f} s) vs {candidate_ref(q['model'], q['cut'])} "
            f"({q['expected_accuracy']:.3f}, est. {q['estimated_seconds']:.0f} s), within "
            f"±{half:.3f}; {best['why']}"
        )
    heads = [j.row for j in judged if j.row.get("zero_shot")]
    return Recommendation(
        model=best["model"],
        cut=best["cut"],
        strategy=best["strategy"],
        why=why,
        head=best.get("head") or "new",
        head_reason=_head_reason(best, judged[0].rationale, heads, list(counts)),
        strategy_reason=judged[0].rationale,
        zero_shot=(best if best.get("zero_shot") else (heads[0] if heads else {})).get("zero_shot"),
        expected_accuracy=p,
        estimated_seconds=best.get("estimated_seconds"),
        noise=half,
        preferred_to=pref,
    )


def _head_reason(
    best: dict[str, Any], rationale: str, heads: list[dict[str, Any]], classes: list[str]
) -> str:
    """One sentence: why the recommendation reuses a source head, refits it, or puts a
    new head on, naming the zero-shot figure of the source head considered."""
    from transferkit.select.candidates import candidate_ref

    if best.get("zero_shot"):
        verb = "reuse the head as it is" if best["strategy"] == "none" else "reuse the head, refit"
        return f"{verb} of {best['model']}: {rationale}"
    ref = candidate_ref(best["model"], best["cut"])
    if not heads:
        listed = ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
        return (
            f"a new head on {ref}: no candidate has a source head whose labels match the "
            f"data's ({listed})"
        )
    h = heads[0]
    zs = h["zero_shot"]
    exp = best.get("expected_accuracy")
    vs = f" below {ref}'s {exp:.3f}" if exp is not None else f" ranked below {ref}"
    return (
        f"a new head on {ref}: the source head of {h['model']} scores {zs['accuracy']:.3f} "
        f"zero-shot ({zs['refit_accuracy']:.3f} refitted) on {zs['n']} labelled examples,"
        f"{vs} by more than the noise or at a higher cost"
    )


def _driver(ranked_by: str) -> str:
    if ranked_by == "mean":
        return "mean of the scaled feature scores"
    return SCORE_NAMES.get(ranked_by, ranked_by)


def _why(r: dict[str, Any], j: _Judged, n: int, per_class: int, budget: float | None) -> str:
    """One sentence: where the scores put it, what it costs, and what to do with it."""
    parts: list[str] = []
    score_ranks, fits, frozen_only = j.score_ranks, j.fits, j.frozen_only
    if score_ranks:
        places = ", ".join(f"{SCORE_NAMES[s]} {_ordinal(k)}" for s, k in score_ranks.items())
        parts.append(f"{places} of {n}")
    if r.get("scores_disagree"):
        hi = min(score_ranks, key=score_ranks.get)  # type: ignore[arg-type]
        lo = max(score_ranks, key=score_ranks.get)  # type: ignore[arg-type]
        parts.append(f"scores disagree ({SCORE_NAMES[hi]} likes it, {SCORE_NAMES[lo]} does not)")
    c = r["cost"]
    if c.get("latency_ms") is not None:
        parts.append(f"{c['latency_ms']:.1f} ms/example, {c.get('params', 0) / 1e6:.1f}M params")
    if not fits:
        parts.append(
            f"even a probe (est. {c.get('probe_s', 0):.0f} s) exceeds the {budget:g} s budget"
        )
    elif r["strategy"] == "none":
        parts.append(f"use its head as it is (no training) since {j.rationale}")
    else:
        est = r.get("estimated_seconds")
        tail = f" (est. {est:.0f} s)" if est is not None else ""
        # fit's own rough time estimate gives way to rank's measured one (`tail`): the
        # plan's rationale is its reason without the estimates
        parts.append(f"use {r['strategy']}{tail} since {j.rationale}")
    prefix = r.get("scored_by_prefix")
    if prefix is not None:
        ((score, value),) = ((k, v) for k, v in prefix.items() if k != "cut")
        parts.append(
            f"scored by its cut at {prefix['cut']} ({SCORE_NAMES.get(score, score)} "
            f"{value:.3f}): fine-tuning starts from all its layers"
        )
    if frozen_only:
        parts.append(
            f"ranked after the models that can be fine-tuned: with {per_class} examples per "
            "class fine-tuning beats frozen features"
        )
    return "; ".join(parts) + "."
