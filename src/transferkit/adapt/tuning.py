"""Train a classifier on a base with one strategy of a plan: `adapt`.

- none: no training; the kept source head is used as it is.
- probe: frozen features (from the feature cache, or rank's entry for this very data),
  a regularised linear head — softmax logistic (single-label), per-label logistic
  (multi-label) or ridge on the standardised target (regression); a kept source head
  stays when the refitted one is worse.
- contrastive: the body's top layers tuned on in-batch pairs (`adapt.contrastive`),
  then a logistic head on the tuned features.
- partial, full, lora: parameter groups (`core.strategies.param_groups`) trained by the
  one trainer (`core.trainer.train_classifier`) with the problem's loss
  (`core.objectives`), checkpointed every epoch. A new multi-label head first becomes
  the probe's head on the frozen features (LP-FT, `PROBE_START_KINDS`).

Multi-label models then get per-label thresholds tuned for F1 on the validation data
(`core.linear_heads.tune_thresholds`), stored in the model's Problem.

>>> # out = adapt(start, base, data, val, plan, AdaptOptions(seed=0))
>>> # out.hyperparameters, out.history, out.body
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.adapt.base import Base, HeadStart, set_head, unfrozen_keys
from transferkit.core.strategies import Plan

# Problem kinds whose new head starts as the frozen probe's head in partial / full / lora
# (`_probe_start`). Multi-label: a head from scratch under BCE spends the short fine-tune
# learning that most of its 20-odd labels are rare, and the fine-tune ended below its own
# probe (issue 16: debtags; benchmarks/results/multitask_lpft.md).
PROBE_START_KINDS = ("multi-label",)
# The probe-started head's learning rate as a multiple of the body's: the same rate (the
# 10x of a head from scratch would pull a head that already works off its optimum).
PROBE_START_HEAD_LR_SCALE = 1.0
_PROBE_START_NOTE = (
    "the new head started as the probe's head on frozen features (per-label logistic "
    "regression, C={c:g}), then the body and head were tuned together (LP-FT)"
)


@dataclass(frozen=True)
class AdaptOptions:
    """Options of one adaptation (the strategy itself travels in the Plan)."""

    seed: int = 0
    lr: float | None = None  # the user's learning rate (contrastive; the plan has the rest)
    freeze_groups: int | None = None
    lora_targets: str = "qv"
    lora_rank: int = 8
    patience: int | None = 2
    deadline: float | None = None  # time.time() by which training must stop (the budget)
    checkpoint_dir: Path | None = None
    fingerprint: str = ""  # of the training data as given (keys the checkpoint)
    rank_features: bool = False  # rank has just encoded this data: reuse its features
    rank_data: Any = None  # what rank encoded (the data as given; `data` is a part of it)
    progress: bool = True
    class_weight: str | None = None  # None | "balanced" (classes / labels)
    regression_loss: str = "mse"  # "mse" | "huber" (on the standardised target)
    validation: str = "the validation data"  # what eval_data is, for the notes


@dataclass
class Adapted:
    """What training did: hyper-parameters, epochs, and what of the body to save."""

    hyperparameters: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from: int = 0
    stop_reason: str = ""
    body: Any = None  # None (head/adapter only), "full", or the state-dict keys tuned
    feature_cache: str | None = None  # "hit" | "miss" | None (no frozen features used)
    notes: list[str] = field(default_factory=list)


def adapt(
    start: HeadStart,
    base: Base,
    data: Any,
    eval_data: Any | None,
    plan: Plan,
    opts: AdaptOptions,
) -> Adapted:
    """Train `start.clf` on `data` (validated on `eval_data`) with `plan`'s strategy, for
    the problem `start.clf.problem` (its kind decides the head and the loss)."""
    if plan.strategy == "none":
        return _as_is(start, base)
    y, ey = training_targets(start.clf.problem, data, eval_data)
    if plan.strategy in ("partial", "full", "contrastive") and hasattr(base.backbone, "model"):
        from transferkit.models.backbone import merge_lora

        base.backbone.model = merge_lora(base.backbone.model, copy=False)  # adapter folded in
    if plan.strategy in ("probe", "contrastive"):
        out = _head_on_features(start, base, data, y, eval_data, plan, opts)
    else:
        out = _gradient(start, base, data, y, ey, eval_data, plan, opts)
    if opts.class_weight is not None:
        out.hyperparameters["class_weight"] = opts.class_weight
    if start.clf.problem.kind == "multi-label":
        out.notes.append(_tune_thresholds(start.clf, eval_data, ey, opts))
    return out


def training_targets(problem: Any, data: Any, eval_data: Any | None) -> tuple[Any, Any]:
    """(train targets, validation targets or None) as the head learns them: class indices
    or 0/1 label matrices in `data.classes` order, or the standardised target."""
    import dataclasses

    aligned = None if eval_data is None else dataclasses.replace(eval_data, classes=data.classes)
    y, ey = data.targets(), None if aligned is None else aligned.targets()
    if problem.kind == "regression":
        y = (y - problem.target_mean) / problem.target_std
        ey = None if ey is None else (ey - problem.target_mean) / problem.target_std
    return y, ey


def _tune_thresholds(clf: Any, eval_data: Any | None, ey: Any, opts: AdaptOptions) -> str:
    """Per-label thresholds tuned for F1 on the validation data (shrunk towards one shared
    threshold, `core.linear_heads.tune_thresholds`), into `clf.problem`."""
    import dataclasses

    from transferkit.core.inference import predict_logits
    from transferkit.core.linear_heads import tune_thresholds

    if eval_data is None:
        return "no validation data: every label's threshold stays 0.5"
    probs = clf.problem.scores(predict_logits(clf, eval_data.items))
    th = tune_thresholds(probs, ey)
    clf.problem = dataclasses.replace(clf.problem, thresholds=th)
    untuned = sum(not (ey[:, j] > 0.5).any() for j in range(ey.shape[1]))
    rest = f"; {untuned} label(s) without a positive there take the shared one" if untuned else ""
    return (
        f"per-label thresholds tuned for F1 on {opts.validation} ({len(eval_data)} rows), "
        f"each shrunk towards one shared threshold by its number of positives: "
        f"{min(th):.2f}-{max(th):.2f}{rest}"
    )


def _as_is(start: HeadStart, base: Base) -> Adapted:
    """Strategy "none": the source head as it is, which needs a kept head."""
    from transferkit.errors import InputError

    if not start.kept:
        raise InputError(
            f"strategy 'none' uses a source head as it is, but {base.ref!r} has no head whose "
            "labels match the data's (its head was replaced by a new, untrained one). Pick a "
            "base whose labels match, pass label_map (--label-map), or use --strategy probe."
        )
    out = Adapted({}, notes=["no training: the source head is used as it is"])
    out.body = "full" if base.config.get("body") else None
    return out


def _tuned_before(base: Base, strategy: str) -> bool:
    """True when the base's body was tuned before this fit — saved body weights, or a LoRA
    adapter that `adapt` merged into every layer (partial / full / contrastive) — so the
    whole body is saved: saving only the layers tuned now would drop the rest of it."""
    if strategy == "lora":
        return False
    merged = bool(base.config.get("lora")) and strategy in ("partial", "full", "contrastive")
    return bool(base.config.get("body")) or merged


def _remaining(opts: AdaptOptions, margin: float = 0.0) -> float | None:
    if opts.deadline is None:
        return None
    return max(1.0, opts.deadline - time.time() - margin)


def _contrastive_features(
    start: HeadStart, data: Any, y: np.ndarray, opts: AdaptOptions, hp: dict[str, Any]
) -> np.ndarray:
    from transferkit.adapt.contrastive import CONTRASTIVE_LR, contrastive_tune
    from transferkit.core.cache import encode
    from transferkit.core.strategies import contrastive_steps

    backbone = start.clf.backbone
    n_layers = len(backbone.layer_groups()) - 1  # the encoder layers above the embeddings
    # an embeddings-only cut has no encoder layer to tune on top: tune it whole
    top: dict[str, Any] = {"top_layers": None}
    if n_layers >= 1:
        top["top_layers"] = _top_layers(data, y, n_layers)
    info = contrastive_tune(
        backbone,
        data.items,
        y,
        **top,
        steps=contrastive_steps(len(data)),
        lr=opts.lr or CONTRASTIVE_LR,
        seed=opts.seed,
        time_limit=_remaining(opts, margin=2.0),
        progress=opts.progress,
    )
    hp.update(
        contrastive_steps=info["steps"],
        pairs=info["pairs"],
        lr=opts.lr or CONTRASTIVE_LR,
        top_layers=info["top_layers"],
    )
    feats = info["features"]
    if feats is None:
        feats, _ = encode(start.clf, data.items, fingerprint=None, progress=opts.progress)
    return feats


def _top_layers(data: Any, y: np.ndarray, n_layers: int) -> int:
    """`core.strategies.contrastive_top_layers` for single-label data; 3 otherwise."""
    from transferkit.core.strategies import CONTRASTIVE_TOP_LAYERS, contrastive_top_layers

    if y.ndim != 1:  # multi-label: pairs share a label; the rule was measured on classes
        return min(CONTRASTIVE_TOP_LAYERS, n_layers)
    counts = np.bincount(y, minlength=len(data.classes))
    return contrastive_top_layers(len(data.classes), int(counts.min()), n_layers)


def _probe_features(
    start: HeadStart, base: Base, data: Any, opts: AdaptOptions
) -> tuple[np.ndarray, bool]:
    from transferkit.core.cache import cached_cut_features, encode

    if opts.rank_features:
        given = data if opts.rank_data is None else opts.rank_data
        feats = cached_cut_features(base.backbone, given, source=base.source)
        if feats is not None:
            return feats[_rows_in(given, data)], True
    return encode(start.clf, data.items, fingerprint=data.fingerprint(), progress=opts.progress)


def _rows_in(given: Any, part: Any) -> list[int]:
    """Positions in `given` of the examples of `part`, an order-keeping subset of it (fit's
    validation split), so rank's features of `given` serve `part`."""
    rows: list[int] = []
    j = 0
    for item, label in zip(part.items, part.labels, strict=True):
        while given.items[j] != item or given.labels[j] != label:
            j += 1
        rows.append(j)
        j += 1
    return rows


def _head_on_features(
    start: HeadStart,
    base: Base,
    data: Any,
    y: np.ndarray,
    eval_data: Any | None,
    plan: Plan,
    opts: AdaptOptions,
) -> Adapted:
    """probe / contrastive: features (frozen or tuned), then a logistic-regression head."""
    from transferkit.core.inference import predict_logits

    clf, hp = start.clf, {"seed": opts.seed}
    out = Adapted(hp)
    if plan.strategy == "contrastive":
        feats = _contrastive_features(start, data, y, opts, hp)
    else:
        feats, hit = _probe_features(start, base, data, opts)
        out.feature_cache = "hit" if hit else "miss"
    w, b, hp_head = _linear_head(clf.problem.kind, feats, y, len(data.classes), opts)
    hp.update(hp_head)
    if start.zero_shot is not None and plan.strategy == "probe" and eval_data is not None:
        # train on from the source head only if it helps: compare on the validation data
        src_w = clf.head_linear().weight.detach().numpy().copy()
        src_b = clf.head_linear().bias.detach().numpy().copy()
        set_head(clf, w, b)
        ey = np.array([data.classes.index(x) for x in eval_data.labels])
        new_acc = float((predict_logits(clf, eval_data.items).argmax(1) == ey).mean())
        if new_acc < start.zero_shot["accuracy"]:
            w, b = src_w, src_b
            out.notes.append(
                f"the refitted head ({new_acc:.4f}) was worse than the source head; kept the source head"
            )
    set_head(clf, w, b)
    if _tuned_before(base, plan.strategy) or (
        plan.strategy == "contrastive" and not hp["top_layers"]
    ):
        out.body = "full"
    elif plan.strategy == "contrastive":
        out.body = unfrozen_keys(clf.backbone)  # only the tuned top layers are saved
    return out


def _linear_head(
    kind: str, feats: np.ndarray, y: np.ndarray, n_classes: int, opts: AdaptOptions
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(weight, bias, hyper-parameters) of the probe head for the problem's kind."""
    from transferkit.core.linear_heads import fit_multilabel_logistic, fit_ridge
    from transferkit.core.strategies import fit_logistic

    if kind == "regression":
        w, b, alpha = fit_ridge(feats, y)
        return w, b, {"alpha": alpha, "head": "ridge on the standardised target"}
    if kind == "multi-label":
        w, b, c = fit_multilabel_logistic(feats, y, opts.seed, opts.class_weight)
        return w, b, {"C": c, "head": "one logistic regression per label"}
    w, b, c = fit_logistic(feats, y, n_classes, opts.seed, opts.class_weight)
    return w, b, {"C": c}


def _gradient(
    start: HeadStart,
    base: Base,
    data: Any,
    y: np.ndarray,
    ey: np.ndarray | None,
    eval_data: Any | None,
    plan: Plan,
    opts: AdaptOptions,
) -> Adapted:
    """partial / full / lora through the one trainer, with the problem's loss."""
    from transferkit.core.devices import current_device
    from transferkit.core.objectives import objective_for
    from transferkit.core.strategies import param_groups
    from transferkit.core.trainer import TrainConfig, train_classifier

    clf, backbone = start.clf, start.clf.backbone
    hp: dict[str, Any] = {"seed": opts.seed}
    kind = clf.problem.kind
    probe_start = not start.kept and kind in PROBE_START_KINDS
    if probe_start:  # before LoRA wraps the body: the probe sees the frozen features
        _probe_start(start, base, data, y, opts, hp)
    groups, note = param_groups(
        clf,
        plan.strategy,
        plan.lr,
        freeze_groups=opts.freeze_groups,
        lora_targets=opts.lora_targets,
        lora_rank=opts.lora_rank,
        head_lr_scale=PROBE_START_HEAD_LR_SCALE if probe_start else None,
    )
    hp.update(epochs=plan.epochs, lr=plan.lr, batch_size=plan.batch_size)
    if plan.strategy == "partial":
        k = opts.freeze_groups
        hp["freeze_groups"] = k if k is not None else len(backbone.layer_groups()) // 2
    if plan.strategy == "lora":
        hp.update(lora_rank=opts.lora_rank, lora_targets=opts.lora_targets)
    objective = objective_for(
        kind,
        y,
        n_classes=len(data.classes),
        class_weight=opts.class_weight,
        regression_loss=opts.regression_loss,
        device=current_device(),
    )
    if kind == "regression":
        hp["loss"] = f"{opts.regression_loss} on the standardised target"
    key_parts = [opts.fingerprint, base.ref, plan.strategy, plan.epochs, plan.lr]
    key_parts += [plan.batch_size, opts.seed, kind, opts.class_weight, opts.regression_loss]
    key_parts += ["probe-start"] if probe_start else []  # not resumed from a scratch-head run
    cfg = TrainConfig(
        epochs=plan.epochs,
        batch_size=plan.batch_size,
        seed=opts.seed,
        patience=opts.patience,
        time_limit=_remaining(opts),
        checkpoint_dir=opts.checkpoint_dir,
        checkpoint_key=hashlib.sha256(json.dumps(key_parts).encode()).hexdigest()[:24],
        progress=opts.progress,
    )
    trained = train_classifier(clf, data, y, eval_data, groups, cfg, eval_y=ey, objective=objective)
    out = Adapted(
        hp,
        history=trained.history,
        resumed_from=trained.resumed_from,
        stop_reason=trained.stop_reason,
        notes=[note] + ([trained.stop_reason] if trained.stop_reason else []),
    )
    if probe_start:
        out.notes.insert(0, _PROBE_START_NOTE.format(c=hp["head_init_C"]))
    if plan.strategy == "full" or _tuned_before(base, plan.strategy):
        out.body = "full"
    elif plan.strategy == "partial":
        out.body = unfrozen_keys(backbone)
    return out


def _probe_start(
    start: HeadStart, base: Base, data: Any, y: np.ndarray, opts: AdaptOptions, hp: dict[str, Any]
) -> None:
    """LP-FT (Kumar et al. 2022, "Fine-Tuning can Distort Pretrained Features"): the new
    head starts as the probe's head on the frozen body's features (cached), not at random,
    so the first steps tune the body towards a head that already works instead of pulling
    the features after a head that is still learning its biases."""
    feats, _ = _probe_features(start, base, data, opts)
    w, b, hp_head = _linear_head(start.clf.problem.kind, feats, y, len(data.classes), opts)
    set_head(start.clf, w, b)
    hp.update(head_init="probe", head_init_C=hp_head["C"])
