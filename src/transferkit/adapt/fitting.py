"""`fit`: adapt a pretrained model to labelled data, and `evaluate` a model on data.

>>> # r = fit("train.csv", base="minilm-l6", out="my-model")
>>> # r.strategy, r.reason, r.eval["accuracy"]
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transferkit.adapt.autobase import DEFAULT_BASES, BaseChoice, choose_base
from transferkit.adapt.gradient import train_gradient
from transferkit.adapt.strategies import choose_strategy, fit_logistic, n_params, param_groups
from transferkit.data.datasets import (
    LabelledData,
    check_eval_labels,
    check_trainable,
    load_labelled,
    stratified_split,
)
from transferkit.errors import InputError

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BASES", "FitResult", "auto_base", "fit", "predict_logits"]


@dataclass
class FitResult:
    """What `fit` made: the model (a Classifier), where it was saved, and how."""

    model: Any
    model_dir: str | None
    base: str
    strategy: str
    reason: str
    train_seconds: float
    eval: dict[str, Any] | None
    zero_shot: dict[str, Any] | None = None
    summary: list[str] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    feature_cache: str | None = None  # "hit" | "miss" | None (no frozen features used)
    resumed_from_epoch: int = 0
    base_reason: str | None = None  # base="auto": which base rank chose and why

    def to_json(self) -> dict[str, Any]:
        ev = None
        if self.eval is not None:
            ev = {k: self.eval[k] for k in ("accuracy", "macro_f1", "n")}
        return {
            "model_dir": self.model_dir,
            "base": self.base,
            "strategy": self.strategy,
            "reason": self.reason,
            "base_reason": self.base_reason,
            "train_seconds": round(self.train_seconds, 2),
            "eval": ev,
        }


# ---------------------------------------------------------------- helpers


def auto_base(data: LabelledData, *, budget: float | None = None) -> tuple[str, str]:
    """The base for `base="auto"` and why: `transferkit rank`'s recommendation on `data`
    (see :mod:`transferkit.adapt.autobase`)."""
    choice = choose_base(data, budget=budget)
    return choice.ref, choice.reason


def _load_base(ref: str) -> tuple[Any, Any, int | None]:
    """(backbone, source classifier or None, cut or None) for a base reference. With a
    cut (``ref@k``) the body is truncated; the source classifier still says how its body
    was made (tuned weights to save), but its head does not fit the cut's features."""
    from transferkit.models.classifier import Classifier
    from transferkit.zoo.factory import load_backbone, load_model, resolve
    from transferkit.zoo.registry import get_card

    spec = resolve(ref)
    cut = spec.pop("cut", None)
    src = None
    if spec["kind"] == "folder" or (spec["kind"] == "zoo" and get_card(spec["name"]).source_head):
        src = load_model(spec)
    backbone = src.backbone if isinstance(src, Classifier) else load_backbone(spec)
    if not isinstance(src, Classifier):
        src = None
    if cut is not None:
        backbone.truncate(cut)
    return backbone, src, cut


def _match_head(src: Any, classes: list[str]) -> list[int] | None:
    """Row order of the source head for `classes` when the label sets match (case-insensitive)."""
    if src is None:
        return None
    low = {lab.lower(): i for i, lab in enumerate(src.labels)}
    if len(low) != len(classes) or set(low) != {c.lower() for c in classes}:
        return None
    return [low[c.lower()] for c in classes]


def predict_logits(clf: Any, items: list[Any], batch_size: int = 64) -> np.ndarray:
    order = sorted(
        range(len(items)), key=lambda i: -len(items[i]) if isinstance(items[i], str) else 0
    )
    out: np.ndarray | None = None
    clf.eval()
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            logits = clf(clf.preprocess([items[i] for i in idx])).float().numpy()
            if out is None:
                out = np.zeros((len(items), logits.shape[1]), dtype=np.float32)
            out[idx] = logits
    assert out is not None
    return out


def _report(labels: list[str], y_true: list[str], pred_idx: np.ndarray) -> dict[str, Any]:
    from transferkit.evaluate.metrics import classification_report

    return classification_report(y_true, [labels[i] for i in pred_idx], labels=labels)


def _set_head(clf: Any, weight: np.ndarray, bias: np.ndarray) -> None:
    lin = clf.head_linear()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weight))
        lin.bias.copy_(torch.as_tensor(bias))


def _unfrozen_keys(backbone: Any) -> list[str]:
    """State-dict keys (parameters and buffers such as BatchNorm statistics) of the layer
    groups that have trainable parameters. A group may be a wrapper built on the fly (image
    backbones group blocks in a new Sequential), so keys are found through the registered
    submodules inside it, not the group's own name."""
    names = {id(m): n for n, m in backbone.named_modules()}
    keys: list[str] = []
    for group in backbone.layer_groups():
        if not any(p.requires_grad for p in group.parameters()):
            continue
        for sub in group.modules():
            name = names.get(id(sub))
            if name is None:
                continue
            local = [k for k, v in sub._parameters.items() if v is not None]
            local += [k for k, v in sub._buffers.items() if v is not None]
            keys += [f"{name}.{k}" if name else k for k in local]
    state = backbone.state_dict()
    return [k for k in dict.fromkeys(keys) if k in state]


# ---------------------------------------------------------------- fit


def fit(
    train: Any,
    *,
    base: str = "auto",
    strategy: str = "auto",
    eval: Any = None,  # noqa: A002 - the name users expect (`--eval`)
    text_column: str | None = None,
    label_column: str | None = None,
    budget: float | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    val_fraction: float = 0.1,
    freeze_groups: int | None = None,
    lora_targets: str = "qv",
    lora_rank: int = 8,
    patience: int | None = 2,
    seed: int = 0,
    out: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: bool = True,
    overwrite: bool = False,
) -> FitResult:
    """Adapt `base` to the labelled data `train`; return a FitResult (saved to `out` if given).

    base: a zoo name, a model folder or a hub id; ``name@k`` starts from cut point k (the
    body truncated to its bottom k layer groups, a smaller network; the saved folder
    records the cut). "auto" runs `transferkit rank` on the training data over the zoo
    models of its modality and their cut points, and takes the recommended model, cut
    and (with ``strategy="auto"``) strategy; `FitResult.base_reason` says why.
    train / eval: a table file (CSV/TSV/JSONL/Parquet), an image folder (root/<class>/*),
    a DataFrame, or (texts, labels). Without `eval`, a stratified `val_fraction` of train
    (fixed seed) is held out when every class has >= 10 examples.
    strategy: auto | probe | partial | full | lora | contrastive. budget: wall seconds.
    patience: early stopping on validation accuracy after that many epochs without gain
    (None: off).
    A kept source head (labels match, case-insensitive) is scored zero-shot first.
    With `out`, a checkpoint folder `<out>.checkpoint` is written every epoch and a rerun
    of the same call resumes from it (`resume=False` starts over). `out` must be new, empty,
    or (with `overwrite=True`) an existing transferkit model folder; see
    `utils.paths.check_out_dir`. Numeric options are checked first (`utils.checks`).
    """
    from transferkit.adapt.cache import encode
    from transferkit.utils.checks import check_fit_options
    from transferkit.utils.paths import check_out_dir

    check_fit_options(
        epochs=epochs, lr=lr, batch_size=batch_size, budget=budget, freeze_groups=freeze_groups,
        val_fraction=val_fraction, lora_rank=lora_rank, patience=patience, seed=seed,
    )  # fmt: skip
    if out is not None:  # before any work: never replace the user's files
        out = check_out_dir(out, overwrite=overwrite, inputs=(train, eval), sources=(base,))

    t_start = time.time()
    notes: list[str] = []
    data = load_labelled(train, text_column=text_column, label_column=label_column, what="train")
    check_trainable(data)
    notes += data.notes
    fingerprint = data.fingerprint()
    eval_data: LabelledData | None = None
    if eval is not None:
        eval_data = load_labelled(
            eval, text_column=text_column, label_column=label_column, what="eval"
        )
        check_eval_labels(data, eval_data)
        notes += eval_data.notes
    elif min(data.counts().values()) >= 10:
        data, eval_data = stratified_split(data, val_fraction, seed)
        notes.append(
            f"validation: {len(eval_data)} examples held out of train (stratified, seed {seed})"
        )
    else:
        notes.append(
            "no evaluation data and fewer than 10 examples in a class: no validation split"
        )
    classes = data.classes

    base_name = base
    choice: BaseChoice | None = None
    if base == "auto":
        choice = choose_base(data, budget=budget, seed=seed, progress=progress)
        base_name = choice.ref
        if strategy == "auto" and choice.strategy is not None:
            strategy = choice.strategy
        else:  # the user's explicit strategy is kept as given
            choice.strategy = None
    torch.manual_seed(seed)
    backbone, src, cut = _load_base(base_name)
    if backbone.modality != data.modality:
        raise InputError(
            f"base {base_name!r} is a {backbone.modality} model but the data is {data.modality}; "
            f"pick a {data.modality} base, e.g. {DEFAULT_BASES[data.modality]!r}"
        )
    from transferkit.models.classifier import Classifier
    from transferkit.zoo.factory import split_cut

    base_cfg = getattr(src, "config", None) or {}
    rows = _match_head(src, classes) if cut is None else None
    zero_shot = None
    if rows is not None:
        clf = Classifier(backbone, classes)
        head = src.head_linear()
        _set_head(clf, head.weight.detach()[rows].numpy(), head.bias.detach()[rows].numpy())
        head_note = f"kept the source head of {base_name} (labels {', '.join(src.labels)})"
        if eval_data is not None:
            zs_pred = predict_logits(clf, eval_data.items).argmax(1)
            zero_shot = _report(classes, eval_data.labels, zs_pred)
            head_note += f"; zero-shot accuracy before training {zero_shot['accuracy']:.4f}"
    else:
        clf = Classifier(backbone, classes)
        head_note = f"new head for {len(classes)} classes"
        if src is not None and cut is not None:
            head_note += (
                f"; dropped the source head of {split_cut(base_name)[0]}: it does not fit the "
                f"features at cut {cut}"
            )
        elif src is not None:
            head_note += f"; dropped the source head of {base_name} ({len(src.labels)} labels)"
            logger.warning(
                "dropping the source head of %s (%d labels) for a new head with %d labels",
                base_name,
                len(src.labels),
                len(classes),
            )
    notes.append(head_note)

    if cut is not None:
        notes.append(
            f"cut point {cut}: the body keeps its bottom {cut} layer groups "
            f"({n_params(backbone) / 1e6:.1f}M parameters, {backbone.embedding_dim}-d features)"
        )
    plan = choose_strategy(
        strategy,
        modality=data.modality,
        counts=data.counts(),
        budget=budget,
        params=n_params(backbone),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
    )
    if choice is not None and choice.strategy is not None:
        plan.reason = f"rank recommends it for {base_name}: {choice.strategy_reason}"
    if plan.strategy == "lora" and base_cfg.get("body"):
        raise InputError(
            f"base {base_name!r} has a fine-tuned body; LoRA on top of it is not supported. "
            "Use strategy 'partial' or 'full'."
        )
    peft = hasattr(getattr(backbone, "model", None), "peft_config")
    if peft and plan.strategy in ("partial", "full", "contrastive"):
        backbone.model = backbone.model.merge_and_unload()  # adapter folded into the body
    y = np.array([classes.index(lab) for lab in data.labels])
    hp: dict[str, Any] = {"seed": seed}
    result_extra: dict[str, Any] = {}
    t_train = time.time()
    ckpt_dir = Path(f"{os.fspath(out)}.checkpoint") if out is not None else None

    if plan.strategy in ("probe", "contrastive"):
        if plan.strategy == "contrastive":
            from transferkit.adapt.contrastive import CONTRASTIVE_LR, contrastive_tune
            from transferkit.adapt.strategies import contrastive_steps

            steps = contrastive_steps(len(data))
            remaining = None if budget is None else max(1.0, budget - (time.time() - t_start) - 2)
            # an embeddings-only cut has no encoder layer to tune on top: tune it whole
            top: dict[str, Any] = {} if len(backbone.layer_groups()) > 1 else {"top_layers": None}
            info = contrastive_tune(
                backbone,
                data.items,
                y,
                **top,
                steps=steps,
                lr=lr or CONTRASTIVE_LR,
                seed=seed,
                time_limit=remaining,
                progress=progress,
            )
            hp.update(
                {
                    "contrastive_steps": info["steps"],
                    "pairs": info["pairs"],
                    "lr": lr or CONTRASTIVE_LR,
                    "top_layers": info["top_layers"],
                }
            )
            feats = info["features"]
            if feats is None:
                feats, _ = encode(clf, data.items, fingerprint=None, progress=progress)
            result_extra["feature_cache"] = None
        else:
            feats = None
            if choice is not None and choice.ranked:  # rank just encoded this very data
                from transferkit.select.rank import cached_cut_features

                feats = cached_cut_features(backbone, data)
            hit = feats is not None
            if feats is None:
                feats, hit = encode(
                    clf, data.items, fingerprint=data.fingerprint(), progress=progress
                )
            result_extra["feature_cache"] = "hit" if hit else "miss"
        w, b, c = fit_logistic(feats, y, len(classes), seed)
        hp["C"] = c
        candidate = {"w": w, "b": b}
        if zero_shot is not None and plan.strategy == "probe" and eval_data is not None:
            # train on from the source head only if it helps: compare on the validation data
            src_w = clf.head_linear().weight.detach().numpy().copy()
            src_b = clf.head_linear().bias.detach().numpy().copy()
            _set_head(clf, w, b)
            new_acc = float(
                (
                    predict_logits(clf, eval_data.items).argmax(1)
                    == np.array([classes.index(x) for x in eval_data.labels])
                ).mean()
            )
            if new_acc < zero_shot["accuracy"]:
                candidate = {"w": src_w, "b": src_b}
                notes.append(
                    f"the refitted head ({new_acc:.4f}) was worse than the source head; kept the source head"
                )
        _set_head(clf, candidate["w"], candidate["b"])
        body: Any = None
        if base_cfg.get("body") or (plan.strategy == "contrastive" and not hp["top_layers"]):
            body = "full"
        elif plan.strategy == "contrastive":
            body = _unfrozen_keys(backbone)  # only the tuned top layers are saved
        loop_info: dict[str, Any] = {"history": [], "resumed": 0}
    else:
        groups, note = param_groups(
            clf,
            plan.strategy,
            plan.lr,
            freeze_groups=freeze_groups,
            lora_targets=lora_targets,
            lora_rank=lora_rank,
        )
        notes.append(note)
        hp.update({"epochs": plan.epochs, "lr": plan.lr, "batch_size": plan.batch_size})
        if plan.strategy == "partial":
            hp["freeze_groups"] = (
                freeze_groups if freeze_groups is not None else len(backbone.layer_groups()) // 2
            )
        if plan.strategy == "lora":
            hp.update({"lora_rank": lora_rank, "lora_targets": lora_targets})
        loop_info = train_gradient(
            clf,
            data,
            y,
            eval_data,
            plan,
            groups,
            seed=seed,
            budget=budget,
            t_start=t_start,
            ckpt_dir=ckpt_dir if resume or ckpt_dir is None else _fresh(ckpt_dir),
            fingerprint=fingerprint,
            progress=progress,
            base_name=base_name,
            patience=patience,
        )
        if loop_info.get("stop"):
            notes.append(loop_info["stop"])
        if plan.strategy == "full" or (base_cfg.get("body") and plan.strategy != "lora"):
            body = "full"
        elif plan.strategy == "partial":
            body = _unfrozen_keys(backbone)
        else:
            body = None
    train_seconds = time.time() - t_train

    ev = None
    if eval_data is not None:
        ev = _report(classes, eval_data.labels, predict_logits(clf, eval_data.items).argmax(1))
    summary = [f"strategy {plan.strategy}: {plan.reason}", *notes]
    reason = plan.reason
    if choice is not None:  # which base, and why, comes first
        summary.insert(0, choice.reason)
        reason = f"{choice.reason}; strategy {plan.strategy}: {plan.reason}"
    if ev is not None:
        summary.append(
            f"eval accuracy {ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f} (n={ev['n']})"
        )
    model_dir = None
    if out is not None:
        from transferkit.models.saving import save_classifier

        meta = {
            "base_model": base_name,
            "strategy": plan.strategy,
            "reason": plan.reason,
            "base_reason": None if choice is None else choice.reason,
            "hyperparameters": hp,
            "metrics": {
                "eval": {k: ev[k] for k in ("accuracy", "macro_f1", "n")} if ev else None,
                "zero_shot_accuracy": zero_shot["accuracy"] if zero_shot else None,
            },
            "train_seconds": round(train_seconds, 2),
            "data": {
                "fingerprint": fingerprint,
                "source": data.source,
                "n_train": len(data),
                "counts": data.counts(),
            },
            "notes": notes,
        }
        model_dir = str(save_classifier(clf, out, body=body, meta=meta))
        if ckpt_dir is not None:
            import shutil

            shutil.rmtree(ckpt_dir, ignore_errors=True)
    return FitResult(
        model=clf,
        model_dir=model_dir,
        base=base_name,
        strategy=plan.strategy,
        reason=reason,
        train_seconds=train_seconds,
        eval=ev,
        zero_shot=zero_shot,
        summary=summary,
        hyperparameters=hp,
        history=loop_info["history"],
        feature_cache=result_extra.get("feature_cache"),
        resumed_from_epoch=loop_info["resumed"],
        base_reason=None if choice is None else choice.reason,
    )


def _fresh(ckpt_dir: Path) -> Path:
    import shutil

    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return ckpt_dir
