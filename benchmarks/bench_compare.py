"""Benchmark of `transferkit compare` on the project's real cases; prints a table.

Cases (all from ../shared/data, plus sklearn's bundled 8x8 digits):
  sst2->cr     minilm-l6-sst2 on product reviews (same labels, reused head), reference sst2
  trec         minilm-l6 on question types (new labels), reference: generic English sample
  hymenoptera  mobilenet-v2 on ants vs bees (images, new head), no reference
  digits       mobilenet-v2 on 8x8 digits upscaled to 32x32 RGB (ImageNet features are
               expected to help little), reference: hymenoptera val (ImageNet photos)

    python benchmarks/bench_compare.py                 # default sizes (~15-30 min, 2 cores)
    python benchmarks/bench_compare.py --quick         # small slices (~5-10 min)
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
    from transferkit.evaluate.compare import compare

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
        ref = pd.read_csv(DATA / "text" / "sst2" / "train.csv").sample(300, random_state=0)
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


def fmt(m: dict | None) -> str:
    if not m:
        return "skipped"
    ci = m["ci"]
    return f"{m['accuracy']:.3f} ±{(ci['high'] - ci['low']) / 2:.3f} ({m['train_seconds']:.0f} s)"


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
    ap.add_argument("--json", default=None, help="also write all results here")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.per_class, args.n_eval = 2, 30, 150
        args.sizes, args.scratch_seconds = "8,all", 20.0
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as td:
        for case in args.cases.split(","):
            t0 = time.time()
            r = run_case(case, args, Path(td))
            results[case] = r
            gap = r.get("domain_gap") or {}
            warn = sorted(
                {
                    f"{w['kind']}" + (f"/{w['against']}" if w.get("against") else "")
                    for w in r["warnings"]
                }
            )
            ttr = r.get("time_to_reach") or {}
            rows.append([
                case, r["task"]["head"], r["task"].get("strategy") or "-", fmt(r["transfer"]),
                fmt(r["scratch"]), fmt(r["classical"]),
                f"{gap['zero_shot_accuracy']:.3f}" if "zero_shot_accuracy" in gap else "-",
                f"{gap['a_distance']:.2f}" if "a_distance" in gap else "-",
                (f"{ttr['transfer_seconds']:.1f}/{ttr['scratch_seconds_to_best']:.1f}" if ttr.get("reached") else ("never" if ttr else "-")),
                ", ".join(warn) or "none", f"{time.time() - t0:.0f}",
            ])  # fmt: skip
            print(f"done {case} in {time.time() - t0:.0f} s", file=sys.stderr)
    head = ["case", "head", "strategy", "transfer acc (train s)", "scratch", "classical",
            "zero-shot", "PAD", "t->scratch best s (T/S)", "warnings", "wall s"]  # fmt: skip
    print(f"# bench_compare {datetime.date.today()} seeds={args.seeds} per_class={args.per_class} "
          f"n_eval={args.n_eval} strategy={args.strategy} scratch cap {args.scratch_seconds} s")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        from transferkit.evaluate.report import write_json

        write_json(results, args.json)


if __name__ == "__main__":
    main()
