"""`evaluate(model, data)`: a model's figures on labelled data, by the model's problem.

- single-label: accuracy, macro-F1, per-class table and confusion matrix;
- multi-label: micro/macro/sample F1, subset accuracy, Hamming loss, per-label
  precision/recall/F1 and the thresholds used;
- regression: MAE, RMSE, R², Spearman and Pearson, in the target's units.

>>> # r = evaluate("my-model", "test.csv"); r["accuracy"], r["confusion"]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from transferkit.core.devices import runs_on_device
from transferkit.core.results import EvaluationReport, MultiLabelReport, RegressionReport
from transferkit.errors import DataError, InputError
from transferkit.models.problems import MULTI, REGRESSION, Problem, problem_of

AnyReport = EvaluationReport | MultiLabelReport | RegressionReport


@runs_on_device
def evaluate(
    model: Any,
    data: Any,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
    label_sep: str = "|",
    threshold: float | Sequence[float] | None = None,
) -> AnyReport:
    """Score `model` (a folder, zoo name or loaded model) on labelled `data`.

    The data is read as the model's problem says (`transferkit.models.problems`):
    single-label → an EvaluationReport (accuracy, macro_f1, n, per_class, confusion);
    multi-label (label sets: lists, or strings joined by `label_sep`) → a
    MultiLabelReport; regression (a numeric target column) → a RegressionReport. Each
    reads like a dict and has `to_dict()`. Data labels are matched to the model's labels
    case-insensitively ("positive" = "POSITIVE"); a label the model does not know is an
    error naming it. threshold: multi-label only, replaces the model's per-label
    thresholds (one probability, or one per label). device: "auto" (a CUDA GPU when
    torch sees one, else the CPU), "cpu", "cuda", "cuda:N" or "mps".
    """
    from transferkit.core.inference import predict_logits
    from transferkit.data.datasets import load_labelled

    if isinstance(model, str | os.PathLike):
        from transferkit.models.factory import load_model

        model = load_model(model)
    problem = problem_of(model)
    if threshold is not None and problem.kind != MULTI:
        raise InputError(
            f"threshold applies to multi-label models; this model is {problem.kind} — "
            "leave threshold out."
        )
    d = load_labelled(
        data,
        text_column=text_column,
        label_column=label_column,
        what="evaluation",
        task=problem.kind,
        label_sep=label_sep,
    )
    if getattr(model, "modality", "text") != d.modality:  # before the labels: the real cause
        raise DataError(
            f"{d.source} is {d.modality} data but the model takes {model.modality} inputs; "
            f"evaluate it on {model.modality} data (a table of texts or an image folder)"
        )
    if problem.kind == REGRESSION:
        from transferkit.core.metrics import regression_report

        pred = problem.scores(predict_logits(model, d.items, batch_size))
        return RegressionReport(**regression_report(d.targets(), pred), target=problem.target_name)
    labels = list(model.labels)
    if problem.kind == MULTI:
        return _multilabel(model, problem, d, labels, batch_size, threshold)
    truth = [_model_label(lab, labels, d.source) for lab in d.labels]
    pred = problem.decide(predict_logits(model, d.items, batch_size), labels)
    present = sorted(set(truth) | set(pred), key=labels.index)
    if len(labels) <= 50:
        present = labels
    from transferkit.core.metrics import classification_report

    return EvaluationReport(**classification_report(truth, pred, labels=present))


def _model_label(label: str, labels: list[str], source: str) -> str:
    """`label` as the model spells it (exact, else case-insensitive), or a DataError."""
    if label in labels:
        return label
    lower = {lab.lower(): lab for lab in labels}
    if label.lower() in lower:
        return lower[label.lower()]
    raise DataError(
        f"{source}: label {label!r} is not one of the model's labels "
        f"({', '.join(labels[:20])}{', ...' if len(labels) > 20 else ''}). Evaluate on data "
        "with the model's labels."
    )


def _multilabel(
    model: Any,
    problem: Problem,
    d: Any,
    labels: list[str],
    batch_size: int,
    threshold: float | Sequence[float] | None,
) -> MultiLabelReport:
    """Truth as a 0/1 matrix in the model's label order, decisions by `problem`."""
    import numpy as np

    from transferkit.core.inference import predict_logits
    from transferkit.core.metrics import multilabel_report

    column = {lab: j for j, lab in enumerate(labels)}
    unknown = [
        lab
        for lab in d.classes
        if lab not in column and lab.lower() not in {x.lower() for x in labels}
    ]
    if unknown:
        raise DataError(
            f"{d.source}: label(s) {', '.join(map(repr, unknown[:10]))} are not among the "
            f"model's {len(labels)} labels ({', '.join(labels[:20])}"
            f"{', ...' if len(labels) > 20 else ''}). Drop them from the evaluation data, "
            "or evaluate a model trained with them."
        )
    truth = np.zeros((len(d), len(labels)), dtype=int)
    for r, row in enumerate(d.labels):
        for lab in row:
            truth[r, column[_model_label(lab, labels, d.source)]] = 1
    logits = predict_logits(model, d.items, batch_size)
    pred = problem.indicators(logits, threshold)
    used = (
        problem.label_thresholds(len(labels))
        if threshold is None
        else np.broadcast_to(np.asarray(threshold, dtype=float), (len(labels),))
    )
    return MultiLabelReport(**multilabel_report(truth, pred, labels, thresholds=list(used)))
