"""Does the automatic choice (`rank` = `fit --base auto`) find the first kind of transfer?

Same-label cases: the packaged sentiment model `minilm-l6-sst2` (SST-2 movie reviews,
NEGATIVE/POSITIVE) and data labelled negative/positive from elsewhere:

- ``cr300``: 300 CR product reviews (stratified, seed 0) from cr train, eval on cr test;
- ``cr``: all 3,017 of cr train, eval on cr test;
- ``sst5bin``: a binary slice of SST-5 *test* (very negative/negative -> negative,
  positive/very positive -> positive, neutral dropped): 300 to train on, the rest of that
  slice (stratified) to evaluate on. SST-5 test sentences are not in SST-2 train (the head
  never saw them); it is the head's own domain, the easy case.

Per case, on the same eval rows:
- **auto**: what `rank` recommends (its base, cut, strategy, head decision), trained by
  `fit(base="auto")`; the test checks that fit took rank's answer. Its time = rank's
  seconds (fit's own ranking hits rank's feature cache) + fit's training seconds.
- **head as is**: the source head zero-shot (0 s of training);
- **head + probe**: `fit(base="minilm-l6-sst2", strategy="probe")`;
- **always fine-tune**: `fit(base="minilm-l6", strategy="auto")` (fit's own rule with a new
  head: contrastive for <= 150 per class, full fine-tuning above), unless
  ``--no-finetune`` is given for that case, in which case rank's measured estimate of its
  time is reported and its accuracy is left blank.

"Best within noise": the auto choice's accuracy is within twice the binomial standard
error (at the best accuracy, on the eval rows) of the best option measured.

Run:  nice -n 10 python benchmarks/bench_choose.py --threads 1 --cases cr300 sst5bin \\
          --json benchmarks/results/choose.json
      python benchmarks/bench_choose.py --render benchmarks/results/choose*.json
      nice -n 10 python benchmarks/bench_choose.py --agree --cases cr300 cr trec \\
          --json benchmarks/results/rank_fit_agree.json      # rank vs fit's choice, no training
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"
SST5_NEG, SST5_POS = {"very negative", "negative"}, {"positive", "very positive"}


def _stratified(df: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    from transferkit.select.subsample import stratified_subsample

    if n >= len(df):
        return df.reset_index(drop=True)
    idx = stratified_subsample(np.asarray(df.label.astype(str)), n, seed=seed)
    return df.iloc[np.sort(idx)].reset_index(drop=True)


def case_data(name: str, n_eval: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    if name in ("cr", "cr300"):
        tr = pd.read_csv(DATA / "cr" / "train.csv")
        ev = _stratified(pd.read_csv(DATA / "cr" / "test.csv"), n_eval, 1)
        return (_stratified(tr, 300, 0) if name == "cr300" else tr), ev
    if name == "sst5bin":
        df = pd.read_csv(DATA / "sst5" / "test.csv")
        df = df[df.label.isin(SST5_NEG | SST5_POS)].copy()
        df["label"] = np.where(df.label.isin(SST5_NEG), "negative", "positive")
        df = df.reset_index(drop=True)
        tr = _stratified(df, 300, 0)
        rest = df[~df.text.isin(set(tr.text))]
        return tr, _stratified(rest, n_eval, 1)
    raise SystemExit(f"unknown case {name!r}; use cr300, cr or sst5bin")


def _fit(train: pd.DataFrame, ev: pd.DataFrame, **kw: Any) -> dict[str, Any]:
    from transferkit import fit

    t0 = time.perf_counter()
    r = fit(train, eval=ev, progress=False, **kw)
    return {
        "base": r.base,
        "strategy": r.strategy,
        "accuracy": r.eval["accuracy"],
        "macro_f1": r.eval["macro_f1"],
        "train_seconds": round(r.train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "zero_shot_accuracy": None if r.zero_shot is None else r.zero_shot["accuracy"],
        "reason": r.reason,
    }


def run_case(name: str, n_eval: int, finetune: bool) -> dict[str, Any]:
    from transferkit import rank

    train, ev = case_data(name, n_eval)
    t0 = time.perf_counter()
    result = rank(train)
    rank_s = time.perf_counter() - t0
    reco = result.recommendation
    assert reco is not None
    auto = _fit(train, ev)  # base auto, strategy auto: rank's answer
    out: dict[str, Any] = {
        "case": name,
        "n_train": len(train),
        "n_eval": len(ev),
        "rank_seconds": round(rank_s, 1),
        "recommendation": reco.to_dict(),
        "same_answer": auto["base"] == reco.ref and auto["strategy"] == reco.strategy,
        "auto": auto,
        "options": {},
    }
    out["options"]["head + probe"] = _fit(train, ev, base="minilm-l6-sst2", strategy="probe")
    zs = out["options"]["head + probe"]["zero_shot_accuracy"]
    out["options"]["head as is"] = {"accuracy": zs, "train_seconds": 0.0}
    body = next(c for c in result.candidates if c["model"] == "minilm-l6" and c["cut"] is None)
    if finetune:
        out["options"]["always fine-tune"] = _fit(train, ev, base="minilm-l6")
    else:
        out["options"]["always fine-tune"] = {
            "strategy": body["strategy"],
            "accuracy": None,
            "train_seconds": body["estimated_seconds"],
            "estimated": True,
        }
    return out


def agree_case(name: str) -> dict[str, Any]:
    """`rank` and fit's base choice (`choose_base`, what `fit --base auto` runs) on the
    same training data, no training: do they give the same base, cut, strategy and head?"""
    from transferkit import rank
    from transferkit.data.datasets import load_labelled
    from transferkit.workflows.autobase import choose_base

    if name == "trec":
        train = pd.read_csv(DATA / "trec" / "train.csv")
    else:
        train = case_data(name, 10)[0]
    t0 = time.perf_counter()
    result = rank(train)
    rank_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    choice = choose_base(load_labelled(train))
    reco = result.recommendation
    assert reco is not None
    keep = ("model", "cut", "strategy", "head", "expected_accuracy", "estimated_seconds")
    return {
        "case": name,
        "n_train": len(train),
        "n_scored": result.n_scored,
        "rank_seconds": round(rank_s, 1),
        "fit_choice_seconds": round(time.perf_counter() - t0, 1),
        "rank": [reco.ref, reco.strategy, reco.head],
        "fit": [choice.ref, choice.strategy, choice.head],
        "recommendation": reco.to_dict(),
        "candidates": [
            {k: c[k] for k in keep}
            | {"knn": c["scores"].get("knn"), "zero_shot": c["zero_shot"]}
            | {"latency_ms": c["cost"].get("latency_ms")}
            for c in result.candidates
        ],
        "notes": result.notes,
    }


def summarise(case: dict[str, Any]) -> dict[str, Any]:
    opts = case["options"]
    measured = {k: v["accuracy"] for k, v in opts.items() if v.get("accuracy") is not None}
    measured["auto"] = case["auto"]["accuracy"]
    best_name = max(measured, key=measured.get)  # type: ignore[arg-type]
    best = measured[best_name]
    half = 2 * math.sqrt(max(best * (1 - best), 0.0475) / case["n_eval"])
    auto_s = case["rank_seconds"] + case["auto"]["train_seconds"]
    ft = opts["always fine-tune"]
    return {
        "best": best_name,
        "best_accuracy": best,
        "noise": round(half, 3),
        "auto_best_within_noise": case["auto"]["accuracy"] >= best - half,
        "accuracy_lost": round(best - case["auto"]["accuracy"], 4),
        "auto_seconds": round(auto_s, 1),
        "finetune_seconds": ft["train_seconds"],
        "time_saved_s": None
        if ft["train_seconds"] is None
        else round(ft["train_seconds"] - auto_s, 1),
    }


def render(cases: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Machine: {meta.get('machine')}; load before/after: {meta.get('load_before')} / "
        f"{meta.get('load_after')}; date {meta.get('date')}; threads {meta.get('threads')}.",
        "",
        "| case | n train / eval | rank + fit agree | recommendation (head) | auto acc | "
        "head as is | head + probe | always fine-tune (strategy) | best within noise? | "
        "acc lost vs best | auto s (rank + train) | fine-tune s | time saved s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    for c in cases:
        s, o, r = summarise(c), c["options"], c["recommendation"]
        ft = o["always fine-tune"]
        ref = r["model"] + ("" if r["cut"] is None else f"@{r['cut']}")
        est = " (est.)" if ft.get("estimated") else ""
        saved = "-" if s["time_saved_s"] is None else f"{s['time_saved_s']:.0f}"
        lines.append(
            f"| {c['case']} | {c['n_train']} / {c['n_eval']} | {'yes' if c['same_answer'] else 'NO'}"
            f" | {ref} {r['strategy']} ({r['head']}) | {fmt(c['auto']['accuracy'])} | "
            f"{fmt(o['head as is']['accuracy'])} | {fmt(o['head + probe']['accuracy'])} | "
            f"{fmt(ft['accuracy'])} ({ft.get('strategy', '-')}) | "
            f"{'yes' if s['auto_best_within_noise'] else 'no'} (±{s['noise']:.3f}) | "
            f"{s['accuracy_lost']:+.3f} | {s['auto_seconds']:.0f} ({c['rank_seconds']:.0f} + "
            f"{c['auto']['train_seconds']:.0f}) | {ft['train_seconds']:.0f}{est} | "
            f"{saved} |"
        )
    n_best = sum(summarise(c)["auto_best_within_noise"] for c in cases)
    lines += ["", f"Automatic choice best within noise: {n_best} of {len(cases)} cases."]
    for c in cases:
        lines.append(f"- {c['case']}: {c['recommendation']['head_reason']}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=["cr300", "sst5bin", "cr"])
    ap.add_argument("--no-finetune", nargs="*", default=[], help="cases to estimate, not run")
    ap.add_argument("--n-eval", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--agree", action="store_true", help="rank vs fit's choice only, no training")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--render", type=Path, nargs="+", default=None, help="JSON files to table")
    args = ap.parse_args()
    if args.render is not None:
        runs = [json.loads(f.read_text()) for f in args.render]
        for d in runs:  # one line of machine, load and date per file
            print(render(d["cases"], d["meta"]).splitlines()[0])
        print(render([c for d in runs for c in d["cases"]], runs[0]["meta"]).split("\n", 2)[2])
        return
    import torch

    torch.set_num_threads(args.threads)
    uptime = lambda: subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()  # noqa: E731
    meta = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}",
        "threads": args.threads,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_before": uptime().split("load average:")[-1].strip(),
    }
    if args.agree:
        rows = [agree_case(name) for name in args.cases]
        meta["load_after"] = uptime().split("load average:")[-1].strip()
        if args.json is not None:
            args.json.write_text(json.dumps({"meta": meta, "cases": rows}, indent=1))
        for r in rows:
            print(r["case"], "rank:", r["rank"], "fit:", r["fit"], r["rank"] == r["fit"])
        return
    cases = []
    for name in args.cases:
        cases.append(run_case(name, args.n_eval, name not in args.no_finetune))
        print(json.dumps(summarise(cases[-1])), flush=True)
        if args.json is not None:  # write as we go: a long run keeps what it measured
            meta["load_after"] = uptime().split("load average:")[-1].strip()
            args.json.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1))
    meta["load_after"] = uptime().split("load average:")[-1].strip()
    if args.json is not None:
        args.json.write_text(json.dumps({"meta": meta, "cases": cases}, indent=1))
    print(render(cases, meta))


if __name__ == "__main__":
    main()
