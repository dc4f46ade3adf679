"""Are the time estimates honest? `fit`'s plan estimate (what `auto`, `rank` and the
summaries print) against the measured training time, per strategy, on real data.

    python benchmarks/bench_estimates.py [--dataset sst2] [--sizes 16 300]
        [--strategies probe partial full lora contrastive] [--threads T]
        [--out benchmarks/results/estimates.json]

Each row: minilm-l6 on a stratified sample of the dataset's train split (n examples), the
plan's `estimated_seconds` vs `train_seconds` (the same span fit reports), their ratio, and
whether it is within 2x either way (the goal). Run on a quiet machine (check `uptime`): a
busy one inflates the measured side only.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def sample(dataset: str, n: int, seed: int = 0) -> pd.DataFrame:
    df = pd.read_csv(DATA / "text" / dataset / "train.csv")
    per_class = max(1, n // df["label"].nunique())
    return df.groupby("label").sample(per_class, random_state=seed).sample(frac=1, random_state=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="sst2")
    ap.add_argument("--sizes", nargs="+", type=int, default=[16, 300])
    ap.add_argument(
        "--strategies", nargs="+", default=["probe", "partial", "full", "lora", "contrastive"]
    )
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from transferkit import fit

    rows = []
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average) at start")
    print(f"{'strategy':<12}{'n':>6}{'estimated s':>13}{'measured s':>12}{'ratio':>8}  within 2x")
    for n in args.sizes:
        df = sample(args.dataset, n)
        for strategy in args.strategies:
            r = fit(df, base="minilm-l6", strategy=strategy, progress=False, patience=None)
            est, took = r.estimated_seconds, r.train_seconds
            ratio = took / est if est else float("nan")
            ok = est is not None and 0.5 <= ratio <= 2.0
            rows.append(
                {"strategy": strategy, "n": len(df), "estimated_seconds": est,
                 "train_seconds": took, "measured_over_estimate": ratio, "within_2x": ok}
            )  # fmt: skip
            print(f"{strategy:<12}{len(df):>6}{est:>13.1f}{took:>12.1f}{ratio:>8.2f}  {ok}")
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average) at end")
    print(f"within 2x: {sum(r['within_2x'] for r in rows)} of {len(rows)}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
