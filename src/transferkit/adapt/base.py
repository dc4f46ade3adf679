"""The starting point of an adaptation: the base body, its source head if any, and the
classifier put on top (the source head kept when the labels match, else a new one).

>>> # base = load_base("minilm-l6@4"); start = attach_head(base, ["neg", "pos"], val)
>>> # start.clf, start.zero_shot, start.note
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)


@dataclass
class Base:
    """A loaded base: `backbone` (truncated for a cut point), the source classifier
    (None when there is no head to keep, or no tuned weights to carry), and the cut."""

    ref: str
    backbone: Any
    source: Any
    cut: int | None

    @property
    def config(self) -> dict[str, Any]:
        """How the source model was made (`transferkit.json`), {} for a plain body."""
        return getattr(self.source, "config", None) or {}


@dataclass
class HeadStart:
    """The classifier training starts from, its zero-shot report (a kept source head
    scored on the evaluation data) and a one-sentence note."""

    clf: Any
    zero_shot: dict[str, Any] | None
    note: str
    kept: bool = False  # True: the source head was kept (its labels match the data's)


def load_base(ref: str) -> Base:
    """Load a base reference (zoo name, folder, hub id, ``name@k``). With a cut the body
    is truncated; the source classifier still says how its body was made (tuned weights
    to save), but its head does not fit the cut's features."""
    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone, load_model, resolve
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
    return Base(ref, backbone, src, cut)


def report(labels: list[str], y_true: list[str], pred_idx: np.ndarray) -> dict[str, Any]:
    """Classification report of predicted label indices against true labels."""
    from transferkit.core.metrics import classification_report

    return classification_report(y_true, [labels[i] for i in pred_idx], labels=labels)


def set_head(clf: Any, weight: np.ndarray, bias: np.ndarray) -> None:
    """Copy (n_labels, d) weights and (n_labels,) biases into the head's last Linear."""
    lin = clf.head_linear()
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(weight))
        lin.bias.copy_(torch.as_tensor(bias))


def problem_for(data: Any) -> Any:
    """The Problem of a model trained on `data` (a LabelledData): its task; for a
    regression the target's name, mean and standard deviation (the head learns the
    standardised target); multi-label thresholds are tuned after training."""
    from transferkit.models.problems import REGRESSION, Problem

    if data.task != REGRESSION:
        return Problem(data.task)
    t = np.asarray(data.targets(), dtype=np.float64)
    std = float(t.std())
    return Problem(
        REGRESSION,
        target_mean=float(t.mean()),
        target_std=std if std > 0 else 1.0,
        target_name=str(data.target_name),
    )


def attach_head(
    base: Base,
    classes: list[str],
    eval_data: Any | None,
    label_map: dict[str, str] | None = None,
    problem: Any = None,
) -> HeadStart:
    """A Classifier for `classes` on the base body: the source head's rows reordered when
    its labels match (case-insensitive, after `label_map` {data label: source label}) and
    it predicts the same kind of problem (scored zero-shot on single-label `eval_data`
    when given), else a new head, and the note says which source head was dropped.
    problem: the Problem to train (`problem_for`; single-label when None)."""
    from transferkit.core.inference import predict_logits
    from transferkit.models.classifier import Classifier, match_head
    from transferkit.models.factory import split_cut
    from transferkit.models.problems import SINGLE, Problem, problem_of

    problem = problem if problem is not None else Problem()
    src = base.source
    rows = None
    if base.cut is None and src is not None and problem_of(src).kind == problem.kind:
        rows = match_head(src.labels, classes, label_map)
    clf = Classifier(base.backbone, classes, problem=problem)
    if rows is not None and problem.kind != SINGLE:
        head = src.head_linear()
        set_head(clf, head.weight.detach()[rows].numpy(), head.bias.detach()[rows].numpy())
        return HeadStart(clf, None, f"kept the source head of {base.ref}", kept=True)
    if rows is not None:
        head = src.head_linear()
        set_head(clf, head.weight.detach()[rows].numpy(), head.bias.detach()[rows].numpy())
        note = f"kept the source head of {base.ref} (labels {', '.join(src.labels)})"
        zero_shot = None
        if eval_data is not None:
            zs_pred = predict_logits(clf, eval_data.items).argmax(1)
            zero_shot = report(classes, eval_data.labels, zs_pred)
            note += f"; zero-shot accuracy before training {zero_shot['accuracy']:.4f}"
        return HeadStart(clf, zero_shot, note, kept=True)
    width = problem.n_outputs(len(classes))
    note = (
        f"new head for {len(classes)} classes"
        if problem.kind == SINGLE
        else f"new {problem.kind} head ({width} output{'s' if width > 1 else ''})"
    )
    if src is not None and base.cut is not None:
        note += (
            f"; dropped the source head of {split_cut(base.ref)[0]}: it does not fit the "
            f"features at cut {base.cut}"
        )
    elif src is not None:
        note += f"; dropped the source head of {base.ref} ({len(src.labels)} labels)"
        logger.warning(
            "dropping the source head of %s (%d labels) for a new head with %d labels",
            base.ref,
            len(src.labels),
            len(classes),
        )
    return HeadStart(clf, None, note)


def unfrozen_keys(backbone: Any) -> list[str]:
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
