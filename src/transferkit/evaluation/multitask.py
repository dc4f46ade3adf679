"""The evaluation blocks of a comparison on multi-label data or a numeric target.

- `score_targets`: one method's test report from its scores (B's `multilabel_report` /
  `regression_report` in `core.metrics`) and its headline figure (`HEADLINE`);
- `run_classical_targets`: the matching classical baseline (`evaluation.baselines`:
  TF-IDF one-vs-rest logistic regression with per-label thresholds; TF-IDF ridge);
- `summarise_targets`: one method over its seeds: mean of every figure, the 95% interval
  of the headline (`evaluation.stats.mean_ci`), seed 0's plot data;
- `calibration` and `plot_data`: what the report draws (a reliability curve and the
  per-label thresholds for multi-label; predicted vs true values for regression).

Scores are what `models.problems.Problem.scores` gives: per-label probabilities (n, L)
for multi-label, values in the target's units (n,) for regression.
"""

from __future__ import annotations

import time
from statistics import fmean
from typing import Any

import numpy as np

from transferkit.errors import InputError

MULTI, REGRESSION = "multi-label", "regression"
# The figure a comparison's intervals, verdicts and learning curve are about.
HEADLINE = {MULTI: "micro_f1", REGRESSION: "spearman"}
FIGURES = {
    MULTI: ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"),
    REGRESSION: ("spearman", "pearson", "mae", "rmse", "r2"),
}
PLOT_POINTS = 1000  # predicted-vs-true points kept for the report (seed 0)


def truth_of(data: Any) -> np.ndarray:
    """The test truth: a 0/1 int matrix in `data.classes` order, or float targets."""
    y = np.asarray(data.targets())
    return y.astype(int) if data.task == MULTI else y.astype(np.float64)


def score_targets(
    kind: str,
    classes: list[str],
    truth: np.ndarray,
    scores: np.ndarray,
    thresholds: Any = None,
) -> dict[str, Any]:
    """The report of one run: multi-label (`scores` probabilities (n, L), decided at the
    per-label `thresholds`, 0.5 when None) or regression (`scores` values (n,)), plus
    ``headline``: the figure of `HEADLINE` (None where undefined, e.g. constant output)."""
    from transferkit.core.metrics import multilabel_report, regression_report

    if kind == MULTI:
        th = np.full(len(classes), 0.5) if thresholds is None else np.asarray(thresholds)
        rep = multilabel_report(truth, (scores >= th).astype(int), classes, list(map(float, th)))
    elif kind == REGRESSION:
        rep = regression_report(truth, scores)
    else:
        raise InputError(f"kind {kind!r}: score_targets takes multi-label or regression")
    rep["headline"] = rep[HEADLINE[kind]]
    return rep


def run_classical_targets(fit_data: Any, test: Any, *, seed: int) -> dict[str, Any]:
    """TF-IDF one-vs-rest LR (multi-label) or TF-IDF ridge (regression) on `fit_data`,
    scored on `test`."""
    from transferkit.evaluation.baselines import TfidfOneVsRest, TfidfRidge

    if fit_data.modality != "text":
        raise InputError(
            f"the classical baseline for {fit_data.task} data is text-only (TF-IDF); "
            "pass classical=False for image data."
        )
    t0, c0 = time.time(), time.process_time()
    if fit_data.task == MULTI:
        est: Any = TfidfOneVsRest(random_state=seed)
        est.fit(fit_data.items, np.asarray(fit_data.targets()), classes=fit_data.classes)
        scores, th = est.predict_proba(test.items), est.thresholds_
        name = "TF-IDF (word 1-2 + char 3-5 grams) + one-vs-rest logistic regression"
    else:
        est = TfidfRidge(random_state=seed).fit(fit_data.items, fit_data.targets())
        scores, th = est.predict(test.items), None
        name = "TF-IDF (word 1-2 + char 3-5 grams) + ridge regression"
    wall, cpu = time.time() - t0, time.process_time() - c0
    report = score_targets(fit_data.task, list(fit_data.classes), truth_of(test), scores, th)
    return {
        "seed": seed,
        "wall": wall,
        "cpu": cpu,
        "model": name,
        "report": report,
        "plot": plot_data(fit_data.task, truth_of(test), scores, th),
        "notes": [],
    }


def calibration(probs: np.ndarray, truth: np.ndarray, bins: int = 10) -> dict[str, list]:
    """Reliability of probabilities pooled over labels: per equal-width bin, the mean
    predicted probability, the observed share of positives and the count (empty bins
    left out)."""
    p, t = np.asarray(probs, dtype=np.float64).ravel(), np.asarray(truth).ravel()
    idx = np.minimum((p * bins).astype(int), bins - 1)
    out: dict[str, list] = {"predicted": [], "observed": [], "count": []}
    for b in range(bins):
        m = idx == b
        if m.any():
            out["predicted"].append(round(float(p[m].mean()), 4))
            out["observed"].append(round(float(t[m].mean()), 4))
            out["count"].append(int(m.sum()))
    return out


def plot_data(kind: str, truth: np.ndarray, scores: np.ndarray, thresholds: Any) -> dict[str, Any]:
    """What the report draws for one run: multi-label calibration + thresholds;
    regression (up to PLOT_POINTS) true and predicted values."""
    if kind == MULTI:
        th = None if thresholds is None else [round(float(x), 3) for x in thresholds]
        return {"calibration": calibration(scores, truth), "thresholds": th}
    keep = np.random.default_rng(0).permutation(len(truth))[:PLOT_POINTS]
    keep.sort()
    return {
        "true": [round(float(v), 4) for v in truth[keep]],
        "predicted": [round(float(v), 4) for v in np.asarray(scores)[keep]],
    }


def summarise_targets(runs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """One method over its runs (one per seed): the mean of every figure, the 95%
    interval of the headline over seeds ("seeds"), per-run figures, seed 0's plot data,
    per-label figures (multi-label) and notes."""
    from transferkit.evaluation.stats import mean_ci

    head = [r["report"]["headline"] for r in runs if r["report"]["headline"] is not None]
    out: dict[str, Any] = {
        "metric": HEADLINE[kind],
        "headline": fmean(head) if head else None,
        "seeds": mean_ci(head) if head else None,
        "train_seconds": fmean(r["wall"] for r in runs),
        "cpu_seconds": fmean(r["cpu"] for r in runs),
        "runs": [
            {"seed": r["seed"], "wall": r["wall"]} | {k: r["report"].get(k) for k in FIGURES[kind]}
            for r in runs
        ],
        "plot": runs[0].get("plot"),
        "notes": sorted({n for r in runs for n in r.get("notes", [])}),
    }
    for k in FIGURES[kind]:
        values = [r["report"][k] for r in runs if r["report"].get(k) is not None]
        out[k] = fmean(values) if values else None
    if kind == MULTI:
        out["per_label"] = runs[0]["report"]["per_label"]
    for key in ("strategy", "reason", "model", "hyperparameters"):
        if key in runs[0]:
            out[key] = runs[0][key]
    return out
