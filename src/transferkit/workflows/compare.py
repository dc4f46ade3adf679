"""`compare`: prove (or disprove) that transfer helped, on the user's own data.

One call trains, on the same split and within one budget:

- **transfer**: `transferkit.fit` from the pretrained base (its strategy, head
  reused when the labels match);
- **scratch**: the same architecture from random initialisation, same trainer
  (`evaluation.scratch` on `core.trainer`);
- **classical**: TF-IDF + logistic regression (text) or downscaled pixels + logistic
  regression (images), `evaluation.baselines`;

over several seeds (mean, 95% interval), with per-epoch train/validation curves, the
final train-minus-evaluation gap (overfitting), the time the transfer model needed to
reach the scratch model's best validation accuracy, a learning curve over training
sizes, a domain-gap check, and warnings (`evaluation.warnings`). Returns a `CompareResult` (read like a dict)
that `evaluation.report.render_html` draws. One run of each method and the per-method
summary live in `evaluation.methods`; the reference sample in `evaluation.reference`.

Stages: `split_data` → `describe_task` → `_Runner.first_seeds` → `domain_gap` →
`_Runner.more_seeds` → `summarise_methods` → `learning_curve` → `finish`.

Data: `train` is split once (seed 0) into a fitting part and a 10% stratified
validation part (used by every method for early stopping and curves) when every class
has >= 10 examples; `eval` is the test data, used only for the reported scores.

Budget: work runs in priority order (seed 0 of transfer (always run), classical, scratch; domain
gap; further seeds; learning-curve points, small first); a unit whose estimated cost
exceeds what is left is skipped and listed in ``result["skipped"]`` with the reason.
Scratch runs get a time limit (at most half of what is left), and say so when hit.

>>> # from transferkit.workflows.compare import compare
>>> # r = compare("train.csv", eval="test.csv", seeds=3, report="report.html")
>>> # r["transfer"]["accuracy"], r["warnings"]
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transferkit.core.devices import runs_on_device
from transferkit.core.results import CompareResult
from transferkit.errors import DataError, InputError
from transferkit.evaluation.methods import (
    FrozenFeatures,
    curves_of,
    epoch_seconds_of,
    score_run,
    torch_predict,
)
from transferkit.workflows.fit import fit

logger = logging.getLogger(__name__)

METHODS = ("transfer", "scratch", "classical")
# With a budget, the first transfer run may use this share of what is left after the
# classical baseline (seconds) when the from-scratch run still has to be measured: every
# column gets a figure or a stated reason, instead of transfer spending the whole budget.
TRANSFER_SHARE = 0.6


@dataclass(frozen=True)
class CompareOptions:
    """Every option of `compare` but the data (see `compare` for what each one means)."""

    base: str = "auto"
    strategy: str = "auto"
    seeds: int = 3
    sizes: str | Sequence[int | str] | None = "8,32,128,all"
    budget: float | None = None
    report: str | os.PathLike[str] | None = None
    json_path: str | os.PathLike[str] | None = None
    reference: Any = None
    text_column: str | None = None
    label_column: str | None = None
    scratch: bool = True
    classical: bool = True
    epochs: int | None = None
    scratch_epochs: int | None = None
    scratch_time_limit: float | None = None


@dataclass
class Split:
    """The data of one comparison: all training data, its fitting and validation parts
    (the validation part shared by every method), the test data, and what was said."""

    data: Any
    fit_data: Any
    val: Any | None
    test: Any
    notes: list[str]


def check_output_path(
    path: str | os.PathLike[str] | None, what: str, inputs: tuple[Any, ...] = ()
) -> Path | None:
    """Fail before any training when an output path cannot be written or is one of the
    `inputs` (None: no output)."""
    from transferkit.evaluation.report import check_output_path as check
    from transferkit.utils.paths import check_out_file

    if path is None:
        return None
    out = check(path, what)
    check_out_file(path, flag=what, inputs=inputs)
    return out


class _Clock:
    """The comparison's budget: what is left, and what was skipped and why."""

    def __init__(self, budget: float | None, say: Callable[[str], None]) -> None:
        self.budget = budget
        self.start = time.time()
        self.skipped: list[dict[str, str]] = []
        self.say = say

    @property
    def left(self) -> float:
        return math.inf if self.budget is None else self.budget - (time.time() - self.start)

    def fits(self, what: str, estimate: float) -> bool:
        if self.budget is None or estimate <= self.left:
            return True
        why = (
            f"budget: needs about {estimate:.0f} s, {max(0.0, self.left):.0f} s left of "
            f"{self.budget:g} s (raise --budget to measure it)"
        )
        self.skipped.append({"what": what, "why": why})
        self.say(f"skipped {what}: {why}")
        return False


def run_transfer(
    fit_data: Any,
    val: Any,
    test: Any,
    *,
    base: str,
    strategy: str,
    seed: int,
    budget: float | None,
    text_column: str | None,
    label_column: str | None,
    epochs: int | None = None,
    frozen: FrozenFeatures | None = None,
) -> dict[str, Any]:
    """`transferkit.fit` on `fit_data` (early stopping on `val`), scored on `test`. With
    `frozen`, a probe's scoring reuses features of its frozen body."""

    t0, c0 = time.time(), time.process_time()
    r = fit(
        fit_data,
        base=base,
        strategy=strategy,
        eval=val,
        seed=seed,
        budget=budget,
        epochs=epochs,
        progress=False,
    )
    wall, cpu = time.time() - t0, time.process_time() - c0
    memo = frozen if r.strategy == "probe" else None  # only a probe's body is untouched
    if memo is not None:
        memo.known(fit_data)
    scored = score_run(torch_predict(r.model, fit_data.classes, memo), test, fit_data)
    return {
        "seed": seed,
        "wall": wall,
        "cpu": cpu,
        "fit_train_seconds": r.train_seconds,
        "budget_seconds": budget,  # the share of compare's budget this run was given
        "strategy": r.strategy,
        "reason": r.reason,
        "history": r.history,
        "curves": curves_of(r.history),
        "epoch_seconds": epoch_seconds_of(r.history, r.train_seconds),
        "val_accuracy": (r.eval or {}).get("accuracy"),
        "zero_shot": r.zero_shot,
        "notes": list(r.summary),
        **scored,
    }


# ---------------------------------------------------------------- stages


def split_data(train: Any, eval: Any, opts: CompareOptions) -> Split:  # noqa: A002
    """Stage 1: the test data (`eval`, else 20% of train) and a 10% validation part."""
    from transferkit.data.datasets import (
        check_eval_labels,
        check_trainable,
        load_labelled,
        stratified_split,
    )

    cols = {"text_column": opts.text_column, "label_column": opts.label_column}
    notes: list[str] = []
    data = load_labelled(train, **cols, what="train")
    check_trainable(data)
    if eval is not None:
        test = load_labelled(eval, **cols, what="eval")
        check_eval_labels(data, test)
    else:
        if min(data.counts().values()) < 5:
            raise DataError(
                f"{data.source}: a class has fewer than 5 examples, too few to hold out a test "
                "set; pass separate evaluation data with --eval"
            )
        data, test = stratified_split(data, 0.2, 0)
        notes.append(
            f"no --eval: {len(test)} examples (20%, stratified, seed 0) held out of train as the test set"
        )
    if min(data.counts().values()) >= 10:
        fit_data, val = stratified_split(data, 0.1, 0)
        notes.append(
            f"validation: {len(val)} examples (10% of train, stratified, seed 0) for early stopping and curves, shared by all methods"
        )
    else:
        fit_data, val = data, None
        notes.append(
            "no validation split (a class has < 10 examples): no early stopping, no validation curves"
        )
    return Split(data, fit_data, val, test, notes)


def describe_task(
    train: Any, split: Split, base_name: str, labels: list[str], head: str, opts: CompareOptions
) -> dict[str, Any]:
    """Stage 2: the task section of the result (data sizes, base, head reused or new)."""
    data, classes = split.data, split.data.classes
    return {
        "name": Path(str(getattr(data, "source", "data"))).stem
        if isinstance(train, str | os.PathLike)
        else data.source,
        "modality": data.modality,
        "base": base_name,
        "classes": classes,
        "head": head,
        "head_note": (
            f"same classes: the source head of {base_name} ({', '.join(labels)}) is reused"
            if head == "reused"
            else f"new classes: a new head for {len(classes)} classes"
            + (f" replaces the source head ({len(labels)} labels)" if labels else "")
        ),
        "n_train": len(data),
        "n_fit": len(split.fit_data),
        "n_val": len(split.val) if split.val is not None else 0,
        "n_eval": len(split.test),
        "seeds": opts.seeds,
        "budget_seconds": opts.budget,
    }


class _Runner:
    """Runs one method on one seed (and data part) within the budget; remembers what the
    first runs cost, to estimate the next ones, and the transfer strategy resolved."""

    def __init__(self, split: Split, template: Any, base: str, clock: _Clock, opts: CompareOptions):
        self.split, self.template, self.base, self.clock, self.opts = (
            split,
            template,
            base,
            clock,
            opts,
        )
        self.resolved = opts.strategy
        self.frozen = FrozenFeatures()  # a probe's body and the source body: test set encoded once
        self.measured: dict[str, float] = {}
        self.runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
        self.n_runs = 0

    def _what(self, method: str, seed: int, part: Any) -> str:
        size = "" if part is self.split.fit_data else f" ({len(part)} examples)"
        return f"{method} seed {seed}{size}"

    def classical(self, seed: int, part: Any = None) -> dict[str, Any] | None:
        from transferkit.evaluation.methods import run_classical

        part = part if part is not None else self.split.fit_data
        est = self.measured.get("classical", 2.0 + len(part) / 1000) * max(
            1.0, len(part) / len(self.split.fit_data)
        )
        if not self.clock.fits(self._what("classical", seed, part), est):
            return None
        r = run_classical(part, self.split.test, seed=seed)
        self.measured.setdefault("classical", r["wall"])
        return r

    def _transfer_estimate(self, part: Any) -> float:
        if "transfer" in self.measured:
            return self.measured["transfer"] * max(0.2, len(part) / len(self.split.fit_data))
        from transferkit.core.strategies import choose_strategy, n_params

        plan = choose_strategy(
            self.opts.strategy,
            modality=part.modality,
            counts=part.counts(),
            budget=None,
            params=n_params(self.template),
        )
        return plan.estimated_seconds

    def transfer(self, seed: int, part: Any = None) -> dict[str, Any] | None:
        part = part if part is not None else self.split.fit_data
        first, clock = "transfer" not in self.measured, self.clock
        # the first transfer run is the point of the comparison: it always runs, with most
        # of what the classical baseline left, and scratch keeps the rest (TRANSFER_SHARE)
        if not first and not clock.fits(
            self._what("transfer", seed, part), self._transfer_estimate(part)
        ):
            return None
        fit_budget = None
        if clock.budget is not None:
            share = TRANSFER_SHARE if first and self.opts.scratch else 1.0
            fit_budget = max(1.0, clock.left * share)
        r = run_transfer(
            part,
            self.split.val,
            self.split.test,
            base=self.base,
            strategy=self.resolved,
            seed=seed,
            budget=fit_budget,
            text_column=self.opts.text_column,
            label_column=self.opts.label_column,
            epochs=self.opts.epochs,
            frozen=self.frozen,
        )
        if first:
            self.measured["transfer"] = r["wall"]
            self.resolved = r["strategy"]  # every later run (seeds, curve) uses the same strategy
        return r

    def scratch(self, seed: int, part: Any = None) -> dict[str, Any] | None:
        from transferkit.evaluation.methods import run_scratch

        part = part if part is not None else self.split.fit_data
        limit = self.opts.scratch_time_limit
        if self.clock.budget is not None:
            half = max(1.0, self.clock.left / 2)
            limit = half if limit is None else min(limit, half)
            if self.clock.left < 5:
                self.clock.fits(self._what("scratch", seed, part), 5.0)
                return None
        return run_scratch(
            self.template,
            part,
            self.split.val,
            self.split.test,
            seed=seed,
            time_limit=limit,
            epochs=self.opts.scratch_epochs,
        )

    def methods(self, order: Sequence[str]) -> list[tuple[str, Callable[..., Any]]]:
        on = {"transfer": True, "classical": self.opts.classical, "scratch": self.opts.scratch}
        return [(m, getattr(self, m)) for m in order if on[m]]

    def ran(self, what: str, r: dict[str, Any] | None) -> dict[str, Any] | None:
        """Say that a run ended: the progress of a comparison, one line a run (a log and CI
        see work moving; minutes can pass between lines)."""
        if r is not None:
            self.n_runs += 1
            acc = r.get("report", {}).get("accuracy")
            score = "" if acc is None else f", test accuracy {acc:.3f}"
            self.clock.say(
                f"[{self.n_runs} run(s), {time.time() - self.clock.start:.0f} s] {what}: "
                f"{r['wall']:.1f} s{score}"
            )
        return r

    def first_seeds(self) -> None:
        """Seed 0 of every method: the classical baseline first (seconds), then transfer
        (it always runs, within its share of the budget), then scratch with the rest."""
        for method, fn in self.methods(("classical", "transfer", "scratch")):
            if r := self.ran(f"{method} seed 0", fn(0)):
                self.runs[method].append(r)

    def more_seeds(self) -> None:
        """Seeds 1.. of every method that ran seed 0, round-robin, while the budget lasts."""
        for seed in range(1, self.opts.seeds):
            for method, fn in self.methods(("transfer", "classical", "scratch")):
                if self.runs[method] and (r := self.ran(f"{method} seed {seed}", fn(seed))):
                    self.runs[method].append(r)


def summarise_methods(runner: _Runner, task: dict[str, Any]) -> dict[str, Any]:
    """Stage: each method's summary, time to reach scratch's best, and what was skipped."""
    from transferkit.evaluation.methods import summarise, time_to_reach

    runs, skipped, opts = runner.runs, runner.clock.skipped, runner.opts
    out: dict[str, Any] = {}
    for method in METHODS:
        out[method] = summarise(runs[method], len(runner.split.test)) if runs[method] else None
    if out["transfer"]:
        task["strategy"] = out["transfer"].get("strategy")
        task["strategy_reason"] = out["transfer"].get("reason")
        out["transfer"]["runs_val_accuracy"] = runs["transfer"][0].get("val_accuracy")
    for method, on in (("scratch", opts.scratch), ("classical", opts.classical)):
        if not on:
            skipped.append({"what": method, "why": f"turned off ({method}=False / --no-{method})"})
    for method in METHODS:
        if out[method] is None and not any(s["what"] == method for s in skipped):
            skipped.append({"what": method, "why": "budget: not even its first seed fitted"})
    if out["transfer"] and out["transfer"].get("curves") is None:
        why = f"strategy {runner.resolved!r} trains no epochs (no per-epoch curve)"
        skipped.append({"what": "transfer.curves", "why": why})
    if out["scratch"] and runner.split.val is None:
        why = "needs a validation split (every class >= 10 examples)"
        skipped.append({"what": "time_to_reach", "why": why})
    both = out["transfer"] and out["scratch"]
    out["time_to_reach"] = time_to_reach(out["transfer"], out["scratch"]) if both else None
    return out


def learning_curve(runner: _Runner, size_list: list[Any]) -> list[dict[str, Any]]:
    """Stage: accuracy of every method at each training size per class (small first)."""
    from transferkit.evaluation.curves import curve_point, plan_sizes, subsample_per_class

    fit_data, clock, runs = runner.split.fit_data, runner.clock, runner.runs
    n_classes = len(fit_data.classes)
    if not size_list:
        clock.skipped.append({"what": "learning_curve", "why": "no sizes requested"})
        return []
    points: list[dict[str, Any]] = []
    ok, skipped_sizes = plan_sizes(fit_data.counts(), size_list)
    clock.skipped += skipped_sizes
    for k in ok:
        if k == "all":
            accs = {m: [r["report"]["accuracy"] for r in runs[m]] for m in METHODS}
            points.append(curve_point("all", len(fit_data), n_classes, accs))
            continue
        accs = {m: [] for m in METHODS}
        for seed in range(runner.opts.seeds):
            part = subsample_per_class(fit_data, int(k), 1000 + seed)
            for method, fn in runner.methods(("classical", "transfer", "scratch")):
                if r := runner.ran(f"curve {k}/class {method} seed {seed}", fn(seed, part)):
                    accs[method].append(r["report"]["accuracy"])
        if any(accs.values()):
            points.append(curve_point(k, int(k) * n_classes, n_classes, accs))
    if len(points) < 2:
        why = "; ".join(f"{s['what']}: {s['why']}" for s in skipped_sizes)
        clock.skipped.append(
            {
                "what": "learning_curve",
                "why": "fewer than 2 sizes could be measured: " + (why or "see the budget notes"),
            }
        )
    return points if len(points) >= 2 else []


def finish(result: CompareResult, report_path: Path | None, json_out: Path | None) -> None:
    """Stage: log the warnings, write the HTML report and the JSON file if asked."""
    for w in result.warnings:
        logger.warning("%s: %s", w["kind"], w["message"])
    if report_path is not None:
        from transferkit.evaluation.report import render_html

        render_html(result, report_path)
    if json_out is not None:
        from transferkit.evaluation.report import write_json

        write_json(result, json_out)


# ---------------------------------------------------------------- the comparison


def _check(opts: CompareOptions) -> None:
    if not isinstance(opts.seeds, int) or opts.seeds < 1:
        raise InputError(
            f"seeds={opts.seeds!r}; pass a whole number >= 1 (3 or more to call differences)"
        )
    if opts.budget is not None and opts.budget <= 0:
        raise InputError(f"budget={opts.budget!r} seconds must be positive, or None for no limit")


def _load_base(split: Split, opts: CompareOptions) -> tuple[str, Any, Any, list[str], str]:
    """(base name, template body, source classifier or None, its labels, head)."""
    from transferkit.models.classifier import match_head
    from transferkit.models.factory import load_backbone, load_model
    from transferkit.workflows.fit import auto_base

    data = split.data
    base_name = auto_base(data)[0] if opts.base == "auto" else opts.base
    template = load_backbone(base_name)
    if template.modality != data.modality:
        raise InputError(
            f"base {base_name!r} is a {template.modality} model but the data is {data.modality}"
        )
    try:
        source = load_model(base_name)
    except (InputError, LookupError):
        source = None  # a feature extractor: no source head
    labels = list(getattr(source, "labels", None) or [])
    head = "reused" if source is not None and match_head(labels, data.classes) else "new"
    return base_name, template, source, labels, head


def run_compare(
    train: Any, eval: Any, opts: CompareOptions, say: Callable[[str], None]
) -> CompareResult:  # noqa: A002
    """Run the stages of `compare` with options `opts`."""
    from transferkit.evaluation.curves import parse_sizes
    from transferkit.evaluation.warnings import transfer_warnings

    _check(opts)
    inputs = (train, eval, opts.reference)
    report_path = check_output_path(opts.report, "report", inputs)
    json_out = check_output_path(opts.json_path, "JSON result", inputs)
    size_list = parse_sizes(opts.sizes)
    clock = _Clock(opts.budget, say)
    split = split_data(train, eval, opts)
    base_name, template, source, labels, head = _load_base(split, opts)
    task = describe_task(train, split, base_name, labels, head, opts)
    say(
        f"comparing on {len(split.fit_data)} training examples, {len(split.test)} test examples, base {base_name}, {opts.seeds} seed(s)"
    )
    runner = _Runner(split, template, base_name, clock, opts)
    runner.first_seeds()
    gap: dict[str, Any] | None = None
    if clock.fits("domain_gap", 5.0 + 0.02 * len(split.test)):
        gap = _domain_gap(
            source, template, split.fit_data, split.test, base_name, labels, opts.reference,
            opts.text_column, clock, runner.frozen,
        )  # fmt: skip
    runner.more_seeds()
    sections = summarise_methods(runner, task)
    points = learning_curve(runner, size_list)
    if gap is None and not any(s["what"] == "domain_gap" for s in clock.skipped):
        clock.skipped.append({"what": "domain_gap", "why": "nothing could be measured"})
    task["elapsed_seconds"] = round(time.time() - clock.start, 1)
    result = CompareResult(
        task=task, **sections, learning_curve=points, domain_gap=gap, warnings=[],
        skipped=clock.skipped, notes=split.notes,
    )  # fmt: skip
    result.warnings = transfer_warnings(result)
    finish(result, report_path, json_out)
    return result


@runs_on_device
def compare(
    train: Any,
    *,
    eval: Any = None,  # noqa: A002 - the name users expect (`--eval`)
    base: str = "auto",
    strategy: str = "auto",
    seeds: int = 3,
    sizes: str | Sequence[int | str] | None = "8,32,128,all",
    budget: float | None = None,
    report: str | os.PathLike[str] | None = None,
    json_path: str | os.PathLike[str] | None = None,
    reference: Any = None,
    text_column: str | None = None,
    label_column: str | None = None,
    scratch: bool = True,
    classical: bool = True,
    epochs: int | None = None,
    scratch_epochs: int | None = None,
    scratch_time_limit: float | None = None,
    say: Callable[[str], None] | None = None,
    device: str = "auto",
    task: str | None = None,
    label_sep: str = "|",
) -> CompareResult:
    """Compare transfer from `base` with scratch and classical baselines; return the result.

    train / eval: anything `transferkit.fit` reads (table file, image folder,
    DataFrame, (texts, labels)). reference: a sample of the source domain for the
    domain-gap check, inputs only (`evaluation.reference.load_reference`): a table with a
    text column or a .txt file, a folder of images with or without class subfolders, a
    list of inputs; None: a generic English sample for text, no check for images. Without
    `eval`, 20% of train (stratified, seed 0) becomes the test set.
    seeds: runs per method (>= 1; 3+ to call differences). sizes: learning-curve sizes
    per class plus "all" (None or "" for no curve). budget: wall seconds for everything.
    report / json_path: files written at the end; their folders are checked first.
    epochs: epochs of the transfer fit (gradient strategies; default: fit's own).
    scratch_epochs / scratch_time_limit: cap the from-scratch runs (text transformers
    from scratch are slow on CPU); the result says when a cap stopped a run.
    device: "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu", "cuda",
    "cuda:N" or "mps" (`core.devices`; mixed precision on CUDA).
    task / label_sep: as in `fit` (None infers the task). Multi-label data and numeric
    targets are compared by `workflows.compare_targets` (the matching classical baseline,
    figures of their kind, a calibration / predicted-vs-true report).

    Result (a `CompareResult`, read like a dict; `to_dict()`): task, transfer, scratch,
    classical, time_to_reach, learning_curve, domain_gap, warnings, skipped, notes (see
    `evaluation.report` for the section shapes).
    """
    opts = CompareOptions(
        base=base,
        strategy=strategy,
        seeds=seeds,
        sizes=sizes,
        budget=budget,
        report=report,
        json_path=json_path,
        reference=reference,
        text_column=text_column,
        label_column=label_column,
        scratch=scratch,
        classical=classical,
        epochs=epochs,
        scratch_epochs=scratch_epochs,
        scratch_time_limit=scratch_time_limit,
    )
    say = say or (lambda msg: logger.info(msg))
    from transferkit.data.datasets import load_labelled

    cols = {"text_column": text_column, "label_column": label_column}
    data = load_labelled(train, **cols, task=task, label_sep=label_sep, what="train")
    if data.task != "single-label":
        from transferkit.workflows.compare_targets import compare_targets

        return compare_targets(data, eval, opts, say)
    return run_compare(train, eval, opts, say)


def _domain_gap(
    source: Any,
    template: Any,
    fit_data: Any,
    test: Any,
    base_name: str,
    labels: list[str],
    reference: Any,
    text_column: str | None,
    clock: _Clock,
    frozen: Any = None,
) -> dict[str, Any] | None:
    from transferkit.evaluation.warnings import feature_gap, source_head_check

    gap: dict[str, Any] = {}
    if source is not None:
        gap["source"] = f"{base_name} head ({len(labels)} labels)"
        gap.update(source_head_check(source, test, frozen=frozen))
    from transferkit.evaluation.reference import load_reference

    ref_items, ref_name = load_reference(reference, fit_data.modality, text_column=text_column)
    gap["reference"] = ref_name
    if ref_items is None:
        clock.skipped.append({"what": "domain_gap.a_distance", "why": ref_name})
    elif len(ref_items) < 5 or len(fit_data) < 5:
        clock.skipped.append(
            {"what": "domain_gap.a_distance", "why": "fewer than 5 reference or target examples"}
        )
    else:
        pad = feature_gap(template, ref_items, fit_data.items, frozen=frozen)
        gap.update({k: v for k, v in pad.items() if k != "folds"})
    return gap or None
