"""Does the size of rank's scored subsample change its answer? `transferkit.rank` on all of
a task's training data at several ``max_examples``; prints each run's order and CPU time.

    python benchmarks/bench_rank_stability.py --tasks sst2 trec --max-examples 300 2000 \
        [--threads 1] [--json benchmarks/results/rank_stability.json]

Real data only: ../shared/data/text/<task>/train.csv. The feature cache is off, so every
run encodes its subsample itself.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


def main() -> None:
    import pandas as pd
    import torch

    from transferkit.select.candidates import candidate_ref
    from transferkit.select.rank import rank

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["sst2", "trec"])
    ap.add_argument("--max-examples", nargs="+", type=int, default=[300, 2000])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for task in args.tasks:
        train = pd.read_csv(DATA / task / "train.csv")
        for m in args.max_examples:
            t0, c0 = time.perf_counter(), time.process_time()
            d = rank(train, max_examples=m, use_cache=False).to_dict()
            runs.append(
                {
                    "task": task,
                    "n_train": len(train),
                    "max_examples": m,
                    "wall_s": time.perf_counter() - t0,
                    "cpu_s": time.process_time() - c0,
                    "order": [
                        [c["model"], c["cut"], c.get("rank"), c["scores"].get("knn")]
                        for c in d["candidates"]
                    ],
                    "recommendation": d["recommendation"],
                }
            )
            print(task, m, f"{runs[-1]['cpu_s']:.0f} CPU s", flush=True)
    print("\n| task | n train | scored | CPU s | order (kNN) | recommended |")
    print("|---|---|---|---|---|---|")
    for r in runs:
        order = ", ".join(
            f"{candidate_ref(m, c)} ({'-' if k is None else f'{k:.3f}'})"
            for m, c, _, k in r["order"]
        )
        reco = r["recommendation"]
        name = candidate_ref(reco["model"], reco["cut"])
        print(
            f"| {r['task']} | {r['n_train']} | {r['max_examples']} | {r['cpu_s']:.0f} | "
            f"{order} | {name} + {reco['strategy']} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(runs, indent=1, default=str))


if __name__ == "__main__":
    main()
