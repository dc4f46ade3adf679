"""`compare` on multi-label data or a numeric target (the single-label path is
`workflows.compare`, which hands these kinds over here).

On the same split and within one budget, over seeds: **transfer** (`transferkit.fit`
with the data's task: BCE + tuned per-label thresholds, or MSE on the standardised
target), **scratch** (the same architecture from random initialisation, the same
trainer and loss, thresholds tuned on the same validation data) and **classical**
(`evaluation.baselines`: TF-IDF one-vs-rest logistic regression with per-label
thresholds, or TF-IDF ridge). Each method gets the test report of its kind (micro/macro/
sample F1, subset accuracy, Hamming loss, per label; or Spearman, Pearson, MAE, RMSE,
R²), the mean over seeds and the 95% interval of the headline figure (micro-F1;
Spearman), a learning curve over training sizes and the domain gap (proxy A-distance
between a reference corpus and the training inputs, as single-label `compare` measures
it; a warning from 1.5 on). The HTML report
(`evaluation.report_targets`) draws the calibration of the probabilities and the tuned
thresholds (multi-label) or predicted vs true values (regression).

Splits are random (seed 0): without `eval` 20% of train is the test set; 10% of the rest
is the validation part every method shares (early stopping, threshold tuning).
Learning-curve sizes are numbers of training examples ("all" the whole fitting part);
the default per-class sizes of single-label data become 10%, 30% and all.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.core.results import CompareResult
from transferkit.errors import DataError
from transferkit.evaluation.multitask import (
    HEADLINE,
    MULTI,
    plot_data,
    score_targets,
    summarise_targets,
)
from transferkit.evaluation.warnings import a_distance_warnings
from transferkit.workflows.compare import (
    METHODS,
    CompareOptions,
    Split,
    _Clock,
    _domain_gap,
    check_output_path,
)

DEFAULT_SIZES = "8,32,128,all"  # compare's default (examples per class)


def truth_for(test: Any, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """The test truth in the fitted `classes` order, and notes (test labels unknown to
    the training data are left out of the multi-label truth, and said)."""
    if test.task != MULTI:
        return np.asarray(test.targets(), dtype=np.float64), []
    col = {c: j for j, c in enumerate(classes)}
    y = np.zeros((len(test), len(classes)), dtype=int)
    unknown: set[str] = set()
    for i, row in enumerate(test.labels):
        for lab in row:
            if lab in col:
                y[i, col[lab]] = 1
            else:
                unknown.add(lab)
    notes = []
    if unknown:
        notes.append(
            f"test labels absent from the training data are not scored: {', '.join(sorted(unknown))}"
        )
    return y, notes


def _random_split(data: Any, share: float, seed: int) -> tuple[Any, Any]:
    idx = np.random.default_rng(seed).permutation(len(data))
    k = max(1, round(len(data) * share))
    return data.subset(sorted(idx[k:].tolist())), data.subset(sorted(idx[:k].tolist()))


def split_targets(data: Any, eval: Any, opts: CompareOptions) -> Split:  # noqa: A002
    """The test data (`eval`, else 20% of train) and a 10% validation part, at random."""
    from transferkit.data.datasets import load_labelled

    notes: list[str] = [f"task: {data.task} ({getattr(data, 'task_reason', '')})"]
    if len(data) < 20:
        raise DataError(
            f"{data.source}: {len(data)} examples; a {data.task} comparison needs at least 20 "
            "(a validation part and seeds need some)."
        )
    if eval is not None:
        test = load_labelled(
            eval, text_column=opts.text_column, label_column=opts.label_column,
            task=data.task, what="eval",
        )  # fmt: skip
    else:
        data, test = _random_split(data, 0.2, 0)
        notes.append(
            f"no --eval: {len(test)} examples (20%, random, seed 0) held out as the test set"
        )
    fit_data, val = _random_split(data, 0.1, 0)
    notes.append(
        f"validation: {len(val)} examples (10% of train, random, seed 0) for early stopping "
        "and threshold tuning, shared by all methods"
    )
    return Split(data, fit_data, val, test, notes)


def _scores_of(clf: Any, items: list[Any]) -> np.ndarray:
    """Probabilities (multi-label) or target values (regression) of a fitted Classifier."""
    from transferkit.core.inference import predict_logits

    return clf.problem.scores(predict_logits(clf, items))


def _scored(clf: Any, split: Split, kind: str) -> dict[str, Any]:
    classes = list(clf.labels)
    truth, notes = truth_for(split.test, classes)
    scores = _scores_of(clf, split.test.items)
    th = clf.problem.label_thresholds(len(classes)) if kind == MULTI else None
    return {
        "report": score_targets(kind, classes, truth, scores, th),
        "plot": plot_data(kind, truth, scores, th),
        "notes": notes,
    }


def run_transfer_targets(
    part: Any, split: Split, opts: CompareOptions, *, base: str, strategy: str, seed: int,
    budget: float | None,
) -> dict[str, Any]:  # fmt: skip
    """`transferkit.fit` on `part` (validated on the shared validation part), scored."""
    from transferkit.workflows.fit import fit

    t0, c0 = time.time(), time.process_time()
    r = fit(part, base=base, strategy=strategy, eval=split.val, seed=seed, budget=budget,
            epochs=opts.epochs, progress=False)  # fmt: skip
    wall, cpu = time.time() - t0, time.process_time() - c0
    out = {"seed": seed, "wall": wall, "cpu": cpu, "strategy": r.strategy, "reason": r.reason}
    out["hyperparameters"] = r.hyperparameters
    return out | _scored(r.model, split, part.task)


def run_scratch_targets(
    template: Any, part: Any, split: Split, *, seed: int, time_limit: float | None,
    epochs: int | None,
) -> dict[str, Any]:  # fmt: skip
    """The base's architecture from random initialisation, trained on `part` by the one
    trainer with the task's loss (`core.objectives`); multi-label thresholds tuned on the
    validation part with fit's rule (`core.linear_heads.tune_thresholds`)."""
    from transferkit.adapt.base import problem_for
    from transferkit.adapt.tuning import training_targets
    from transferkit.core.devices import current_device
    from transferkit.core.linear_heads import tune_thresholds
    from transferkit.core.objectives import objective_for
    from transferkit.core.strategies import param_groups
    from transferkit.core.trainer import TrainConfig, train_classifier
    from transferkit.evaluation.scratch import random_backbone, scratch_defaults
    from transferkit.models.classifier import Classifier

    t0, c0 = time.time(), time.process_time()
    problem = problem_for(part)
    clf = Classifier(random_backbone(template, seed=seed), part.classes, problem=problem)
    y, ey = training_targets(problem, part, split.val)
    e0, lr, bs = scratch_defaults(part.modality, len(part))
    n_epochs = int(epochs or e0)
    groups, _ = param_groups(clf, "full", lr)
    objective = objective_for(problem.kind, y, n_classes=len(part.classes), device=current_device())
    cfg = TrainConfig(epochs=n_epochs, batch_size=bs, seed=seed, patience=3, time_limit=time_limit)
    run = train_classifier(clf, part, y, split.val, groups, cfg, eval_y=ey, objective=objective)
    if problem.kind == MULTI and split.val is not None:
        th = tune_thresholds(_scores_of(clf, split.val.items), np.asarray(ey))
        clf.problem = dataclasses.replace(clf.problem, thresholds=tuple(th))
    wall, cpu = time.time() - t0, time.process_time() - c0
    notes = [f"stopped: {run.stop_reason}"] if run.stop_reason else []
    hp = {"epochs": n_epochs, "lr": lr, "batch_size": bs, "seed": seed}
    scored = _scored(clf, split, problem.kind)
    scored["notes"] += notes
    return {"seed": seed, "wall": wall, "cpu": cpu, "hyperparameters": hp} | scored


class _TargetRunner:
    """Runs each method on one seed and data part, within the budget."""

    def __init__(self, split: Split, template: Any, base: str, clock: _Clock, opts: CompareOptions):
        self.split, self.template, self.base, self.clock, self.opts = (
            split,
            template,
            base,
            clock,
            opts,
        )
        self.resolved = opts.strategy
        self.runs: dict[str, list[dict[str, Any]]] = {m: [] for m in METHODS}
        self.wall: dict[str, float] = {}

    def run(self, method: str, seed: int, part: Any = None) -> dict[str, Any] | None:
        from transferkit.evaluation.multitask import run_classical_targets

        part = part if part is not None else self.split.fit_data
        what = f"{method} seed {seed}" + (
            "" if part is self.split.fit_data else f" ({len(part)} examples)"
        )
        first = method == "transfer" and "transfer" not in self.wall
        est = self.wall.get(method, 5.0) * len(part) / max(1, len(self.split.fit_data))
        if not first and not self.clock.fits(what, est):
            return None
        left = None if self.clock.budget is None else max(1.0, self.clock.left)
        r: dict[str, Any]
        if method == "classical":
            r = run_classical_targets(part, self.split.test, seed=seed)
        elif method == "transfer":
            r = run_transfer_targets(part, self.split, self.opts, base=self.base,
                                     strategy=self.resolved, seed=seed, budget=left)  # fmt: skip
            self.resolved = r["strategy"]
        else:
            limit = self.opts.scratch_time_limit
            if left is not None:
                limit = left / 2 if limit is None else min(limit, left / 2)
            r = run_scratch_targets(self.template, part, self.split, seed=seed,
                                    time_limit=limit, epochs=self.opts.scratch_epochs)  # fmt: skip
        self.wall.setdefault(method, r["wall"])
        head = r["report"]["headline"]
        self.clock.say(f"{what}: {r['wall']:.1f} s, test {HEADLINE[part.task]} {head}")
        return r

    def on(self) -> list[str]:
        flags = {"transfer": True, "classical": self.opts.classical, "scratch": self.opts.scratch}
        if self.split.data.modality != "text":
            flags["classical"] = False
        return [m for m in ("classical", "transfer", "scratch") if flags[m]]


def _sizes(opts: CompareOptions, n: int) -> list[int]:
    """Learning-curve sizes in examples (see the module docstring)."""
    sizes = opts.sizes
    if sizes is None or sizes == "":
        return []
    if sizes == DEFAULT_SIZES:
        return sorted({max(10, round(n * f)) for f in (0.1, 0.3)} | {n})
    parts = sizes.split(",") if isinstance(sizes, str) else list(sizes)
    return sorted({n if str(p).strip() == "all" else min(n, int(p)) for p in parts})


def learning_curve_targets(runner: _TargetRunner) -> list[dict[str, Any]]:
    """Headline figure of each method at each training size (seed 0)."""
    from transferkit.evaluation.stats import mean_ci

    fit_data = runner.split.fit_data
    points = []
    for size in _sizes(runner.opts, len(fit_data)):
        keep = np.random.default_rng(1).permutation(len(fit_data))[:size]
        part = fit_data if size >= len(fit_data) else fit_data.subset(sorted(keep.tolist()))
        point: dict[str, Any] = {"size": len(part)}
        for method in runner.on():
            r: dict[str, Any] | None
            if size >= len(fit_data) and runner.runs[method]:
                r = runner.runs[method][0]
            else:
                r = runner.run(method, 0, part)
            if r is not None and r["report"]["headline"] is not None:
                point[method] = mean_ci([r["report"]["headline"]])
        points.append(point)
    return points


def target_warnings(sections: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Negative transfer: a baseline's headline interval above transfer's."""
    from transferkit.evaluation.stats import separated

    out = []
    t = sections.get("transfer")
    for other in ("classical", "scratch"):
        o = sections.get(other)
        if not (t and o and t.get("seeds") and o.get("seeds")):
            continue
        if o["headline"] > t["headline"] and separated(t["seeds"], o["seeds"]):
            out.append({
                "kind": "negative_transfer",
                "message": f"{other} beats transfer on test {HEADLINE[kind]} "
                f"({o['headline']:.3f} vs {t['headline']:.3f}; the intervals separate)",
                "cause": "the pretrained features may not suit these labels or targets",
                "advice": "try another base (transferkit rank) or a strategy that tunes the body",
            })  # fmt: skip
    return out


def compare_targets(
    data: Any,
    eval: Any,
    opts: CompareOptions,
    say: Callable[[str], None],  # noqa: A002
) -> CompareResult:
    """The comparison of a multi-label or regression LabelledData `data` (see module)."""
    from transferkit.models.factory import load_backbone
    from transferkit.workflows.fit import auto_base

    report_path = check_output_path(opts.report, "report", (data.source,))
    json_out = check_output_path(opts.json_path, "JSON file", (data.source,))
    clock = _Clock(opts.budget, say)
    split = split_targets(data, eval, opts)
    base = auto_base(split.data)[0] if opts.base == "auto" else opts.base
    runner = _TargetRunner(split, load_backbone(base), base, clock, opts)
    gap = None
    for seed in range(opts.seeds):
        for method in runner.on():
            if seed == 0 or runner.runs[method]:
                if (r := runner.run(method, seed)) is not None:
                    runner.runs[method].append(r)
        if seed == 0 and clock.fits("domain_gap", 5.0 + 0.02 * len(split.test)):
            gap = _domain_gap(  # after the first seeds, as single-label compare measures it
                None, runner.template, split.fit_data, split.test, base, [], opts.reference,
                opts.text_column, clock,
            )  # fmt: skip
    kind = data.task
    sections: dict[str, Any] = {
        m: summarise_targets(runner.runs[m], kind) if runner.runs[m] else None for m in METHODS
    }
    for m in METHODS:
        if sections[m] is None and not any(s["what"] == m for s in clock.skipped):
            why = "turned off" if m not in runner.on() else "budget: not even its first seed fitted"
            clock.skipped.append({"what": m, "why": why})
    points = learning_curve_targets(runner)
    if gap is None and not any(s["what"] == "domain_gap" for s in clock.skipped):
        clock.skipped.append({"what": "domain_gap", "why": "nothing could be measured"})
    task = {
        "name": Path(str(data.source)).stem, "modality": data.modality, "kind": kind,
        "metric": HEADLINE[kind], "base": base, "classes": list(split.fit_data.classes),
        "n_train": len(split.data), "n_fit": len(split.fit_data), "n_val": len(split.val or []),
        "n_eval": len(split.test), "seeds": opts.seeds, "budget_seconds": opts.budget,
        "strategy": runner.resolved,
        "elapsed_seconds": round(time.time() - clock.start, 1),
    }  # fmt: skip
    result = CompareResult(
        task=task, **sections, time_to_reach=None, learning_curve=points, domain_gap=gap,
        warnings=target_warnings(sections, kind) + a_distance_warnings(gap or {}),
        skipped=clock.skipped, notes=split.notes,
    )  # fmt: skip
    if report_path is not None:
        from transferkit.evaluation.report_targets import render_targets_html

        render_targets_html(result, report_path)
    if json_out is not None:
        from transferkit.evaluation.report import write_json

        write_json(result, json_out)
    return result
