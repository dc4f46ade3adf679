"""Full data: probe / partial / full / lora with `transferkit.fit` vs TF-IDF + LR.

    python benchmarks/bench_fit_full.py [--datasets sst2 trec] [--strategies probe partial full lora]
        [--epochs E] [--images] [--image-bases ...] [--image-strategies ...] [--threads T]
        [--out benchmarks/results/full.json]

Text: minilm-l6, train → test (sst2 uses dev for early stopping; trec holds out 10% of
train). Images (--images): hymenoptera train → val, mobilenet-v2 and efficientnet-lite0,
probe and partial fine-tuning. Training seconds exclude model loading and test encoding.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def tfidf(train: pd.DataFrame, test: pd.DataFrame) -> tuple[float, float]:
    from transferkit.evaluation.baselines import TfidfLogReg

    t0 = time.time()
    m = TfidfLogReg().fit(train["text"].tolist(), train["label"].to_numpy())
    acc = float((m.predict(test["text"].tolist()) == test["label"].to_numpy()).mean())
    return acc, time.time() - t0


def main() -> None:
    from transferkit import evaluate, fit

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", nargs="*", default=["sst2", "trec"])
    ap.add_argument("--strategies", nargs="+", default=["probe", "partial", "full", "lora"])
    ap.add_argument("--images", action="store_true")
    ap.add_argument("--image-bases", nargs="+", default=["mobilenet-v2", "efficientnet-lite0"])
    ap.add_argument("--image-strategies", nargs="+", default=["probe", "partial"])
    ap.add_argument("--epochs", type=int, default=None, help="text gradient strategies")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--out", default="benchmarks/results/full.json")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets:
        d = DATA / "text" / name
        train, test = pd.read_csv(d / "train.csv"), pd.read_csv(d / "test.csv")
        dev = pd.read_csv(d / "dev.csv") if (d / "dev.csv").exists() else None
        acc, sec = tfidf(train, test)
        rows.append(
            {"data": name, "model": "tf-idf+LR", "strategy": "-", "acc": acc, "seconds": sec}
        )
        print(rows[-1], flush=True)
        for s in args.strategies:
            ep = None if s == "probe" else args.epochs
            r = fit(train, eval=dev, base="minilm-l6", strategy=s, epochs=ep, progress=False)
            acc = evaluate(r.model, test)["accuracy"]
            rows.append(
                {
                    "data": name,
                    "model": "minilm-l6",
                    "strategy": s,
                    "acc": acc,
                    "seconds": r.train_seconds,
                }
            )
            print(rows[-1], flush=True)
    if args.images:
        root = DATA / "images" / "hymenoptera"
        for base in args.image_bases:
            for s in args.image_strategies:
                r = fit(root / "train", eval=root / "val", base=base, strategy=s, progress=False)
                rows.append(
                    {
                        "data": "hymenoptera",
                        "model": base,
                        "strategy": s,
                        "acc": r.eval["accuracy"],
                        "seconds": r.train_seconds,
                    }
                )
                print(rows[-1], flush=True)
    print("\n| data | model | strategy | test accuracy | train s |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['data']} | {r['model']} | {r['strategy']} | {r['acc']:.4f} | {r['seconds']:.1f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
