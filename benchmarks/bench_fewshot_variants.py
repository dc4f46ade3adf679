"""Few-shot engine variants on the same samples as bench_fit_fewshot.py: `fit --strategy
auto` with the contrastive rule changed for the run (layers tuned, steps, lr), ours only.

Used to choose the few-shot defaults on the tuning sets (sst2, cr, sst5); keep the held-out
set (trec) out of it. Each variant is `name=key:value,...` with keys
  layers  top encoder layers tuned: an int, or "rule" (the current default rule)
  steps   body-tuning steps: an int, "rule" (the default), or "xC" = the default x classes/2
  lr      the body-tuning learning rate (default: the package's CONTRASTIVE_LR)

    python benchmarks/bench_fewshot_variants.py --datasets sst5 --seeds 0 1 2 3 4 \\
        --variant l3=layers:3 --variant l6=layers:6 --threads 1 \\
        --out benchmarks/results/fewshot_variants.json

The JSON holds, per dataset / variant / seed, accuracy on the same 500-row test slice as
bench_fit_fewshot.py, the training seconds and what the run used (layers, steps, lr);
it is rewritten after every run, and existing entries are skipped (resume).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any

import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


def parse_variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, spec = text.partition("=")
    opts = dict(kv.split(":", 1) for kv in spec.split(",") if kv)
    unknown = set(opts) - {"layers", "steps", "lr"}
    if not name or unknown:
        raise SystemExit(f"bad --variant {text!r}: name=layers:L,steps:S,lr:X ({unknown})")
    return name, opts


def run_variant(train: pd.DataFrame, test: pd.DataFrame, seed: int, opts: dict[str, str]) -> dict:
    """One `fit` with the contrastive rule patched as `opts` says (restored after)."""
    import transferkit.adapt.contrastive as ct
    import transferkit.core.strategies as st
    from transferkit import fit

    tune, rule_steps = ct.contrastive_tune, st.contrastive_steps
    n_classes = train["label"].nunique()
    layers, steps = opts.get("layers", "rule"), opts.get("steps", "rule")
    if layers != "rule":
        ct.contrastive_tune = lambda *a, **kw: tune(*a, **{**kw, "top_layers": int(layers)})
    if steps.startswith("x"):
        st.contrastive_steps = (
            lambda n: int(  # type: ignore[assignment]
                round(rule_steps(n) * max(1.0, float(steps[1:]) * n_classes / 2))
            )
        )
    elif steps != "rule":
        st.contrastive_steps = lambda n: int(steps)  # type: ignore[assignment]
    try:
        lr = float(opts["lr"]) if "lr" in opts else None
        r = fit(
            train, eval=test, base="minilm-l6", strategy="auto", seed=seed, lr=lr, progress=False
        )
    finally:
        ct.contrastive_tune, st.contrastive_steps = tune, rule_steps
    hp = r.hyperparameters
    return {
        "accuracy": r.eval["accuracy"],
        "seconds": r.train_seconds,
        "strategy": r.strategy,
        "used": {a: hp.get(a) for a in ("top_layers", "contrastive_steps", "lr")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--datasets", nargs="+", default=["sst5"])
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--variant", action="append", required=True)
    ap.add_argument("--n-test", type=int, default=500)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/fewshot_variants.json")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    variants = [parse_variant(v) for v in args.variant]
    out = Path(args.out)
    res: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"runs": {}}
    runs = res["runs"]
    for name in args.datasets:
        full = pd.read_csv(DATA / name / "train.csv")
        test = pd.read_csv(DATA / name / "test.csv")
        if args.n_test and len(test) > args.n_test:
            test = test.sample(args.n_test, random_state=0)  # the slice bench_fit_fewshot uses
        for seed in args.seeds:  # seed-major: every variant on a sample before the next
            train = full.groupby("label").sample(args.k, random_state=seed).reset_index(drop=True)
            for vname, opts in variants:
                key = f"{name}/k{args.k}/{vname}/{seed}"
                if key in runs:
                    continue
                runs[key] = {"opts": opts, **run_variant(train, test, seed, opts)}
                print(key, runs[key], flush=True)
                out.write_text(json.dumps(res, indent=1))
    for name in args.datasets:
        for vname, _ in variants:
            accs = [
                runs[f"{name}/k{args.k}/{vname}/{s}"]["accuracy"]
                for s in args.seeds
                if f"{name}/k{args.k}/{vname}/{s}" in runs
            ]
            if accs:
                print(f"{name} {vname}: mean {statistics.mean(accs):.3f} over {len(accs)}", accs)


if __name__ == "__main__":
    main()
