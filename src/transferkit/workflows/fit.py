"""`fit`: adapt a pretrained model to labelled data, in named stages.

read data → choose the base (``base="auto"`` runs `select.rank`) → load it and put a
head on it → plan the strategy → train (`adapt.adapt`, on the one trainer) → assess on
the evaluation data → save. Each stage is a function of this module; `fit` is the
keyword front that packs its options into a frozen `FitOptions` and runs them.

>>> # r = fit("train.csv", base="minilm-l6", out="my-model")
>>> # r.strategy, r.reason, r.eval["accuracy"]
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferkit.core.devices import current_device, describe, runs_on_device
from transferkit.core.distributed import is_rank_zero
from transferkit.core.inference import predict_logits
from transferkit.core.results import EVAL_HEADLINE, FitResult
from transferkit.errors import InputError
from transferkit.workflows.autobase import DEFAULT_BASES, BaseChoice, choose_base

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_BASES", "FitOptions", "FitResult", "auto_base", "fit", "run_fit"]


@dataclass(frozen=True)
class FitOptions:
    """Every option of `fit` but the data (see `fit` for what each one means)."""

    base: str = "auto"
    strategy: str = "auto"
    text_column: str | None = None
    label_column: str | None = None
    budget: float | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    val_fraction: float = 0.1
    freeze_groups: int | None = None
    lora_targets: str = "qv"
    lora_rank: int = 8
    patience: int | None = 2
    seed: int = 0
    out: str | os.PathLike[str] | None = None
    resume: bool = True
    progress: bool = True
    overwrite: bool = False
    label_map: dict[str, str] | None = None  # {data label: source-head label}
    task: str | None = None  # None: inferred from the label column
    label_sep: str = "|"
    class_weight: str | None = None  # None | "balanced"
    regression_loss: str = "mse"  # "mse" | "huber"


@dataclass
class FitData:
    """Stage 1's output: what to train on, what to validate on, and what was said."""

    train: Any
    eval: Any | None
    fingerprint: str  # of the training data as given, before any validation split
    notes: list[str]
    given: Any = None  # the training data as given (what `rank` on the same file sees)
    validation: str = "the validation data"  # what `eval` is, in words (for the notes)


def auto_base(data: Any, *, budget: float | None = None) -> tuple[str, str]:
    """The base for `base="auto"` and why: `transferkit rank`'s recommendation on `data`
    (see :mod:`transferkit.workflows.autobase`)."""
    choice = choose_base(data, budget=budget)
    return choice.ref, choice.reason


# ---------------------------------------------------------------- stages


def read_data(train: Any, eval: Any, opts: FitOptions) -> FitData:  # noqa: A002
    """Stage 1: load train (and eval, read as the same task); without eval, hold out a
    stratified `val_fraction` of train when every class has >= 10 examples (single-label)
    or train has >= MIN_ROWS_TO_HOLD_OUT rows (multi-label, regression)."""
    from transferkit.data.datasets import (
        check_eval_labels,
        check_trainable,
        load_labelled,
        stratified_split,
    )

    cols: dict[str, Any] = {"text_column": opts.text_column, "label_column": opts.label_column}
    kw: dict[str, Any] = {"label_sep": opts.label_sep}
    data = given = load_labelled(train, **cols, what="train", task=opts.task, **kw)
    check_trainable(data)
    notes = [f"task {data.task} ({data.task_how}): {data.task_reason}", *data.notes]
    fingerprint = data.fingerprint()
    eval_data, validation = None, "the validation data"
    if eval is not None:
        eval_data = load_labelled(eval, **cols, what="eval", task=data.task, **kw)
        check_eval_labels(data, eval_data)
        notes += eval_data.notes
        validation = f"the --eval data ({eval_data.source})"
    elif _can_hold_out(data):
        data, eval_data = stratified_split(data, opts.val_fraction, opts.seed)
        validation = f"{len(eval_data)} examples held out of train"
        notes.append(f"validation: {validation} (stratified, seed {opts.seed})")
    else:
        notes.append(
            "no evaluation data and too few examples to hold some out "
            f"({_hold_out_rule(data)}): no validation split"
        )
    return FitData(data, eval_data, fingerprint, notes, given, validation)


MIN_ROWS_TO_HOLD_OUT = 50  # multi-label / regression rows before a validation split


def _can_hold_out(data: Any) -> bool:
    if data.task == "single-label":
        return min(data.counts().values()) >= 10
    return len(data) >= MIN_ROWS_TO_HOLD_OUT


def _hold_out_rule(data: Any) -> str:
    if data.task == "single-label":
        return "a class has fewer than 10"
    return f"fewer than {MIN_ROWS_TO_HOLD_OUT} rows"


def pick_base(data: Any, opts: FitOptions) -> BaseChoice | None:
    """Stage 2: with ``base="auto"``, rank's recommendation on `data`, the training data
    as given (None: the user's base). Its strategy is dropped when the user gave one."""
    if opts.base != "auto":
        return None
    choice = choose_base(
        data,
        budget=opts.budget,
        seed=opts.seed,
        progress=opts.progress,
        label_map=opts.label_map,
    )
    if opts.strategy != "auto":  # the user's explicit strategy is kept as given
        choice.strategy = None
    return choice


def plan_strategy(base: Any, data: Any, opts: FitOptions, choice: BaseChoice | None) -> Any:
    """Stage 3: the strategy and its hyper-parameters (`core.strategies.choose_strategy`),
    rank's strategy when it chose the base; who chose it is in `Plan.chosen_by`."""
    from transferkit.core.strategies import choose_strategy, n_params

    ranked = choice is not None and choice.strategy is not None
    plan = choose_strategy(
        choice.strategy if ranked else opts.strategy,  # type: ignore[union-attr,arg-type]
        modality=data.modality,
        counts=data.counts(),
        budget=opts.budget,
        params=n_params(base.backbone),
        epochs=opts.epochs,
        lr=opts.lr,
        batch_size=opts.batch_size,
        kind=data.task,
        n=len(data),
    )
    if ranked:
        plan = dataclasses.replace(
            plan,
            reason=f"rank recommends it for {base.ref}: {choice.strategy_reason}",  # type: ignore[union-attr]
            chosen_by="rank",
        )
    if plan.strategy == "lora" and base.config.get("body"):
        raise InputError(
            f"base {base.ref!r} has a fine-tuned body; LoRA on top of it is not supported. "
            "Use strategy 'partial' or 'full'."
        )
    return plan


def assess(clf: Any, eval_data: Any | None) -> dict[str, Any] | None:
    """Stage 5: the report of the problem's kind on the evaluation data (None without it):
    a classification report, a multi-label report at the model's thresholds, or a
    regression report in the target's units (`core.metrics`)."""
    from transferkit.adapt.base import report

    if eval_data is None:
        return None
    logits = predict_logits(clf, eval_data.items)
    problem = clf.problem
    if problem.kind == "single-label":
        return report(clf.labels, eval_data.labels, logits.argmax(1))
    import dataclasses

    from transferkit.core.metrics import multilabel_report, regression_report

    truth = dataclasses.replace(eval_data, classes=list(clf.labels)).targets()
    if problem.kind == "regression":
        return regression_report(truth, problem.scores(logits))
    th = problem.label_thresholds(len(clf.labels))
    pred = (problem.scores(logits) >= th).astype(int)
    return multilabel_report(truth.astype(int), pred, clf.labels, th.tolist())


def headline(ev: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The figures of an evaluation report that `--json` and the folder's metrics keep."""
    if ev is None:
        return None
    return {k: ev[k] for k in EVAL_HEADLINE[kind] if k in ev}


def _said(ev: dict[str, Any], kind: str) -> str:
    """The evaluation in one line of the summary."""
    if kind == "multi-label":
        return (
            f"eval micro-F1 {ev['micro_f1']:.4f}, macro-F1 {ev['macro_f1']:.4f}, subset "
            f"accuracy {ev['subset_accuracy']:.4f} (n={ev['n']})"
        )
    if kind == "regression":
        sp = "-" if ev["spearman"] is None else f"{ev['spearman']:.4f}"
        return f"eval Spearman {sp}, MAE {ev['mae']:.4f}, RMSE {ev['rmse']:.4f} (n={ev['n']})"
    return f"eval accuracy {ev['accuracy']:.4f}, macro-F1 {ev['macro_f1']:.4f} (n={ev['n']})"


def save(result: FitResult, fd: FitData, adapted: Any, plan: Any, opts: FitOptions) -> str:
    """Stage 6: the model folder (safetensors + transferkit.json saying how it was made);
    the checkpoint folder goes once the model is saved."""
    from transferkit.models.saving import save_classifier

    ev, zs = result.eval, result.zero_shot
    meta = {
        "base_model": result.base,
        "strategy": plan.strategy,
        "reason": plan.reason,
        "base_reason": result.base_reason,
        "hyperparameters": adapted.hyperparameters,
        "metrics": {
            "eval": headline(ev, result.task),
            "zero_shot_accuracy": zs["accuracy"] if zs else None,
        },
        "train_seconds": round(result.train_seconds, 2),
        "data": {
            "fingerprint": fd.fingerprint,
            "source": fd.train.source,
            "n_train": len(fd.train),
            "counts": fd.train.counts(),
        },
        "notes": fd.notes,
    }
    assert opts.out is not None
    save_classifier(result.model, opts.out, body=adapted.body, meta=meta)
    model_dir = os.fspath(opts.out)  # as the user gave it: no machine path in --json
    shutil.rmtree(_checkpoint_dir(opts.out), ignore_errors=True)
    return model_dir


def _checkpoint_dir(out: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(out)}.checkpoint")


# ---------------------------------------------------------------- fit


def run_fit(train: Any, eval: Any, opts: FitOptions) -> FitResult:  # noqa: A002
    """Run the stages of `fit` with options `opts`."""
    from transferkit.adapt.base import attach_head, load_base, problem_for
    from transferkit.adapt.tuning import AdaptOptions, adapt
    from transferkit.core.objectives import REGRESSION_LOSSES, check_class_weight
    from transferkit.core.strategies import n_params
    from transferkit.utils.checks import check_fit_options
    from transferkit.utils.paths import check_out_dir

    check_fit_options(
        epochs=opts.epochs, lr=opts.lr, batch_size=opts.batch_size, budget=opts.budget,
        freeze_groups=opts.freeze_groups, val_fraction=opts.val_fraction,
        lora_rank=opts.lora_rank, patience=opts.patience, seed=opts.seed,
    )  # fmt: skip
    if opts.out is not None:  # before any work: never replace the user's files
        check_out_dir(
            opts.out, overwrite=opts.overwrite, inputs=(train, eval), sources=(opts.base,)
        )
    t_start = time.time()
    fd = read_data(train, eval, opts)
    check_class_weight(opts.class_weight, fd.train.task)
    if opts.regression_loss not in REGRESSION_LOSSES:
        raise InputError(
            f"regression_loss={opts.regression_loss!r}; use 'mse' or 'huber' (--regression-loss)"
        )
    choice = pick_base(fd.given, opts)
    ref = choice.ref if choice is not None else opts.base
    import torch

    torch.manual_seed(opts.seed)
    base = load_base(ref)
    if base.backbone.modality != fd.train.modality:
        raise InputError(
            f"base {ref!r} is a {base.backbone.modality} model but the data is "
            f"{fd.train.modality}; pick a {fd.train.modality} base, e.g. "
            f"{DEFAULT_BASES[fd.train.modality]!r}"
        )
    start = attach_head(base, fd.train.classes, fd.eval, opts.label_map, problem_for(fd.train))
    fd.notes.append(start.note)
    if base.cut is not None:
        fd.notes.append(
            f"cut point {base.cut}: the body keeps its bottom {base.cut} layer groups "
            f"({n_params(base.backbone) / 1e6:.1f}M parameters, "
            f"{base.backbone.embedding_dim}-d features)"
        )
    plan = plan_strategy(base, fd.train, opts, choice)
    ckpt = None if opts.out is None else _checkpoint_dir(opts.out)
    if ckpt is not None and not opts.resume:
        shutil.rmtree(ckpt, ignore_errors=True)
    adapt_opts = AdaptOptions(
        seed=opts.seed,
        lr=opts.lr,
        freeze_groups=opts.freeze_groups,
        lora_targets=opts.lora_targets,
        lora_rank=opts.lora_rank,
        patience=opts.patience,
        deadline=None if opts.budget is None else t_start + opts.budget,
        checkpoint_dir=ckpt,
        fingerprint=fd.fingerprint,
        rank_features=choice is not None and choice.ranked,
        rank_data=fd.given,
        progress=opts.progress,
        class_weight=opts.class_weight,
        regression_loss=opts.regression_loss,
        validation=fd.validation,
    )
    t_train = time.time()
    adapted = adapt(start, base, fd.train, fd.eval, plan, adapt_opts)
    train_seconds = time.time() - t_train
    fd.notes += adapted.notes
    result = _result(start, base, plan, choice, adapted, assess(start.clf, fd.eval), fd)
    start.clf.to("cpu")  # saved and returned device-independent
    result.train_seconds = train_seconds
    if opts.out is not None:
        result.model_dir = str(opts.out)
        if is_rank_zero():  # data-parallel ranks (Ray Train) hold the same model: one writer
            result.model_dir = save(result, fd, adapted, plan, opts)
    return result


def _result(
    start: Any,
    base: Any,
    plan: Any,
    choice: BaseChoice | None,
    adapted: Any,
    ev: dict[str, Any] | None,
    fd: FitData,
) -> FitResult:
    summary = [f"strategy {plan.strategy}: {plan.reason}", *fd.notes]
    reason = plan.reason
    if choice is not None:  # which base, and why, comes first
        summary.insert(0, choice.reason)
        reason = f"{choice.reason}; strategy {plan.strategy}: {plan.reason}"
    kind = start.clf.problem.kind
    if ev is not None:
        summary.append(_said(ev, kind))
    return FitResult(
        model=start.clf,
        model_dir=None,
        base=base.ref,
        strategy=plan.strategy,
        reason=reason,
        train_seconds=0.0,
        eval=ev,
        zero_shot=start.zero_shot,
        summary=summary,
        hyperparameters=adapted.hyperparameters,
        history=adapted.history,
        feature_cache=adapted.feature_cache,
        resumed_from_epoch=adapted.resumed_from,
        base_reason=None if choice is None else choice.reason,
        strategy_chosen_by=plan.chosen_by,
        base_chosen_by="user" if choice is None else choice.chosen_by,
        estimated_seconds=plan.estimated_seconds,
        task=kind,
        task_how=fd.train.task_how,
        task_reason=fd.train.task_reason,
        problem=start.clf.problem.to_config(),
    )


@runs_on_device
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
    device: str = "auto",
    label_map: dict[str, str] | None = None,
    task: str | None = None,
    label_sep: str = "|",
    class_weight: str | None = None,
    regression_loss: str = "mse",
) -> FitResult:
    """Adapt `base` to the labelled data `train`; return a FitResult (saved to `out` if given).

    base: a zoo name, a model folder or a hub id; ``name@k`` starts from cut point k (the
    body truncated to its bottom k layer groups, a smaller network; the saved folder
    records the cut). "auto" runs `transferkit rank` on the training data over the zoo
    models of its modality and their cut points, and takes the recommended model, cut
    and (with ``strategy="auto"``) strategy; `FitResult.base_reason` says why.
    train / eval: a table file (CSV/TSV/JSONL/Parquet), an image folder (root/<class>/*),
    a DataFrame, or (texts, labels). Without `eval`, a stratified `val_fraction` of train
    (fixed seed) is held out when every class has >= 10 examples (multi-label and
    regression: when train has >= 50 rows).
    task: "single-label", "multi-label" or "regression"; None infers it from the label
    column (lists, or strings joined with `label_sep` → multi-label; non-integer numbers
    → regression; anything else, integers included → single-label) and the summary and
    `FitResult.task_reason` say how. Multi-label: sigmoid outputs, BCE, per-label
    thresholds tuned for F1 on the validation data (`eval`, else the held-out part),
    shrunk towards one shared threshold (`core.linear_heads.tune_thresholds`).
    Regression: one output trained on the standardised target with `regression_loss`
    ("mse" or "huber"); predictions come back in the target's units.
    class_weight: None or "balanced" (single-label: class weights n / (k · n_c); multi-
    label: each label's positives weighted n_negative / n_positive), in every strategy.
    strategy: auto | none | probe | partial | full | lora | contrastive ("none": the kept
    source head as it is, no training). budget: wall seconds.
    patience: early stopping on validation accuracy after that many epochs without gain
    (None: off).
    A kept source head (labels match, case-insensitive or through `label_map` {data label:
    source label}) is scored zero-shot first.
    With `out`, a checkpoint folder `<out>.checkpoint` is written every epoch and a rerun
    of the same call resumes from it (`resume=False` starts over). `out` must be new, empty,
    or (with `overwrite=True`) an existing transferkit model folder; see
    `utils.paths.check_out_dir`. Numeric options are checked first (`utils.checks`).
    device: "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu", "cuda",
    "cuda:N" or "mps" (`core.devices`; mixed precision on CUDA).
    The returned model is on the CPU, like the saved folder (device-independent); the
    summary says which device trained it. Distributed fitting: `transferkit.ray.fit`.
    """
    opts = FitOptions(
        base=base,
        strategy=strategy,
        text_column=text_column,
        label_column=label_column,
        budget=budget,
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        val_fraction=val_fraction,
        freeze_groups=freeze_groups,
        lora_targets=lora_targets,
        lora_rank=lora_rank,
        patience=patience,
        seed=seed,
        out=out,
        resume=resume,
        progress=progress,
        overwrite=overwrite,
        label_map=label_map,
        task=task,
        label_sep=label_sep,
        class_weight=class_weight,
        regression_loss=regression_loss,
    )
    result = run_fit(train, eval, opts)
    result.device = describe(current_device())
    result.summary.append(f"device: {result.device}")
    return result
