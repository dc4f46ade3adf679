"""Benchmark of `transferkit compare` on the project's real cases; prints a table.

Cases (all from ../shared/data, plus sklearn's bundled 8x8 digits):
  sst2->cr     minilm-l6-sst2 on product reviews (same labels, reused head), reference sst2
  trec         minilm-l6 on question types (new labels), reference: generic English sample
  hymenoptera  mobilenet-v2 on ants vs bees (images, new head), no reference
  digits       mobilenet-v2 on 8x8 digits upscaled to 32x32 RGB (ImageNet features are
               expected to help little), reference: hymenoptera val (ImageNet photos)

    python benchmarks/bench_compare.py                 # default sizes (~15-30 min, 2 cores)
    python benchmarks/bench_compare.py --quick --threads 1 --out benchmarks/results/compare.md
    python benchmarks/bench_compare.py --cases digits --per-class 100 --seeds 3

Each case: seeds runs of transfer (--strategy), scratch (time-capped) and classical,
evaluated on the case's test split (subsampled to --n-eval). Accuracies are means over
seeds; "±" is the half-width of the decision interval (seeds and test-set noise).
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def digits_folder(root: Path, per_class: int, n_test: int) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(d.target == c))
        for k, i in enumerate(idx[: per_class + n_test]):
            folder = root / ("train" if k < per_class else "test") / str(c)
            folder.mkdir(parents=True, exist_ok=True)
            img = (d.images[i] * (255 / 16)).astype(np.uint8)
            Image.fromarray(img, "L").resize((32, 32), Image.Resampling.NEAREST).convert(
                "RGB"
            ).save(folder / f"{i}.png")


def image_subset(src: Path, dst: Path, per_class: int | None) -> Path:
    for c in sorted(p.name for p in src.iterdir() if p.is_dir()):
        (dst / c).mkdir(parents=True, exist_ok=True)
        files = sorted(f for f in (src / c).iterdir() if f.is_file())
        for f in files[:per_class] if per_class else files:
            (dst / c / f.name).symlink_to(f)
    return dst


def text_case(name: str, per_class: int | None, n_eval: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.read_csv(DATA / "text" / name / "train.csv")
    if per_class:
        train = (
            train.groupby("label").sample(frac=1.0, random_state=0).groupby("label").head(per_class)
        )
    test = pd.read_csv(DATA / "text" / name / "test.csv")
    return train, test.sample(min(n_eval, len(test)), random_state=0)


def run_case(case: str, args: argparse.Namespace, tmp: Path) -> dict:
    from transferkit.workflows.compare import compare

    common = dict(
        strategy=args.strategy,
        seeds=args.seeds,
        sizes=args.sizes or None,
        budget=args.budget,
        scratch_time_limit=args.scratch_seconds,
        scratch_epochs=args.scratch_epochs,
        report=tmp / f"{case}.html",
    )
    if case == "sst2->cr":
        train, test = text_case("cr", args.per_class, args.n_eval)
        sst2 = pd.read_csv(DATA / "text" / "sst2" / "train.csv").sample(300, random_state=0)
        ref = sst2[["text"]]  # texts only: the reference needs no labels
        return compare(train, eval=test, base="minilm-l6-sst2", reference=ref, **common)
    if case == "trec":
        train, test = text_case("trec", args.per_class, args.n_eval)
        return compare(train, eval=test, base="minilm-l6", **common)
    hym = DATA / "images" / "hymenoptera"
    if case == "hymenoptera":
        tr = image_subset(hym / "train", tmp / "hym" / "train", args.per_class)
        te = image_subset(hym / "val", tmp / "hym" / "val", None)
        return compare(tr, eval=te, base="mobilenet-v2", **common)
    if case == "digits":
        digits_folder(tmp / "digits", args.per_class or 100, max(10, args.n_eval // 10))
        ref = image_subset(hym / "val", tmp / "hymref", None)
        return compare(tmp / "digits" / "train", eval=tmp / "digits" / "test",
                       base="mobilenet-v2", reference=ref, **common)  # fmt: skip
    raise SystemExit(f"unknown case {case!r}")


def _ci(m: dict) -> str:
    ci = m["ci"]
    half = (ci["high"] - ci["low"]) / 2
    return f"{m['accuracy']:.3f} ± {half:.3f}" + ("" if ci.get("interval_defined") else " (1 seed)")


def method_rows(case: str, r: dict) -> list[list[str]]:
    rows = []
    for key in ("transfer", "scratch", "classical"):
        m = r.get(key)
        if not m:
            why = next((s["why"] for s in r["skipped"] if s["what"] == key), "not run")
            rows.append([case, key, f"skipped: {why}", "", "", "", "", ""])
            continue
        what = m.get("strategy") or m.get("model") or ""
        if key == "scratch":
            stops = sorted({x.get("stop_reason") or "" for x in m["runs"]} - {""})
            epochs = ",".join(str(x["epochs"]) for x in m["runs"])
            what = f"epochs {epochs}" + (f"; stopped: {', '.join(stops)}" if stops else "")
        rows.append([
            case, key + (f" ({what})" if what else ""), _ci(m), f"{m['macro_f1']:.3f}",
            f"{m['train_seconds']:.1f}", f"{m['cpu_seconds']:.1f}", f"{m['train_accuracy']:.3f}",
            f"{m['overfit_gap']:+.3f}",
        ])  # fmt: skip
    return rows


def case_row(case: str, r: dict, wall: float) -> list[str]:
    gap = r.get("domain_gap") or {}
    ttr = r.get("time_to_reach") or {}
    if ttr.get("reached"):
        reach = (
            f"{ttr['transfer_seconds']:.1f} s vs {ttr['scratch_seconds_to_best']:.1f} s "
            f"(scratch best val {ttr['scratch_best_val_accuracy']:.3f})"
        )
    elif ttr:
        reach = f"never (scratch best val {ttr['scratch_best_val_accuracy']:.3f})"
    else:
        reach = "-"
    warn = sorted(
        {w["kind"] + (f"/{w['against']}" if w.get("against") else "") for w in r["warnings"]}
    )
    t = r["task"]
    return [
        case, f"{t['base']}, {t['head']} head", f"{t['n_fit']}/{t['n_val']}/{t['n_eval']}",
        f"{gap['zero_shot_accuracy']:.3f}" if "zero_shot_accuracy" in gap else "-",
        f"{gap['a_distance']:.2f}" if "a_distance" in gap else "-",
        reach, ", ".join(warn) or "none", f"{wall:.0f}",
    ]  # fmt: skip


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def machine() -> str:
    import os
    import platform

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} CPU(s) ({cpu}), Python {platform.python_version()}"
    )


def load() -> str:
    import os

    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cases", default="sst2->cr,trec,hymenoptera,digits")
    ap.add_argument("--quick", action="store_true", help="small slices, 2 seeds, short scratch")
    ap.add_argument("--strategy", default="probe")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--n-eval", type=int, default=500)
    ap.add_argument("--sizes", default="8,32,all")
    ap.add_argument("--budget", type=float, default=None)
    ap.add_argument("--scratch-seconds", type=float, default=120.0)
    ap.add_argument("--scratch-epochs", type=int, default=None)
    ap.add_argument(
        "--threads", type=int, default=None,
        help="torch and BLAS threads (1 is much faster on a busy shared machine)",
    )  # fmt: skip
    ap.add_argument("--json", default=None, help="also write all results here")
    ap.add_argument("--out", default=None, help="write the markdown tables here")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.per_class, args.n_eval = 2, 30, 150
        args.sizes, args.scratch_seconds, args.scratch_epochs = "8,all", 15.0, 3
    limits = None
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        limits = threadpool_limits(limits=args.threads)
    import torch

    started, load0 = datetime.datetime.now(), load()
    methods, cases, results = [], [], {}
    with tempfile.TemporaryDirectory() as td:
        for case in args.cases.split(","):
            t0 = time.time()
            r = run_case(case, args, Path(td))
            results[case] = r
            methods += method_rows(case, r)
            cases.append(case_row(case, r, time.time() - t0))
            print(f"done {case} in {time.time() - t0:.0f} s", file=sys.stderr)
    if limits is not None:
        limits.restore_original_limits()
    out = [
        f"# bench_compare: {started:%Y-%m-%d %H:%M}",
        "",
        "Command: `python " + " ".join(sys.argv) + "`",
        "",
        f"Machine: {machine()}; torch {torch.__version__} with {torch.get_num_threads()} "
        f"thread(s); load average (1/5/15 min) {load0} at start, {load()} at the end "
        "(shared with other jobs: wall seconds are inflated, CPU seconds less so).",
        "",
        f"Settings: seeds={args.seeds}, per_class={args.per_class}, n_eval<={args.n_eval}, "
        f"strategy={args.strategy}, sizes={args.sizes or 'none'}, scratch capped at "
        f"{args.scratch_seconds:g} s"
        + (f" / {args.scratch_epochs} epochs" if args.scratch_epochs else "")
        + " per run.",
        "",
        "Accuracy: mean over seeds ± half-width of the decision interval (95%, the wider of "
        "the seed spread and the test-set binomial noise). Train s / CPU s: mean per run. "
        "Train acc: on (up to 512 of) the training data; gap = train acc - test acc.",
        "",
        table(
            [
                "case",
                "method",
                "test accuracy",
                "macro-F1",
                "train s",
                "CPU s",
                "train acc",
                "overfit gap",
            ],
            methods,
        ),  # fmt: skip
        "",
        "Zero-shot: the reused source head on the test data before adaptation. PAD: proxy "
        "A-distance (0 = same domain, 2 = separable) between the reference sample and the "
        "training data. Time to reach: training seconds transfer needed to reach the best "
        "validation accuracy of scratch, vs the seconds scratch took to get there. "
        "fit/val/test: examples.",
        "",
        table(
            [
                "case",
                "base",
                "fit/val/test",
                "zero-shot",
                "PAD",
                "time to reach scratch best",
                "warnings",
                "wall s",
            ],
            cases,
        ),  # fmt: skip
        "",
    ]
    text = "\n".join(out)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    if args.json:
        from transferkit.evaluation.report import write_json

        write_json(results, args.json)


if __name__ == "__main__":
    main()
