"""`compare`: prove (or disprove) that transfer helped, on the user's own data.

One call trains, on the same split and within one budget:

- **transfer**: `transferkit.adapt.fit` from the pretrained base (its strategy, head
  reused when the labels match);
- **scratch**: the same architecture from random initialisation, same loop
  (`evaluate.scratch`);
- **classical**: TF-IDF + logistic regression (text) or downscaled pixels + logistic
  regression (images), `evaluate.baselines`;

over several seeds (mean, 95% interval), with per-epoch train/validation curves, the
final train-minus-evaluation gap (overfitting), the time the transfer model needed to
reach the scratch model's best validation accuracy, a learning curve over training
sizes, a domain-gap check, and warnings (`evaluate.warnings`). Returns the result dict
that `evaluate.report.render_html` draws. One run of each method and the per-method
summary live in `evaluate.methods`; the reference sample in `evaluate.reference`.

Data: `train` is split once (seed 0) into a fitting part and a 10% stratified
validation part (used by every method for early stopping and curves) when every class
has >= 10 examples; `eval` is the test data, used only for the reported scores.

Budget: work runs in priority order (seed 0 of transfer (always run), classical, scratch; domain
gap; further seeds; learning-curve points, small first); a unit whose estimated cost
exceeds what is left is skipped and listed in ``result["skipped"]`` with the reason.
Scratch runs get a time limit (at most half of what is left), and say so when hit.

>>> # from transferkit.evaluate.compare import compare
>>> # r = compare("train.csv", eval="test.csv", seeds=3, report="report.html")
>>> # r["transfer"]["accuracy"], r["warnings"]
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transferkit.errors import DataError, InputError

logger = logging.getLogger(__name__)

METHODS = ("transfer", "scratch", "classical")


def check_output_path(
    path: str | os.PathLike[str] | None, what: str, inputs: tuple[Any, ...] = ()
) -> Path | None:
    """Fail before any training when an output path cannot be written or is one of the
    `inputs` (None: no output)."""
    from transferkit.evaluate.report import check_output_path as check
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


# ---------------------------------------------------------------- the comparison


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
) -> dict[str, Any]:
    """Compare transfer from `base` with scratch and classical baselines; return the result.

    train / eval: anything `transferkit.adapt.fit` reads (table file, image folder,
    DataFrame, (texts, labels)). reference: a sample of the source domain for the
    domain-gap check, inputs only (`evaluate.reference.load_reference`): a table with a
    text column or a .txt file, a folder of images with or without class subfolders, a
    list of inputs; None: a generic English sample for text, no check for images. Without
    `eval`, 20% of train (stratified, seed 0) becomes the test set.
    seeds: runs per method (>= 1; 3+ to call differences). sizes: learning-curve sizes
    per class plus "all" (None or "" for no curve). budget: wall seconds for everything.
    report / json_path: files written at the end; their folders are checked first.
    epochs: epochs of the transfer fit (gradient strategies; default: fit's own).
    scratch_epochs / scratch_time_limit: cap the from-scratch runs (text transformers
    from scratch are slow on CPU); the result says when a cap stopped a run.

    Result keys: task, transfer, scratch, classical, learning_curve, time_to_reach,
    domain_gap, warnings, skipped, notes (see `evaluate.report` for the section shapes).
    """
    from transferkit.data.datasets import (
        check_eval_labels,
        check_trainable,
        load_labelled,
        stratified_split,
    )
    from transferkit.evaluate.curves import (
        curve_point,
        parse_sizes,
        plan_sizes,
        subsample_per_class,
    )
    from transferkit.evaluate.methods import (
        FrozenFeatures,
        run_classical,
        run_scratch,
        run_transfer,
        summarise,
        time_to_reach,
    )

    say = say or (lambda msg: logger.info(msg))
    if not isinstance(seeds, int) or seeds < 1:
        raise InputError(
            f"seeds={seeds!r}; pass a whole number >= 1 (3 or more to call differences)"
        )
    if budget is not None and budget <= 0:
        raise InputError(f"budget={budget!r} seconds must be positive, or None for no limit")
    report_path = check_output_path(report, "report", (train, eval, reference))
    json_out = check_output_path(json_path, "JSON result", (train, eval, reference))
    size_list = parse_sizes(sizes)
    clock = _Clock(budget, say)
    notes: list[str] = []

    data = load_labelled(train, text_column=text_column, label_column=label_column, what="train")
    check_trainable(data)
    if eval is not None:
        test = load_labelled(eval, text_column=text_column, label_column=label_column, what="eval")
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
    classes = data.classes

    from transferkit.adapt.fitting import auto_base
    from transferkit.evaluate.warnings import match_head
    from transferkit.zoo.factory import load_backbone, load_model

    base_name = auto_base(data)[0] if base == "auto" else base
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
    head = "reused" if source is not None and match_head(labels, classes) else "new"
    task: dict[str, Any] = {
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
        "n_fit": len(fit_data),
        "n_val": len(val) if val is not None else 0,
        "n_eval": len(test),
        "seeds": seeds,
        "budget_seconds": budget,
    }
    say(
        f"comparing on {len(fit_data)} training examples, {len(test)} test examples, base {base_name}, {seeds} seed(s)"
    )

    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
    resolved = strategy
    frozen = FrozenFeatures()  # a probe's body and the source body: test set encoded once
    measured: dict[str, float] = {}

    def do_classical(seed: int, part: Any = None) -> dict[str, Any] | None:
        part = part if part is not None else fit_data
        est = measured.get("classical", 2.0 + len(part) / 1000) * max(
            1.0, len(part) / len(fit_data)
        )
        if not clock.fits(
            f"classical seed {seed}" + ("" if part is fit_data else f" ({len(part)} examples)"), est
        ):
            return None
        r = run_classical(part, test, seed=seed)
        measured.setdefault("classical", r["wall"])
        return r

    def do_transfer(seed: int, part: Any = None) -> dict[str, Any] | None:
        nonlocal resolved
        part = part if part is not None else fit_data
        if "transfer" in measured:
            est = measured["transfer"] * max(0.2, len(part) / len(fit_data))
        else:
            from transferkit.adapt.strategies import choose_strategy, n_params

            plan = choose_strategy(
                strategy,
                modality=part.modality,
                counts=part.counts(),
                budget=None,
                params=n_params(template),
            )
            est = plan.estimated_seconds
        what = f"transfer seed {seed}" + ("" if part is fit_data else f" ({len(part)} examples)")
        first = "transfer" not in measured
        # the first transfer run is the point of the comparison: it always runs, with at
        # least half the budget (loading the models may already have used some of it)
        if not first and not clock.fits(what, est):
            return None
        fit_budget = None
        if clock.budget is not None:
            fit_budget = max(clock.left, 0.5 * clock.budget) if first else max(1.0, clock.left)
        r = run_transfer(
            part,
            val,
            test,
            base=base_name,
            strategy=resolved,
            seed=seed,
            budget=fit_budget,
            text_column=text_column,
            label_column=label_column,
            epochs=epochs,
            frozen=frozen,
        )
        if "transfer" not in measured:
            measured["transfer"] = r["wall"]
            resolved = r["strategy"]  # every later run (seeds, curve) uses the same strategy
        return r

    def do_scratch(seed: int, part: Any = None) -> dict[str, Any] | None:
        part = part if part is not None else fit_data
        what = f"scratch seed {seed}" + ("" if part is fit_data else f" ({len(part)} examples)")
        limit = scratch_time_limit
        if clock.budget is not None:
            half = max(1.0, clock.left / 2)
            limit = half if limit is None else min(limit, half)
            if clock.left < 5:
                clock.fits(what, 5.0)
                return None
        r = run_scratch(
            template, part, val, test, seed=seed, time_limit=limit, epochs=scratch_epochs
        )
        return r

    # 1. seed 0 of every method
    if r := do_transfer(0):
        runs["transfer"].append(r)
    if classical and (r := do_classical(0)):
        runs["classical"].append(r)
    if scratch and (r := do_scratch(0)):
        runs["scratch"].append(r)
    # 2. domain gap
    domain_gap: dict[str, Any] | None = None
    if clock.fits("domain_gap", 5.0 + 0.02 * len(test)):
        domain_gap = _domain_gap(
            source, template, fit_data, test, base_name, labels, reference, text_column, clock,
            frozen,
        )  # fmt: skip
    # 3. further seeds
    for seed in range(1, seeds):
        for method, fn, on in (
            ("transfer", do_transfer, True),
            ("classical", do_classical, classical),
            ("scratch", do_scratch, scratch),
        ):
            if on and runs[method] and (r := fn(seed)):
                runs[method].append(r)

    result: dict[str, Any] = {"task": task}
    n_eval = len(test)
    for method in METHODS:
        result[method] = summarise(runs[method], n_eval) if runs[method] else None
    if result["transfer"]:
        task["strategy"] = result["transfer"].get("strategy")
        task["strategy_reason"] = result["transfer"].get("reason")
        result["transfer"]["runs_val_accuracy"] = runs["transfer"][0].get("val_accuracy")
    if not scratch:
        clock.skipped.append(
            {"what": "scratch", "why": "turned off (scratch=False / --no-scratch)"}
        )
    if not classical:
        clock.skipped.append(
            {"what": "classical", "why": "turned off (classical=False / --no-classical)"}
        )
    for method in METHODS:
        if result[method] is None and not any(s["what"] == method for s in clock.skipped):
            clock.skipped.append({"what": method, "why": "budget: not even its first seed fitted"})
    if result["transfer"] and result["transfer"].get("curves") is None:
        clock.skipped.append(
            {
                "what": "transfer.curves",
                "why": f"strategy {resolved!r} trains no epochs (no per-epoch curve)",
            }
        )
    if result["scratch"] and val is None:
        clock.skipped.append(
            {
                "what": "time_to_reach",
                "why": "needs a validation split (every class >= 10 examples)",
            }
        )
    result["time_to_reach"] = (
        time_to_reach(result["transfer"], result["scratch"])
        if result["transfer"] and result["scratch"]
        else None
    )

    # 4. learning curve
    points: list[dict[str, Any]] = []
    if size_list:
        ok, skipped_sizes = plan_sizes(fit_data.counts(), size_list)
        clock.skipped += skipped_sizes
        for k in ok:
            if k == "all":
                accs = {m: [r["report"]["accuracy"] for r in runs[m]] for m in METHODS}
                points.append(curve_point("all", len(fit_data), len(classes), accs))
                continue
            accs = {m: [] for m in METHODS}
            for seed in range(seeds):
                part = subsample_per_class(fit_data, int(k), 1000 + seed)
                for method, fn, on in (
                    ("classical", do_classical, classical),
                    ("transfer", do_transfer, True),
                    ("scratch", do_scratch, scratch),
                ):
                    if on and (r := fn(seed, part)):
                        accs[method].append(r["report"]["accuracy"])
            if any(accs.values()):
                points.append(curve_point(k, int(k) * len(classes), len(classes), accs))
        if len(points) < 2:
            clock.skipped.append(
                {
                    "what": "learning_curve",
                    "why": "fewer than 2 sizes could be measured: "
                    + (
                        "; ".join(f"{s['what']}: {s['why']}" for s in skipped_sizes)
                        or "see the budget notes"
                    ),
                }
            )
    else:
        clock.skipped.append({"what": "learning_curve", "why": "no sizes requested"})
    result["learning_curve"] = points if len(points) >= 2 else []
    result["domain_gap"] = domain_gap
    if domain_gap is None and not any(s["what"] == "domain_gap" for s in clock.skipped):
        clock.skipped.append({"what": "domain_gap", "why": "nothing could be measured"})
    task["elapsed_seconds"] = round(time.time() - clock.start, 1)

    from transferkit.evaluate.warnings import transfer_warnings

    result["warnings"] = transfer_warnings(result)
    result["skipped"] = clock.skipped
    result["notes"] = notes
    for w in result["warnings"]:
        logger.warning("%s: %s", w["kind"], w["message"])
    if report_path is not None:
        from transferkit.evaluate.report import render_html

        render_html(result, report_path)
    if json_out is not None:
        from transferkit.evaluate.report import write_json

        write_json(result, json_out)
    return result


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
    from transferkit.evaluate.warnings import feature_gap, source_head_check

    gap: dict[str, Any] = {}
    if source is not None:
        gap["source"] = f"{base_name} head ({len(labels)} labels)"
        gap.update(source_head_check(source, test, frozen=frozen))
    from transferkit.evaluate.reference import load_reference

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
