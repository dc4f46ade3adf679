"""What a model predicts — one class, a set of labels, or a number — and how its raw
outputs become scores and decisions. One place for every layer: the trainer picks its
loss from the kind, pipelines, `evaluate`, export parity and the Ray predictor decode
outputs through `Problem`.

A model folder records it in its config under ``"problem"``; folders saved before it
existed have none and are single-label. Hugging Face folders say it with
``problem_type`` / ``num_labels`` (`Problem.from_hf_config`).

>>> import numpy as np
>>> p = Problem("multi-label", thresholds=(0.6, 0.3))
>>> p.decide(np.array([[0.0, 0.0]]), ["game", "audio"])
[['audio']]
>>> r = Problem("regression", target_mean=2.0, target_std=1.5)
>>> r.scores(np.array([[1.0]])).tolist()
[3.5]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit.errors import InputError

SINGLE = "single-label"
MULTI = "multi-label"
REGRESSION = "regression"
PROBLEMS = (SINGLE, MULTI, REGRESSION)

# Hugging Face `config.problem_type` ↔ ours.
HF_PROBLEM_TYPES = {
    "single_label_classification": SINGLE,
    "multi_label_classification": MULTI,
    "regression": REGRESSION,
}


def check_kind(kind: str) -> str:
    """`kind` if it is one of PROBLEMS, else one clear InputError naming the choices."""
    if kind not in PROBLEMS:
        raise InputError(
            f"task {kind!r} is not one of {', '.join(PROBLEMS)}; pass --task single-label, "
            "--task multi-label or --task regression (or leave it out to infer it from the data)."
        )
    return kind


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Problem:
    """The prediction problem of a model and what decoding its outputs needs.

    kind: "single-label" (softmax, argmax), "multi-label" (sigmoid per label, every
        label whose probability reaches its threshold) or "regression" (one output,
        trained on the standardised target; `scores` returns it in the target's units).
    thresholds: multi-label only, one per label in the model's label order (default 0.5).
    target_mean, target_std: regression only; outputs × std + mean = target units.
    target_name: regression only; the name of the target column (e.g. "score").
    """

    kind: str = SINGLE
    thresholds: tuple[float, ...] | None = None
    target_mean: float = 0.0
    target_std: float = 1.0
    target_name: str = "score"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        check_kind(self.kind)
        if not (math.isfinite(self.target_mean) and math.isfinite(self.target_std)):
            raise InputError(
                f"regression target mean {self.target_mean} / std {self.target_std} are not "
                "finite numbers; the model folder's config is damaged — fit it again."
            )
        if self.target_std <= 0:
            raise InputError(f"regression target std must be > 0, got {self.target_std}")

    # --- config round trip -------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """Strict-JSON dict for a model folder's config (``config["problem"]``)."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.kind == MULTI and self.thresholds is not None:
            out["thresholds"] = [float(t) for t in self.thresholds]
        if self.kind == REGRESSION:
            out.update(
                target_mean=float(self.target_mean),
                target_std=float(self.target_std),
                target_name=self.target_name,
            )
        return out | dict(self.extra)

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> Problem:
        """The Problem a folder config records (``config["problem"]``); single-label when
        it has none (folders saved before multi-label and regression existed)."""
        raw = (config or {}).get("problem")
        if raw is None:
            return cls()
        if isinstance(raw, str):
            return cls(check_kind(raw))
        known = {"kind", "thresholds", "target_mean", "target_std", "target_name"}
        th = raw.get("thresholds")
        return cls(
            kind=check_kind(str(raw.get("kind", SINGLE))),
            thresholds=tuple(float(t) for t in th) if th is not None else None,
            target_mean=float(raw.get("target_mean", 0.0)),
            target_std=float(raw.get("target_std", 1.0)),
            target_name=str(raw.get("target_name", "score")),
            extra={k: v for k, v in raw.items() if k not in known},
        )

    @classmethod
    def from_hf_config(cls, hf_config: Any) -> Problem:
        """A Hugging Face config's problem: ``problem_type`` when set, else regression for
        ``num_labels == 1`` and single-label otherwise (what transformers itself assumes)."""
        problem_type = getattr(hf_config, "problem_type", None)
        if problem_type in HF_PROBLEM_TYPES:
            return cls(HF_PROBLEM_TYPES[problem_type])
        if int(getattr(hf_config, "num_labels", 2)) == 1:
            return cls(REGRESSION)
        return cls()

    # --- decoding ----------------------------------------------------------------------
    def n_outputs(self, n_labels: int) -> int:
        """Width of the head: one per label, or 1 for regression."""
        return 1 if self.kind == REGRESSION else n_labels

    def label_thresholds(self, n_labels: int) -> np.ndarray:
        """Multi-label thresholds as an array (0.5 for each label when none were tuned)."""
        if self.thresholds is None:
            return np.full(n_labels, 0.5)
        if len(self.thresholds) != n_labels:
            raise InputError(
                f"the model has {n_labels} labels but {len(self.thresholds)} thresholds; "
                "the folder's config is damaged — fit it again or fix config.json."
            )
        return np.asarray(self.thresholds, dtype=float)

    def scores(self, logits: np.ndarray) -> np.ndarray:
        """Raw outputs (n, width) → probabilities (softmax for single-label, sigmoid per
        label for multi-label) or values in target units (regression, shape (n,))."""
        x = np.asarray(logits, dtype=np.float64)
        if x.ndim == 1:
            x = x[:, None]
        if self.kind == SINGLE:
            return _softmax(x)
        if self.kind == MULTI:
            return _sigmoid(x)
        return x[:, 0] * self.target_std + self.target_mean

    def decide(
        self, logits: np.ndarray, labels: Sequence[str], thresholds: Sequence[float] | None = None
    ) -> list[Any]:
        """Raw outputs → one decision per row: a label (single-label), the list of labels
        whose probability reaches its threshold (multi-label; `thresholds` overrides the
        tuned ones), or a float in target units (regression)."""
        s = self.scores(logits)
        if self.kind == SINGLE:
            return [labels[i] for i in s.argmax(axis=1)]
        if self.kind == REGRESSION:
            return [float(v) for v in s]
        th = (
            np.asarray(thresholds, dtype=float)
            if thresholds is not None
            else self.label_thresholds(len(labels))
        )
        return [[labels[j] for j in np.flatnonzero(row >= th)] for row in s]

    def indicators(
        self, logits: np.ndarray, thresholds: float | Sequence[float] | None = None
    ) -> np.ndarray:
        """Multi-label raw outputs (n, n_labels) → the 0/1 int matrix of decisions: 1 where
        the probability reaches the label's threshold (`thresholds` overrides the tuned ones:
        one value, or one per label)."""
        if self.kind != MULTI:
            raise InputError(f"indicators() is for multi-label models; this one is {self.kind}")
        s = self.scores(logits)
        n = s.shape[1]
        th = (
            self.label_thresholds(n)
            if thresholds is None
            else check_thresholds(thresholds, [str(j) for j in range(n)])
        )
        return (s >= th).astype(int)

    def predictions(
        self,
        logits: np.ndarray,
        labels: Sequence[str],
        *,
        top_k: int | None = None,
        threshold: float | Sequence[float] | None = None,
    ) -> list[Any]:
        """Raw outputs → one JSON-ready pipeline result per row.

        single-label: ``{"label", "score"}`` (softmax), or with `top_k` the k best as a list.
        multi-label: the list of ``{"label", "score"}`` (sigmoid) whose probability reaches
            its threshold, best first. `threshold` (one value, or one per label) replaces the
            tuned thresholds; `top_k` alone gives the k most probable labels whatever their
            probability; both: the labels passing `threshold`, at most k of them.
        regression: ``{"score": value}`` in the target's units (`top_k`/`threshold` are
            errors: there are no labels to rank).
        """
        s = self.scores(logits)
        if self.kind == REGRESSION:
            if top_k is not None or threshold is not None:
                raise InputError(
                    "top_k and threshold apply to labels; a regression model returns one "
                    "score per input — leave them out."
                )
            return [{"score": float(v)} for v in s]
        if self.kind == SINGLE:
            if threshold is not None:
                raise InputError(
                    "threshold applies to multi-label models (sigmoid per label); this model "
                    "is single-label (softmax, one label) — use top_k to see more labels."
                )
            k = 1 if top_k is None else max(1, min(int(top_k), s.shape[1]))
            rows = [_ranked(row, labels, np.argsort(-row, kind="stable")[:k]) for row in s]
            return [r[0] for r in rows] if top_k is None else rows
        order = np.argsort(-s, axis=1, kind="stable")
        every = [_ranked(row, labels, idx) for row, idx in zip(s, order, strict=True)]
        return [self.select(r, labels, top_k=top_k, threshold=threshold) for r in every]

    def select(
        self,
        ranked: list[dict[str, Any]],
        labels: Sequence[str],
        *,
        top_k: int | None = None,
        threshold: float | Sequence[float] | None = None,
    ) -> list[dict[str, Any]]:
        """Multi-label: from one input's every ``{"label", "score"}`` (best first), the ones
        `predictions` returns for these `top_k` / `threshold` (the server scores a batch
        once and applies each request's options with this)."""
        if threshold is None and top_k is not None:
            return ranked[:top_k]
        th = (
            self.label_thresholds(len(labels))
            if threshold is None
            else check_thresholds(threshold, labels)
        )
        column = {lab: j for j, lab in enumerate(labels)}
        return [r for r in ranked if r["score"] >= th[column[r["label"]]]][:top_k]


def _ranked(row: np.ndarray, labels: Sequence[str], idx: Any) -> list[dict[str, Any]]:
    return [{"label": labels[j], "score": float(row[j])} for j in idx]


def check_thresholds(threshold: float | Sequence[float], labels: Sequence[str]) -> np.ndarray:
    """A threshold override (one probability, or one per label) as an array, or one clear
    InputError naming the bad value."""
    values = np.asarray(threshold, dtype=float)
    if values.ndim == 0:  # one probability for every label
        values = np.full(len(labels), float(values))
    if values.ndim != 1 or values.size != len(labels):
        raise InputError(
            f"threshold has {values.size} values for {len(labels)} labels; pass one "
            "probability (e.g. threshold=0.5) or one per label, in the model's label order."
        )
    if not np.all((values >= 0) & (values <= 1)):
        raise InputError(
            f"threshold {threshold!r} is outside 0..1; thresholds are probabilities "
            "(e.g. threshold=0.3 to return more labels)."
        )
    return values


def problem_of(model: Any) -> Problem:
    """The Problem of a loaded model: its ``.problem`` when it has one, else what its
    folder config records (transferkit and exported ONNX folders), else single-label."""
    problem = getattr(model, "problem", None)
    if isinstance(problem, Problem):
        return problem
    config = getattr(model, "config", None)
    return Problem.from_config(config if isinstance(config, dict) else None)
