"""`evaluate(model, data)`: accuracy, macro-F1, per-class table and confusion matrix.

>>> # r = evaluate("my-model", "test.csv"); r["accuracy"], r["confusion"]
"""

from __future__ import annotations

import os
from typing import Any

from transferkit.core.devices import runs_on_device
from transferkit.core.results import EvaluationReport
from transferkit.errors import DataError


@runs_on_device
def evaluate(
    model: Any,
    data: Any,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    batch_size: int = 64,
    device: str = "auto",
) -> EvaluationReport:
    """Score `model` (a folder, zoo name or loaded classifier) on labelled `data`.

    Returns an EvaluationReport (read like a dict; `to_dict()`): accuracy, macro_f1, n,
    per_class, confusion. Data labels are
    matched to the model's labels case-insensitively ("positive" = "POSITIVE"); a label the
    model does not know is an error naming it. device: "auto" (a CUDA GPU when torch
    sees one, else the CPU), "cpu", "cuda", "cuda:N" or "mps"; a loaded model is moved there.
    """
    from transferkit.core.inference import predict_logits
    from transferkit.data.datasets import load_labelled

    if isinstance(model, str | os.PathLike):
        from transferkit.models.factory import load_model

        model = load_model(model)
    d = load_labelled(data, text_column=text_column, label_column=label_column, what="evaluation")
    if getattr(model, "modality", "text") != d.modality:  # before the labels: the real cause
        raise DataError(
            f"{d.source} is {d.modality} data but the model takes {model.modality} inputs; "
            f"evaluate it on {model.modality} data (a table of texts or an image folder)"
        )
    labels = list(model.labels)
    exact = set(labels)
    lower = {lab.lower(): lab for lab in labels}
    truth = []
    for lab in d.labels:
        if lab in exact:
            truth.append(lab)
        elif lab.lower() in lower:
            truth.append(lower[lab.lower()])
        else:
            raise DataError(
                f"{d.source}: label {lab!r} is not one of the model's labels "
                f"({', '.join(labels[:20])}). Evaluate on data with the model's classes."
            )
    pred = predict_logits(model, d.items, batch_size).argmax(1)
    present = sorted(set(truth) | {labels[i] for i in pred}, key=labels.index)
    if len(labels) <= 50:
        present = labels
    from transferkit.core.metrics import classification_report
    from transferkit.core.results import EvaluationReport

    return EvaluationReport(
        **classification_report(truth, [labels[i] for i in pred], labels=present)
    )
