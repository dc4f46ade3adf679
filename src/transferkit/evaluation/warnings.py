"""Negative-transfer and domain-gap checks of a comparison.

**Negative transfer** (Rosenstein et al. 2005, "To transfer or not to transfer"; Wang
et al. 2019, "Characterizing and avoiding negative transfer"): the pretrained start is
not better than the same model from scratch, or than a classical model, beyond noise.
The rule of `stats.separated` is used — a difference is called only where the 95%
intervals separate — on intervals that cover two kinds of noise: the spread over seeds
(Student t), and the sampling noise of a finite evaluation set (the normal-approximation
binomial half-width ``1.96 * sqrt(p (1 - p) / n_eval)``), whichever is wider. So two
methods that differ by 0.3 points on 200 test sentences are never called different,
even when both are deterministic across seeds.

**Domain gap** (Ben-David et al. 2007, 2010): for a base whose head is reused (same
labels), the source model's zero-shot accuracy and confidence on the target; in
feature space, the proxy A-distance between a reference sample of the source domain
and the target data, through the frozen pretrained backbone. The reference is named
in the result, always: the model's real pretraining data is not available here.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

OVERFIT_GAP = 0.15  # train accuracy minus evaluation accuracy above which we warn
ZERO_SHOT_DROP = 0.10  # zero-shot accuracy this far below the adapted model: a real gap


def decision_ci(values: Sequence[float], n_eval: int) -> dict[str, Any]:
    """`stats.mean_ci(values)` widened to at least the binomial half-width of an accuracy
    measured on `n_eval` examples. Keeps ``interval_defined`` False for one seed."""
    from transferkit.evaluation.stats import mean_ci

    ci = mean_ci(values)
    p = min(max(ci["mean"], 0.0), 1.0)
    eval_half = 1.96 * math.sqrt(p * (1 - p) / max(1, n_eval))
    seed_half = (ci["high"] - ci["low"]) / 2
    half = max(seed_half, eval_half)
    ci.update(
        low=ci["mean"] - half,
        high=ci["mean"] + half,
        seed_half_width=seed_half,
        eval_half_width=eval_half,
        values=[float(v) for v in values],
    )
    return ci


_NAMES = {"scratch": "the same model trained from scratch", "classical": "the classical baseline"}


def _likely_cause(result: Mapping[str, Any]) -> str:
    gap = result.get("domain_gap") or {}
    task = result.get("task") or {}
    transfer = result.get("transfer") or {}
    causes = []
    pad = gap.get("a_distance")
    if isinstance(pad, int | float) and pad >= 1.5:
        causes.append(
            f"the target data is far from the reference of the source domain (proxy A-distance "
            f"{pad:.2f} of 2, measured against {gap.get('reference', 'a reference sample')})"
        )
    zs = gap.get("zero_shot_accuracy")
    if isinstance(zs, int | float) and isinstance(transfer.get("accuracy"), int | float):
        if zs < transfer["accuracy"] - ZERO_SHOT_DROP:
            causes.append(f"the source head scores only {zs:.3f} on the target before adaptation")
    conf = gap.get("source_mean_confidence")
    if task.get("head") == "new" and isinstance(conf, int | float) and conf < 0.5:
        causes.append(
            f"the source model is unsure on the target (mean top-class probability {conf:.2f}): "
            "its classes and features do not describe these inputs"
        )
    if transfer.get("strategy") == "probe":
        causes.append(
            "only a linear head was trained on frozen features, which may not encode what this task needs"
        )
    if not causes:
        causes.append(
            "the task is easy enough (or the data large enough) that pretraining adds little, "
            "or the pretrained features do not fit the task"
        )
    return "; ".join(causes)


def _advice(result: Mapping[str, Any], other: str) -> str:
    transfer = result.get("transfer") or {}
    steps = ["try another base (`transferkit rank TRAIN` ranks candidates)"]
    if transfer.get("strategy") in ("probe", "partial", "lora", "contrastive"):
        steps.append("unfreeze more (--strategy partial or full)")
    if other == "scratch":
        steps.append("or train from scratch: it was as good here")
    else:
        steps.append("or keep the classical model: it is as good here and far cheaper")
    return "; ".join(steps)


def transfer_warnings(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Warnings from a comparison result: negative transfer (transfer worse than, or not
    clearly better than, scratch / classical), too few seeds, overfitting, domain gap.

    Each warning: {"kind", "message", "cause", "advice"} (and "against" for
    transfer-vs-baseline warnings). Uses each method's "ci" (see `decision_ci`).
    """
    from transferkit.evaluation.stats import separated

    out: list[dict[str, Any]] = []
    transfer = result.get("transfer")
    if not isinstance(transfer, Mapping) or not transfer.get("ci"):
        return out
    t_ci = transfer["ci"]
    if not t_ci.get("interval_defined"):
        out.append(
            {
                "kind": "too_few_seeds",
                "message": f"only {t_ci.get('n', 1)} seed: no difference between methods can be called",
                "cause": "an interval needs at least 2 runs",
                "advice": "run with --seeds 3 (or more) to tell transfer from noise",
            }
        )
    for other in ("scratch", "classical"):
        o = result.get(other)
        if not isinstance(o, Mapping) or not o.get("ci") or not t_ci.get("interval_defined"):
            continue
        o_ci = o["ci"]
        if not o_ci.get("interval_defined"):
            continue
        figures = (
            f"transfer {t_ci['mean']:.3f} [{t_ci['low']:.3f}, {t_ci['high']:.3f}] vs "
            f"{other} {o_ci['mean']:.3f} [{o_ci['low']:.3f}, {o_ci['high']:.3f}]"
        )
        if separated(t_ci, o_ci):
            if t_ci["mean"] > o_ci["mean"]:
                continue  # transfer clearly better: no warning
            kind, msg = (
                "negative_transfer",
                (
                    f"negative transfer: the pretrained model is worse than {_NAMES[other]} ({figures}; "
                    "the intervals separate)"
                ),
            )
        else:
            kind, msg = (
                "no_clear_gain",
                (
                    f"transfer is not better than {_NAMES[other]} beyond noise ({figures}; the "
                    "intervals overlap)"
                ),
            )
        out.append(
            {
                "kind": kind,
                "against": other,
                "message": msg,
                "cause": _likely_cause(result),
                "advice": _advice(result, other),
            }
        )
    for key in ("transfer", "scratch"):
        m = result.get(key)
        gap = m.get("overfit_gap") if isinstance(m, Mapping) else None
        if isinstance(gap, int | float) and gap > OVERFIT_GAP:
            out.append(
                {
                    "kind": "overfitting",
                    "message": f"{key}: training accuracy {m['train_accuracy']:.3f} vs evaluation "
                    f"{m['accuracy']:.3f} (gap {gap:.3f})",
                    "cause": "the model memorises the training examples",
                    "advice": "more data, fewer epochs, or freeze more layers"
                    if key == "transfer"
                    else "expected for a large network trained from scratch on little data",
                }
            )
    gap = result.get("domain_gap") or {}
    out += a_distance_warnings(gap)
    zs = gap.get("zero_shot_accuracy")
    if isinstance(zs, int | float) and isinstance(transfer.get("accuracy"), int | float):
        if zs < transfer["accuracy"] - ZERO_SHOT_DROP:
            out.append(
                {
                    "kind": "domain_gap",
                    "message": f"the reused source head scores {zs:.3f} zero-shot on the target, "
                    f"{transfer['accuracy'] - zs:.3f} below the adapted model",
                    "cause": "same labels, but the target domain differs from the source",
                    "advice": "keep adapting on target labels; do not ship the source model as is",
                }
            )
    return out


def a_distance_warnings(gap: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A large-domain-gap warning when the proxy A-distance in `gap` is 1.5 or more."""
    pad = gap.get("a_distance")
    if not (isinstance(pad, int | float) and pad >= 1.5):
        return []
    return [
        {
            "kind": "domain_gap",
            "message": f"large domain gap: proxy A-distance {pad:.2f} between "
            f"{gap.get('reference', 'the reference')} and the target",
            "cause": "a linear classifier tells source-like and target inputs apart",
            "advice": "adapt with target labels (fine-tune rather than reuse a head as is)",
        }
    ]


# ---------------------------------------------------------------- domain-gap measurements


def source_head_check(
    source: Any, eval_data: Any, max_items: int = 2000, *, frozen: Any = None
) -> dict[str, Any]:
    """The source classifier on target evaluation data, before any adaptation.

    With matching labels (a reused head): {"zero_shot_accuracy", "zero_shot_mean_confidence",
    "zero_shot_confidence_when_wrong", "zero_shot_n"}. Always: "source_mean_confidence",
    the mean top-class probability over the source's own classes (low = the inputs look
    unlike anything the head was trained on). `frozen` (an `evaluation.methods.FrozenFeatures`)
    reuses body features already computed in the comparison.
    """
    import torch

    from transferkit.evaluation.domain import zero_shot_summary
    from transferkit.evaluation.methods import frozen_logits
    from transferkit.models.classifier import match_head

    items = eval_data.items[:max_items]
    labels = eval_data.labels[:max_items]
    logits = frozen_logits(source, frozen)(items)  # (n, source classes)
    probs = torch.softmax(torch.as_tensor(logits), dim=1).numpy()
    out: dict[str, Any] = {"source_mean_confidence": float(probs.max(1).mean())}
    cols = match_head(source.labels, eval_data.classes)
    if cols is not None:
        sub = probs[:, cols]
        sub = sub / sub.sum(1, keepdims=True)
        y = np.array([eval_data.classes.index(lab) for lab in labels])
        zs = zero_shot_summary(sub, y)
        out.update(
            zero_shot_accuracy=zs["accuracy"],
            zero_shot_mean_confidence=zs["mean_confidence"],
            zero_shot_confidence_when_wrong=zs["confidence_when_wrong"],
            zero_shot_n=zs["n"],
        )
    return out


def feature_gap(
    backbone: Any,
    reference: Sequence[Any],
    target: Sequence[Any],
    *,
    seed: int = 0,
    max_items: int = 300,
    frozen: Any = None,
) -> dict[str, Any]:
    """Proxy A-distance between `reference` and `target` inputs in the frozen backbone's
    feature space (at most `max_items` of each, drawn with `seed`, kept in order).
    `frozen` (an `evaluation.methods.FrozenFeatures`) reuses features already computed."""
    from transferkit.core.cache import encode
    from transferkit.evaluation.domain import interpret_a_distance, proxy_a_distance

    rng = np.random.default_rng(seed)

    def sample(xs: Sequence[Any]) -> list[Any]:
        idx = rng.permutation(len(xs))[:max_items]
        return [xs[i] for i in sorted(idx)]

    def features(xs: list[Any]) -> np.ndarray:  # (n, embedding_dim)
        if frozen is not None:
            return frozen.features(backbone, xs)
        return encode(backbone, xs, fingerprint=None)[0]

    ref_f = features(sample(reference))
    tgt_f = features(sample(target))
    pad = proxy_a_distance(ref_f, tgt_f, seed=seed, folds=min(5, len(ref_f), len(tgt_f)))
    pad["interpretation"] = interpret_a_distance(pad["a_distance"])
    return pad
