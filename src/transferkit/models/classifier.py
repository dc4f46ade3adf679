"""`Classifier` = backbone + head, with labels; and a wrapper for Hugging Face
sequence-classification models so both answer the same calls.

Both expose: `labels`, `modality`, `preprocess(inputs) -> batch`, `forward(batch) -> logits`
of shape (batch, n_labels).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from transferkit.errors import InputError
from transferkit.models.backbone import Backbone, TextBackbone
from transferkit.models.problems import Problem

logger = logging.getLogger(__name__)


def _check_labels(labels: Sequence[Any], least: int = 2) -> list[str]:
    names = [str(x) for x in labels]
    if len(names) < least:
        raise InputError(f"labels={names!r}: a classifier needs at least {least} distinct label(s)")
    if len(set(names)) != len(names):
        raise InputError(f"labels={names!r} has duplicates; give each class once")
    return names


def match_head(
    labels: Sequence[Any], classes: Sequence[str], label_map: Mapping[str, str] | None = None
) -> list[int] | None:
    """Rows of a source head for `classes` when the label sets match case-insensitively
    (the head can be kept, reordered); None when they differ. `label_map` declares
    {data label: source label} for labels named differently ("neg" -> "NEGATIVE"); a
    data label it does not name is compared as it is.

    >>> match_head(["NEGATIVE", "POSITIVE"], ["positive", "negative"])
    [1, 0]
    >>> match_head(["NEGATIVE", "POSITIVE"], ["bad", "good"], {"bad": "negative", "good": "positive"})
    [0, 1]
    """
    named = [str((label_map or {}).get(c, c)).lower() for c in classes]
    low = {str(lab).lower(): i for i, lab in enumerate(labels)}
    if len(low) != len(classes) or set(low) != set(named) or len(set(named)) != len(named):
        return None
    return [low[c] for c in named]


def parse_label_map(pairs: Sequence[str] | None) -> dict[str, str] | None:
    """``["neg=NEGATIVE", "pos=POSITIVE"]`` (the CLI's ``--label-map``) → {data label:
    source-head label}; None for none. A pair without ``=`` is an InputError.

    >>> parse_label_map(["neg=NEGATIVE", "pos=POSITIVE"])
    {'neg': 'NEGATIVE', 'pos': 'POSITIVE'}
    """
    if not pairs:
        return None
    out: dict[str, str] = {}
    for pair in pairs:
        data_label, sep, source_label = str(pair).partition("=")
        if not sep or not data_label.strip() or not source_label.strip():
            raise InputError(
                f"--label-map {pair!r} is not DATA=SOURCE; pass one pair per option, e.g. "
                "--label-map neg=NEGATIVE --label-map pos=POSITIVE"
            )
        out[data_label.strip()] = source_label.strip()
    return out


class Classifier(nn.Module):
    """A backbone followed by a linear head (optionally after dropout).

    problem: what the head predicts (`models.problems.Problem`; single-label by default).
    Its width is `problem.n_outputs(len(labels))`: one output per label, or one for a
    regression (whose `labels` is ``[target_name]``).

    >>> # clf = Classifier(backbone, ["neg", "pos"]); logits = clf(clf.preprocess(["great"]))
    >>> # reg = Classifier(backbone, ["score"], problem=Problem("regression"))
    """

    def __init__(
        self,
        backbone: Backbone,
        labels: Sequence[Any],
        *,
        head: nn.Module | None = None,
        dropout: float = 0.0,
        problem: Problem | None = None,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.problem = problem if problem is not None else Problem()
        self.labels = _check_labels(labels, 2 if self.problem.kind == "single-label" else 1)
        if self.problem.kind == "regression" and len(self.labels) != 1:
            raise InputError(
                f"labels={self.labels!r}: a regression model has one output; give the "
                "target's name as its only label, e.g. ['score']"
            )
        self.dropout = float(dropout)
        width = self.problem.n_outputs(len(self.labels))
        self.head: nn.Module = head if head is not None else self._new_head(width)
        self.config: dict[str, Any] = {}  # how the model was made (set when loaded)

    def _new_head(self, n: int) -> nn.Module:
        linear = nn.Linear(self.backbone.embedding_dim, n)
        return nn.Sequential(nn.Dropout(self.dropout), linear) if self.dropout else linear

    @property
    def modality(self) -> str:
        return self.backbone.modality

    @property
    def task(self) -> str:
        return f"{self.modality}-classification"

    def preprocess(self, inputs: Sequence[Any]) -> dict[str, torch.Tensor]:
        return self.backbone.preprocess(inputs)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.backbone(batch))  # (batch, n_labels)

    def head_linear(self) -> nn.Linear:
        """The final nn.Linear of the head."""
        if isinstance(self.head, nn.Linear):
            return self.head
        linears = [m for m in self.head.modules() if isinstance(m, nn.Linear)]
        return linears[-1]


class HFTextClassifier(nn.Module):
    """A Hugging Face `AutoModelForSequenceClassification` with its own head and labels,
    used as it is (no mean pooling: the model's own pooling and head decide)."""

    modality = "text"
    task = "text-classification"

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int, spec: dict[str, Any]):
        super().__init__()
        self.model: Any = model
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.spec = dict(spec)
        id2label = getattr(model.config, "id2label", None) or {}
        n = int(model.config.num_labels)
        self.labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]
        # problem_type / num_labels=1 decide the decoding, as in transformers.
        self.problem = Problem.from_hf_config(model.config)

    preprocess = TextBackbone.preprocess

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        wanted = ("input_ids", "attention_mask", "token_type_ids")
        return self.model(**{k: v for k, v in batch.items() if k in wanted}).logits
