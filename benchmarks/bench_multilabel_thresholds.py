"""Multi-label thresholds on debtags: which rule, tuned on validation rows, scores best on test?

Fits `transferkit.fit` (multi-label, base minilm-l6) on 90 % of debtags train with the other
10 % (`random_state=0`) as `--eval` — the rows fit tunes its thresholds on — then scores the
saved model's probabilities on the whole test split under several threshold rules, all
computed from the validation probabilities only: 0.5; each label's own F1 optimum; one
shared micro-F1 optimum; the own optimum shrunk towards the shared one with weight
n / (n + m) for n positives (`core.linear_heads.tune_thresholds`, m = THRESHOLD_PRIOR is
fit's rule); and, as a ceiling, each label's optimum on the test split itself.

    python benchmarks/bench_multilabel_thresholds.py --strategy probe
    python benchmarks/bench_multilabel_thresholds.py --strategy full --epochs 5 [--lr 1e-4]

Results: benchmarks/results/multitask_thresholds.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text" / "debtags"


def indicator(df: pd.DataFrame, labels: list[str]) -> np.ndarray:
    y = np.zeros((len(df), len(labels)), dtype=int)
    for i, v in enumerate(df["labels"]):
        for lab in str(v).split("|"):
            if lab in labels:
                y[i, labels.index(lab)] = 1
    return y


def micro_macro(p: np.ndarray, y: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import f1_score

    pred = (p >= np.asarray(t)[None, :]).astype(int)
    return (
        float(f1_score(y, pred, average="micro", zero_division=0)),
        float(f1_score(y, pred, average="macro", zero_division=0)),
    )


def study(pv: np.ndarray, yv: np.ndarray, pt: np.ndarray, yt: np.ndarray) -> dict[str, list]:
    from transferkit.core.linear_heads import THRESHOLD_PRIOR, tune_thresholds

    n = yv.shape[1]
    rules = {
        "0.5": np.full(n, 0.5),
        "own optimum": tune_thresholds(pv, yv, prior=0),
        "shared optimum": tune_thresholds(pv, yv, prior=1e12),
    }
    for m in (10, 25, 50, 100):
        rules[f"shrunk m={m}" + (" (fit's rule)" if m == THRESHOLD_PRIOR else "")] = (
            tune_thresholds(pv, yv, prior=m)
        )
    rules["own optimum on test (ceiling)"] = tune_thresholds(pt, yt, prior=0)
    return {k: [round(x, 4) for x in micro_macro(pt, yt, np.asarray(t))] for k, t in rules.items()}


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--strategy", default="full")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    import transferkit
    from transferkit.core.inference import predict_logits
    from transferkit.models.factory import load_model
    from transferkit.models.problems import problem_of

    train = pd.read_csv(DATA / "train.csv", keep_default_na=False)
    test = pd.read_csv(DATA / "test.csv", keep_default_na=False)
    val = train.sample(frac=0.1, random_state=0)
    kw = {"strategy": args.strategy, "base": "minilm-l6", "task": "multi-label", "progress": False}
    kw |= {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    with tempfile.TemporaryDirectory() as tmp:
        train.drop(val.index).to_csv(f"{tmp}/fit.csv", index=False)
        val.to_csv(f"{tmp}/val.csv", index=False)
        t0 = time.perf_counter()
        res = transferkit.fit(f"{tmp}/fit.csv", eval=f"{tmp}/val.csv", out=f"{tmp}/m", **kw)
        secs = time.perf_counter() - t0
        model = load_model(f"{tmp}/m")
    problem, labels = problem_of(model), list(model.labels)
    pv = problem.scores(predict_logits(model, val["text"].tolist(), 64))
    pt = problem.scores(predict_logits(model, test["text"].tolist(), 64))
    out = {
        "strategy": res.strategy,
        "hyperparameters": {k: v for k, v in res.hyperparameters.items() if k != "thresholds"},
        "history": res.history,
        "train_seconds": round(secs, 1),
        "val_positives": indicator(val, labels).sum(0).tolist(),
        "test_micro_macro_f1": study(pv, indicator(val, labels), pt, indicator(test, labels)),
    }
    print(json.dumps(out, indent=1, default=str))
    print(f"\n| rule (tuned on {len(val)} validation rows) | test micro-F1 | test macro-F1 |")
    print("|---|---:|---:|")
    for rule, (mi, ma) in out["test_micro_macro_f1"].items():
        print(f"| {rule} | {mi:.3f} | {ma:.3f} |")


if __name__ == "__main__":
    main()
