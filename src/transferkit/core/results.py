"""Typed results of the workflows, each with `to_dict()` for `--json`.

They live below the siblings that fill them (`select` fills a RankResult, the `fit`
workflow a FitResult), so any layer can read them without importing the others.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


# The evaluation figures `fit --json` and a model folder's metrics keep, per task.
EVAL_HEADLINE = {
    "single-label": ("accuracy", "macro_f1", "n"),
    "multi-label": ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "n"),
    "regression": ("spearman", "pearson", "mae", "rmse", "r2", "n"),
}


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
    strategy_chosen_by: str = "user"  # "user" | "auto" (fit's rule) | "rank"
    base_chosen_by: str = "user"  # "user" | "rank" | "default" (rank could not score any)
    estimated_seconds: float | None = None  # the plan's estimate of the training time
    device: str = "cpu"  # what trained it ("cuda:0 (…, bf16 mixed precision)")
    engine: str = "local"  # "local" | "ray" (Ray Train, `workers` data-parallel ranks)
    workers: int = 1
    task: str = "single-label"  # "single-label" | "multi-label" | "regression"
    task_how: str = "inferred"  # "inferred" (from the label column) | "given"
    task_reason: str = ""  # how the task was decided, one sentence
    problem: dict[str, Any] = field(default_factory=dict)  # Problem.to_config() of the model

    def to_dict(self) -> dict[str, Any]:
        """The `--json` output of `transferkit fit`."""
        return self.to_json()

    def to_json(self) -> dict[str, Any]:
        ev = None
        if self.eval is not None:
            keys = EVAL_HEADLINE.get(self.task, EVAL_HEADLINE["single-label"])
            ev = {k: self.eval[k] for k in keys if k in self.eval}
        return {
            "model_dir": self.model_dir,
            "base": self.base,
            "task": {"kind": self.task, "how": self.task_how, "reason": self.task_reason},
            "strategy": self.strategy,
            "reason": self.reason,
            "base_reason": self.base_reason,
            "train_seconds": round(self.train_seconds, 2),
            "eval": ev,
            "device": self.device,
            "engine": self.engine,
            "workers": self.workers,
        }


@dataclass
class RankResult:
    """What `rank` found. `to_dict()` is the `--json` output; `table()` a rich Table."""

    candidates: list[CandidateRow]
    recommendation: Recommendation | None
    modality: str
    n_examples: int
    n_scored: int
    counts: dict[str, int]
    notes: list[str] = field(default_factory=list)
    agreement: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    ranked_by: str = "knn"
    task: str = "single-label"  # "multi-label" | "regression": scores are per task

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidates": [c.to_dict() for c in self.candidates],
            "recommendation": None
            if self.recommendation is None
            else self.recommendation.to_dict(),
            "data": {
                "modality": self.modality,
                "task": self.task,
                "examples": self.n_examples,
                "scored_on": self.n_scored,
                "classes": self.counts,
            },
            "ranked_by": self.ranked_by,
            "score_agreement": self.agreement,
            "notes": self.notes,
            "seconds": round(self.seconds, 2),
        }

    def table(self, why: bool = True) -> Any:
        """A rich Table: one row per candidate, best first; failed ones last with reason
        (`why=False` leaves the sentence out, for narrow terminals that print it below)."""
        from rich.table import Table

        names = [
            s
            for s in ("logme", "hscore", "knn", "leep", "nce")
            if any(s in c["scores"] for c in self.candidates)
        ]
        t = Table(
            title=f"candidates for {self.modality} data "
            f"({self.n_scored} of {self.n_examples} examples scored)"
        )
        zero_shot = any(c.get("zero_shot") for c in self.candidates)
        t.add_column("#", justify="right")
        t.add_column("model", no_wrap=True)  # a name the user types: never cut
        t.add_column("cut")
        for s in names:
            t.add_column(s, justify="right")
        if zero_shot:  # a source head whose labels match: as it is / refitted
            t.add_column("0-shot / refit", justify="right")
        for col in ("ms/ex", "params", "mem MB", "strategy", "why")[: None if why else -1]:
            t.add_column(col, justify="right" if col in ("ms/ex", "params", "mem MB") else "left")
        for c in self.candidates:
            cost = c.get("cost") or {}
            flag = " ⚠" if c.get("scores_disagree") else ""
            t.add_row(
                "-" if c["rank"] is None else str(c["rank"]),
                c["model"],
                c.get("cut_desc") or ("full" if c["cut"] is None else str(c["cut"])),
                *[_fmt(c["scores"].get(s)) for s in names],
                *([_zero_shot_cell(c.get("zero_shot"))] if zero_shot else []),
                _fmt(cost.get("latency_ms"), ".1f"),
                "" if cost.get("params") is None else f"{cost['params'] / 1e6:.1f}M",
                _fmt(cost.get("peak_memory_mb"), ".0f"),
                (c.get("strategy") or "")
                + (f" ({c['head']} head)" if c.get("head") else "")
                + flag,
                *([c["why"]] if why else []),
            )
        return t


def _zero_shot_cell(zs: dict[str, Any] | None) -> str:
    return "" if not zs else f"{zs['accuracy']:.3f} / {zs['refit_accuracy']:.3f}"


class _MappingResult(Mapping[str, Any]):
    """A typed result that also reads like the dict it replaces (``r["accuracy"]``), so
    code and reports written against the dict keep working; `to_dict()` gives the dict."""

    def _fields(self) -> list[str]:
        return [f.name for f in fields(self)]  # type: ignore[arg-type]

    def __getitem__(self, key: str) -> Any:
        if key not in self._fields():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return len(self._fields())

    def to_dict(self) -> dict[str, Any]:
        """The plain dict (`--json` output, before `to_jsonable`)."""
        return {k: getattr(self, k) for k in self._fields()}


@dataclass(eq=False)
class EvaluationReport(_MappingResult):
    """`evaluate`'s result: accuracy, macro-F1, examples, per-class precision/recall/F1
    and the confusion matrix ({"labels", "matrix"}, rows = true classes)."""

    accuracy: float
    macro_f1: float
    n: int
    per_class: dict[str, dict[str, float]]
    confusion: dict[str, Any]


@dataclass(eq=False)
class MultiLabelReport(_MappingResult):
    """`evaluate`'s result for a multi-label model (`core.metrics.multilabel_report`):
    micro/macro/sample F1, subset accuracy, Hamming loss, per-label precision/recall/F1/
    support/threshold, and the thresholds used (one per label, in `labels` order)."""

    micro_f1: float
    macro_f1: float
    samples_f1: float
    subset_accuracy: float
    hamming_loss: float
    n: int
    labels: list[str]
    per_label: dict[str, dict[str, Any]]
    thresholds: list[float] | None
    task: str = "multi-label"


@dataclass(eq=False)
class RegressionReport(_MappingResult):
    """`evaluate`'s result for a regression model (`core.metrics.regression_report`), in
    the target's units: MAE, RMSE, R², Spearman, Pearson (None where undefined), n."""

    mae: float
    rmse: float
    r2: float | None
    spearman: float | None
    pearson: float | None
    n: int
    target: str = "score"
    task: str = "regression"


@dataclass(eq=False)
class CompareResult(_MappingResult):
    """`compare`'s result; see `evaluation.report` for the shape of each section."""

    task: dict[str, Any]
    transfer: dict[str, Any] | None
    scratch: dict[str, Any] | None
    classical: dict[str, Any] | None
    time_to_reach: dict[str, Any] | None
    learning_curve: list[dict[str, Any]]
    domain_gap: dict[str, Any] | None
    warnings: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    notes: list[str]


@dataclass(eq=False)
class CandidateRow(_MappingResult):
    """One candidate of `rank`: a model (and cut point), its scores and cost, and where
    it ranks and why. A candidate that could not be scored has its `error`, rank None."""

    model: str
    cut: int | None
    cut_desc: str | None
    features_only: bool | None
    scores: dict[str, float]
    cost: dict[str, Any]
    error: str | None
    dim: int | None = None
    strategy: str | None = None
    transferability: float | None = None
    scored_by_prefix: dict[str, Any] | None = None  # a tuned candidate scored by its cut
    utility: float | None = None
    rank: int | None = None
    score_spread: int | None = None
    scores_disagree: bool | None = None
    why: str = ""
    # a candidate whose source head matches the data's labels: the head as it is on the
    # scored sample ({"accuracy", "macro_f1", "refit_accuracy", "n"}), else None
    zero_shot: dict[str, Any] | None = None
    head: str | None = None  # "reuse" (as it is) | "tune" (head refitted) | "new"
    expected_accuracy: float | None = None  # the accuracy figure the choice compares
    estimated_seconds: float | None = None  # its strategy's estimate, measured throughput

    @classmethod
    def from_dict(cls, row: Mapping[str, Any]) -> CandidateRow:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in names})


HEAD_CHOICES = ("reuse", "tune", "new")


@dataclass(eq=False)
class Recommendation(_MappingResult):
    """What `rank` recommends and `fit --base auto` starts from (one decision for both).

    `head`: "reuse" (the source head as it is: strategy "none"), "tune" (the source head
    kept and refitted: strategy "probe") or "new" (a new head). `head_reason` is one
    sentence naming the zero-shot figure when a source head was considered. When a
    cheaper candidate was preferred to a better-scored one within `noise`,
    `preferred_to` names that one ({"model", "cut", "expected_accuracy",
    "estimated_seconds"}); `why` says it in words."""

    model: str
    cut: int | None
    strategy: str
    why: str
    head: str = "new"
    head_reason: str = ""
    strategy_reason: str = ""  # why this strategy on this base, without time estimates
    zero_shot: dict[str, Any] | None = None  # the considered source head's figures
    expected_accuracy: float | None = None
    estimated_seconds: float | None = None
    noise: float | None = None  # half-width within which two candidates count as equal
    preferred_to: dict[str, Any] | None = None

    @property
    def ref(self) -> str:
        """The base reference `fit` takes: ``model`` or ``model@cut``."""
        return self.model if self.cut is None else f"{self.model}@{self.cut}"
