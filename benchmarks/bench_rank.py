"""Does `rank` order candidates the way the accuracy they reach does, and how much faster?

For each task: every candidate (model x cut point) is scored as `rank` scores it
(LogME, H-score, kNN; LEEP/NCE for ImageNet heads; the combined transferability and the
cost-weighted utility), then actually adapted with a frozen-feature probe (standardised
features + logistic regression, fitted on train, accuracy on the held-out split). The
table gives the weighted Kendall tau (Vigna 2015, as TLlib/LogME report) between each
score and the probe accuracy, and the wall time of ranking vs probing every candidate
and vs fine-tuning every candidate (the latter *estimated* from measured latency, see
transferkit.select.cost; nothing is fine-tuned here).

Tasks (real data only):
  text  — sst2, trec, cr from ../shared/data (stratified train subsample, eval subsample)
  image — hymenoptera (../shared/data), sklearn's bundled digits (8x8 greyscale, upscaled
          to RGB by the model's transform), and scikit-image's bundled ``lfw_subset``
          (100 LFW faces vs 100 non-face patches, 25x25; Huang et al. 2012, shipped in the
          scikit-image wheel, no download) split 120/80 stratified.

Run:  python benchmarks/bench_rank.py [--modality text|image|all] [--threads 1]
Small candidate sets (7 text, 12 image) make tau noisy: one swapped pair moves it a lot.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SCORES = ("logme", "hscore", "knn", "leep", "nce", "transferability", "utility")


def _stratified(labels: list[str], n: int, seed: int) -> list[int]:
    from transferkit.select.subsample import stratified_subsample

    return stratified_subsample(np.asarray(labels), n, seed=seed).tolist()


def text_task(name: str, n_train: int, n_eval: int) -> tuple[Any, Any]:
    import pandas as pd

    from transferkit.data.datasets import load_labelled

    folder = DATA / "text" / name
    tr = pd.read_csv(folder / "train.csv")
    ev = pd.read_csv(folder / ("dev.csv" if (folder / "dev.csv").exists() else "test.csv"))
    tr = tr.iloc[_stratified(tr.label.astype(str).tolist(), n_train, 0)]
    ev = ev.iloc[_stratified(ev.label.astype(str).tolist(), n_eval, 1)]
    return load_labelled(tr), load_labelled(ev)


def image_task(name: str, n_train: int, n_eval: int) -> tuple[Any, Any]:
    from PIL import Image

    from transferkit.data.datasets import LabelledData, load_labelled

    if name == "hymenoptera":
        root = DATA / "images" / "hymenoptera"
        return load_labelled(root / "train"), load_labelled(root / "val")
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        imgs = [Image.fromarray((x / 16 * 255).astype(np.uint8)).convert("RGB") for x in d.images]
        labels = [str(t) for t in d.target]
    elif name == "lfw-faces":
        from skimage.data import lfw_subset

        x = lfw_subset()  # (200, 25, 25) float in [0, 1]; first 100 faces, then non-faces
        imgs = [Image.fromarray((im * 255).astype(np.uint8)).convert("RGB") for im in x]
        labels = ["face"] * 100 + ["non-face"] * 100
    else:
        raise ValueError(name)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(imgs))
    tr_idx = _stratified([labels[i] for i in order], n_train, 0)
    tr = [int(order[i]) for i in tr_idx]
    rest = [i for i in range(len(imgs)) if i not in set(tr)]
    ev = [rest[i] for i in _stratified([labels[i] for i in rest], min(n_eval, len(rest)), 1)]
    make = lambda idx: LabelledData([imgs[i] for i in idx], [labels[i] for i in idx], "image", name)  # noqa: E731
    return make(tr), make(ev)


def run_task(
    task: str, train: Any, evald: Any, models: list[tuple[str, list[int | None]]]
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from transferkit.select.candidates import describe_cut, encode_all_cuts, load_candidate
    from transferkit.select.cost import measure_cost, prepare
    from transferkit.select.rank import _score
    from transferkit.select.recommend import recommend

    classes = sorted(set(train.labels))
    y = np.asarray([classes.index(v) for v in train.labels])
    y_ev = np.asarray([classes.index(v) for v in evald.labels])
    rows: list[dict[str, Any]] = []
    t_rank = t_probe = 0.0
    cost_items = train.items[:: max(1, len(train) // 16)][:16]
    for ref, cuts in models:
        try:
            t0 = time.perf_counter()
            model = load_candidate(ref, train.modality)
        except Exception as e:  # noqa: BLE001 - reported in the table
            print(f"  {ref}: cannot load ({e})")
            continue
        t_load = time.perf_counter() - t0
        cuts = [None] if model.features_only else cuts
        # Ranking: encode train once (all cuts), score, measure cost.
        t0 = time.perf_counter()
        feats, probs = encode_all_cuts(model, train.items, cuts, batch_size=32)
        t_enc = time.perf_counter() - t0
        prepared, prep_s = prepare(model, cost_items)
        for c in cuts:
            scores = _score(feats[c], y, probs if c is None else None)
            cost = measure_cost(
                model, cost_items, c, n_train=len(train), prepared=prepared, preprocess_s=prep_s
            )
            rows.append(
                {
                    "model": ref,
                    "cut": c,
                    "cut_desc": describe_cut(model, c),
                    "features_only": model.features_only,
                    "scores": scores,
                    "cost": cost,
                    "error": None,
                }
            )
        t_rank += t_load + time.perf_counter() - t0
        # Brute force (probe): encode train and eval, fit a logistic probe per cut.
        t0 = time.perf_counter()
        ev_feats, _ = encode_all_cuts(model, evald.items, cuts, batch_size=32)
        for c in cuts:
            scaler = StandardScaler().fit(feats[c])
            clf = LogisticRegression(max_iter=2000, C=0.5).fit(scaler.transform(feats[c]), y)
            acc = float((clf.predict(scaler.transform(ev_feats[c])) == y_ev).mean())
            next(r for r in rows if r["model"] == ref and r["cut"] == c)["probe_acc"] = acc
        t_probe += t_load + t_enc + time.perf_counter() - t0
        del model
    t0 = time.perf_counter()
    counts = {c: int((y == i).sum()) for i, c in enumerate(classes)}
    ranked, reco, _ = recommend(rows, modality=train.modality, counts=counts)
    t_rank += time.perf_counter() - t0
    return {
        "task": task,
        "rows": ranked,
        "reco": reco,
        "t_rank": t_rank,
        "t_probe": t_probe,
        "t_finetune_est": sum(r["cost"].get("finetune_s") or 0.0 for r in ranked),
    }


def taus(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    from transferkit.select.scores import weighted_kendall_tau

    out: dict[str, float | None] = {}
    for s in SCORES:
        have = [r for r in rows if s in r["scores"] or s in r]
        if len(have) < 3:
            out[s] = None
            continue
        x = [r["scores"][s] if s in r["scores"] else r[s] for r in have]
        acc = [r["probe_acc"] for r in have]
        try:
            out[s] = weighted_kendall_tau(np.asarray(x), np.asarray(acc))
        except ValueError:  # constant scores or accuracies: tau undefined
            out[s] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modality", choices=["text", "image", "all"], default="all")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-eval", type=int, default=500)
    args = ap.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    tasks: list[tuple[str, Any, list[tuple[str, list[int | None]]]]] = []
    if args.modality in ("text", "all"):
        text_models = [("minilm-l6", [None, 2, 3, 4, 5, 6]), ("multilingual-e5-small", [None])]
        for name in ("sst2", "trec", "cr"):
            tasks.append(
                (name, lambda n=name: text_task(n, args.n_train, args.n_eval), text_models)
            )
    if args.modality in ("image", "all"):
        image_models = [
            (m, [None, 5, 7])
            for m in (
                "mobilenet-v2",
                "efficientnet-lite0",
                "efficientnet-lite1",
                "efficientnet-lite2",
            )
        ]
        sizes = {"hymenoptera": (0, 0), "digits": (300, 200), "lfw-faces": (120, 80)}
        for name, (ntr, nev) in sizes.items():
            tasks.append((name, lambda n=name, a=ntr, b=nev: image_task(n, a, b), image_models))

    results = []
    for name, load, models in tasks:
        train, evald = load()
        print(
            f"== {name}: {len(train)} train / {len(evald)} eval, {len(set(train.labels))} classes"
        )
        res = run_task(name, train, evald, models)
        for r in res["rows"]:
            cut = " (full)" if r["cut"] is None else f"@{r['cut']}"
            sc = " ".join(f"{k}={v:.3f}" for k, v in r["scores"].items())
            print(
                f"  #{r['rank']:<2} {r['model']}{cut:<5} probe_acc={r['probe_acc']:.3f} {sc} "
                f"T={r['transferability']:.3f} U={r['utility']:.3f} "
                f"{r['cost']['latency_ms']:.1f}ms/ex"
            )
        res["tau"] = taus(res["rows"])
        best = max(res["rows"], key=lambda r: r["probe_acc"])
        res["best"] = f"{best['model']}{'' if best['cut'] is None else '@' + str(best['cut'])}"
        results.append(res)

    head = (
        "| task | n cand | "
        + " | ".join(f"τ {s}" for s in SCORES)
        + " | recommended (probe acc) | best probe | rank s | probe-all s | fine-tune-all s (est.) | × vs probe | × vs fine-tune |"
    )
    print("\n" + head)
    print("|" + "---|" * (head.count("|") - 1))
    for res in results:
        tau = " | ".join("-" if res["tau"][s] is None else f"{res['tau'][s]:+.2f}" for s in SCORES)
        reco = res["reco"]
        rrow = next(
            r for r in res["rows"] if r["model"] == reco["model"] and r["cut"] == reco["cut"]
        )
        name = f"{reco['model']}{'' if reco['cut'] is None else '@' + str(reco['cut'])}"
        print(
            f"| {res['task']} | {len(res['rows'])} | {tau} | {name} ({rrow['probe_acc']:.3f}) | "
            f"{res['best']} ({max(r['probe_acc'] for r in res['rows']):.3f}) | "
            f"{res['t_rank']:.0f} | {res['t_probe']:.0f} | {res['t_finetune_est']:.0f} | "
            f"{res['t_probe'] / res['t_rank']:.1f} | {res['t_finetune_est'] / res['t_rank']:.0f} |"
        )
    for s in SCORES:
        vals = [r["tau"][s] for r in results if r["tau"][s] is not None]
        if vals:
            print(f"mean τ {s}: {np.mean(vals):+.3f} over {len(vals)} tasks")


if __name__ == "__main__":
    main()
