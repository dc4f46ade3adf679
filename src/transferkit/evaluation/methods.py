"""One run of each method of a comparison, and the summary `compare` reports per method.

- `run_scratch`: the same architecture from random initialisation (`evaluation.scratch`);
- `run_classical`: TF-IDF or pixels + logistic regression (`evaluation.baselines`);
- `summarise`: mean over seeds, decision interval (`warnings.decision_ci`), curves, gap;
- `time_to_reach`: seconds the transfer model needed to reach scratch's best accuracy.

Every run is scored the same way: a classification report on the test data and the
accuracy on (up to 512 of) its own training data, for the overfitting gap.

A frozen body is encoded once per comparison (`FrozenFeatures`): a probe is a frozen
body plus a linear head, so its logits are ``head(features)``, and the test set and the
training sample need not be re-encoded for every seed, nor for the source-head check.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from transferkit.evaluation.scratch import TRAIN_ACC_SAMPLE  # noqa: E402


def _digest(items: Sequence[Any]) -> str:
    return hashlib.sha256("\0".join(map(str, items)).encode("utf-8")).hexdigest()


class FrozenFeatures:
    """Features of frozen bodies, computed once and reused within one comparison.

    Keyed by `core.cache.model_identity` (the rule the on-disk feature cache uses for
    "the same frozen body") and a hash of the items, in order. Only for models whose
    body was not trained: a probe, or a source model as loaded. Items registered with
    `known` (the training data a probe was fitted on) are read from the disk cache that
    `transferkit.fit` filled, not encoded again.
    """

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], np.ndarray] = {}
        self._fingerprints: dict[str, str] = {}
        self.encoded = 0  # items actually run through a body (for tests and logs)

    def known(self, data: Any) -> None:
        """`data` (a LabelledData) was encoded by `transferkit.fit` under `data.fingerprint()`."""
        self._fingerprints.setdefault(_digest(data.items), data.fingerprint())

    def features(self, model: Any, items: Sequence[Any]) -> np.ndarray:
        """(n, embedding_dim) features of `items` through the frozen body of `model`."""
        from transferkit.core.cache import encode, model_identity

        digest = _digest(items)
        key = (model_identity(model), digest)
        if key not in self._memo:
            fingerprint = self._fingerprints.get(digest)
            self._memo[key], hit = encode(model, list(items), fingerprint=fingerprint)
            self.encoded += 0 if hit else len(items)
        return self._memo[key]

    def logits(self, clf: Any, items: Sequence[Any]) -> np.ndarray:
        """``clf.head(features)``: (n, n_labels), as `core.inference.predict_logits` gives."""
        import torch

        feats = self.features(clf, items)
        clf.eval()
        with torch.inference_mode():
            return clf.head(torch.as_tensor(feats)).float().numpy()


def frozen_logits(clf: Any, frozen: FrozenFeatures | None) -> Callable[[list[Any]], np.ndarray]:
    """Logits of `clf`: through `frozen` when given and `clf` has a separate head, else a
    full forward pass."""
    from transferkit.core.inference import predict_logits

    if frozen is not None and hasattr(clf, "backbone") and hasattr(clf, "head"):
        return lambda items: frozen.logits(clf, items)
    return lambda items: predict_logits(clf, items)


def score_run(
    model_predict: Callable[[list[Any]], list[str]], data: Any, fit_data: Any
) -> dict[str, Any]:
    """Evaluation report on `data` plus accuracy on (up to 512 of) the training data."""
    from transferkit.core.metrics import classification_report

    rep = classification_report(data.labels, model_predict(data.items), labels=data.classes)
    # sorted: with <= 512 examples the sample is the training data as given, whose
    # features a probe's fit already cached
    idx = np.sort(np.random.default_rng(0).permutation(len(fit_data))[:TRAIN_ACC_SAMPLE])
    sample = [fit_data.items[i] for i in idx]
    pred = model_predict(sample)
    train_acc = float(np.mean([p == fit_data.labels[i] for p, i in zip(pred, idx, strict=True)]))
    return {"report": rep, "train_accuracy": train_acc}


def torch_predict(
    clf: Any, classes: list[str], frozen: FrozenFeatures | None = None
) -> Callable[[list[Any]], list[str]]:
    logits = frozen_logits(clf, frozen)
    return lambda items: [classes[i] for i in logits(items).argmax(1)]


def curves_of(history: list[dict[str, float]]) -> dict[str, Any] | None:
    """Report curves from a loop history: epoch, train_acc, val_acc, train_loss."""
    if not history:
        return None
    out: dict[str, Any] = {"epoch": [int(r["epoch"]) for r in history]}
    for src, dst in (
        ("train_accuracy", "train_acc"),
        ("val_accuracy", "val_acc"),
        ("loss", "train_loss"),
    ):
        if all(src in r for r in history):
            out[dst] = [float(r[src]) for r in history]
    return out


def epoch_seconds_of(
    history: list[dict[str, float]], total: float | None = None
) -> tuple[list[float] | None, bool]:
    """Cumulative training seconds at the end of each epoch, and whether they are an
    approximation (history without "seconds": equal-length epochs of `total` assumed)."""
    if not history:
        return None, False
    if all("seconds" in r for r in history):
        return [float(r["seconds"]) for r in history], False
    if total is None:
        return None, False
    return [total * (i + 1) / len(history) for i in range(len(history))], True


def run_scratch(
    template: Any,
    fit_data: Any,
    val: Any,
    test: Any,
    *,
    seed: int,
    time_limit: float | None,
    epochs: int | None,
) -> dict[str, Any]:
    """The base's architecture from random initialisation (`evaluation.scratch`), scored
    on `test`; `time_limit` / `epochs` cap the run and the result says so."""
    from transferkit.evaluation.scratch import train_from_scratch

    t0, c0 = time.time(), time.process_time()
    run = train_from_scratch(
        template, fit_data, val, seed=seed, time_limit=time_limit, epochs=epochs
    )
    wall, cpu = time.time() - t0, time.process_time() - c0
    scored = score_run(torch_predict(run.model, fit_data.classes), test, fit_data)
    notes = []
    if run.stop_reason:
        notes.append(
            f"stopped: {run.stop_reason} after {len(run.history)} of {run.epochs_planned} epochs"
        )
    return {
        "seed": seed,
        "wall": wall,
        "cpu": cpu,
        "history": run.history,
        "curves": curves_of(run.history),
        "epoch_seconds": epoch_seconds_of(run.history),
        "stop_reason": run.stop_reason,
        "epochs_planned": run.epochs_planned,
        "hyperparameters": run.hyperparameters,
        "notes": notes,
        **scored,
    }


def run_classical(fit_data: Any, test: Any, *, seed: int) -> dict[str, Any]:
    """TF-IDF (text) or downscaled pixels (images) + logistic regression, scored on `test`."""
    from transferkit.evaluation.baselines import PixelLogReg, TfidfLogReg

    t0, c0 = time.time(), time.process_time()
    est = (TfidfLogReg if fit_data.modality == "text" else PixelLogReg)(random_state=seed)
    est.fit(fit_data.items, fit_data.labels)
    wall, cpu = time.time() - t0, time.process_time() - c0
    scored = score_run(lambda items: [str(x) for x in est.predict(items)], test, fit_data)
    name = (
        "TF-IDF (word 1-2 + char 3-5 grams) + logistic regression"
        if fit_data.modality == "text"
        else f"{est.size}x{est.size} RGB pixels + logistic regression"
    )
    return {"seed": seed, "wall": wall, "cpu": cpu, "model": name, "notes": [], **scored}


def summarise(runs: list[dict[str, Any]], n_eval: int) -> dict[str, Any]:
    """One method's entry in the result, from its runs (one per seed): means, the decision
    interval "ci" (seeds and evaluation-set noise), seed 0's confusion and curves."""
    from statistics import fmean

    from transferkit.evaluation.stats import mean_ci
    from transferkit.evaluation.warnings import decision_ci

    accs = [r["report"]["accuracy"] for r in runs]
    ci = decision_ci(accs, n_eval)
    first = runs[0]
    train_acc = fmean(r["train_accuracy"] for r in runs)
    out: dict[str, Any] = {
        "accuracy": fmean(accs),
        "macro_f1": fmean(r["report"]["macro_f1"] for r in runs),
        "train_seconds": fmean(r["wall"] for r in runs),
        "cpu_seconds": fmean(r["cpu"] for r in runs),
        "train_accuracy": train_acc,
        "overfit_gap": train_acc - fmean(accs),
        # "seeds" drives the report's bars and verdicts: the decision interval (seeds and
        # evaluation-set noise, see warnings.decision_ci); "seed_ci" is the seed spread alone.
        "seeds": ci,
        "ci": ci,
        "seed_ci": mean_ci(accs),
        "runs": [
            {
                k: r.get(k)
                for k in ("seed", "wall", "cpu", "train_accuracy", "stop_reason", "budget_seconds")
            }
            | {
                "accuracy": r["report"]["accuracy"],
                "macro_f1": r["report"]["macro_f1"],
                "epochs": len(r.get("history") or []),
            }
            for r in runs
        ],
        "confusion": first["report"]["confusion"],
        "per_class": first["report"]["per_class"],
        "curves": first.get("curves"),
        "notes": sorted({n for r in runs for n in r.get("notes", [])}),
    }
    if first.get("epoch_seconds") and first["epoch_seconds"][0] is not None:
        out["epoch_seconds"], out["epoch_seconds_approximate"] = first["epoch_seconds"]
    for key in ("strategy", "reason", "model", "hyperparameters", "epochs_planned"):
        if key in first:
            out[key] = first[key]
    final = [
        r["curves"]
        for r in runs
        if r.get("curves") and r["curves"].get("train_acc") and r["curves"].get("val_acc")
    ]
    if final:  # last-epoch gap of the loop's own curves (train sample vs validation)
        out["final_curve_gap"] = fmean(c["train_acc"][-1] - c["val_acc"][-1] for c in final)
    return out


def time_to_reach(transfer: dict[str, Any], scratch: dict[str, Any]) -> dict[str, Any] | None:
    """Seconds the transfer model needed to reach the scratch model's best validation
    accuracy (seed 0 runs), from the per-epoch curves."""
    s_curves = scratch.get("curves") or {}
    if not s_curves.get("val_acc") or not scratch.get("epoch_seconds"):
        return None
    s_best = max(s_curves["val_acc"])
    s_at = scratch["epoch_seconds"][s_curves["val_acc"].index(s_best)]
    out: dict[str, Any] = {"scratch_best_val_accuracy": s_best, "scratch_seconds_to_best": s_at}
    t_curves = transfer.get("curves") or {}
    if t_curves.get("val_acc") and transfer.get("epoch_seconds"):
        pairs = zip(transfer["epoch_seconds"], t_curves["val_acc"], strict=True)
        hit = [s for s, a in pairs if a >= s_best]
        out["transfer_seconds"] = hit[0] if hit else None
        out["approximate"] = bool(transfer.get("epoch_seconds_approximate"))
    else:  # no epochs (probe, contrastive): the whole training, if its result is as good
        val = transfer.get("runs_val_accuracy")
        reached = isinstance(val, int | float) and val >= s_best
        out["transfer_seconds"] = transfer["train_seconds"] if reached else None
        out["approximate"] = False
    out["reached"] = out["transfer_seconds"] is not None
    if out["reached"] and out["transfer_seconds"] > 0:
        out["speedup"] = s_at / out["transfer_seconds"]
    return out
