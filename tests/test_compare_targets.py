"""compare on multi-label data and numeric targets: the methods, intervals, learning
curve and report (tiny BERT); integration on real slices of debtags and sst5."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

WORDS = {"game": "arcade", "audio": "sound", "net": "network"}
SST5 = {"very negative": 0, "negative": 1, "neutral": 2, "positive": 3, "very positive": 4}


def _multilabel_frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    filler = ["tool", "simple", "fast", "small", "program", "linux", "daemon", "client"]
    rows = []
    for _ in range(n):
        have = [t for t in WORDS if rng.random() < 0.45] or ["game"]
        words = [WORDS[t] for t in have] + list(rng.choice(filler, size=3))
        rows.append({"text": " ".join(words), "labels": "|".join(have)})
    return pd.DataFrame(rows)


def _regression_frame(n: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    words = ["awful", "bad", "fine", "good", "great"]
    y = rng.integers(0, 5, size=n)
    return pd.DataFrame({"text": [f"the film was {words[v]} really" for v in y], "score": y + 0.5})


def test_compare_multilabel_runs_every_method_and_reports(tiny_bert: Path, tmp_path: Path):
    from transferkit.core.metrics import multilabel_report
    from transferkit.data.datasets import load_labelled
    from transferkit.evaluation.baselines import TfidfOneVsRest
    from transferkit.workflows.compare import CompareOptions, compare
    from transferkit.workflows.compare_targets import split_targets, truth_for

    df = _multilabel_frame()
    r = compare(
        df, base=str(tiny_bert), strategy="probe", seeds=2, sizes="20,all", scratch_epochs=1,
        report=tmp_path / "r.html", json_path=tmp_path / "r.json",
    )  # fmt: skip
    assert r["task"]["kind"] == "multi-label" and r["task"]["metric"] == "micro_f1"
    for m in ("transfer", "classical", "scratch"):
        sec = r[m]
        assert sec is not None and len(sec["runs"]) == 2
        assert {"micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"} <= set(sec)
        assert (
            sec["seeds"]["n"] == 2
            and sec["seeds"]["low"] <= sec["headline"] <= sec["seeds"]["high"]
        )
    # the classical figure is TF-IDF one-vs-rest on the same split, scored independently
    split = split_targets(load_labelled(df), None, CompareOptions())
    est = TfidfOneVsRest(random_state=0).fit(
        split.fit_data.items, np.asarray(split.fit_data.targets()), classes=split.fit_data.classes
    )
    truth, _ = truth_for(split.test, list(split.fit_data.classes))
    ref = multilabel_report(truth, est.predict(split.test.items), list(est.classes_))
    assert r["classical"]["runs"][0]["micro_f1"] == pytest.approx(ref["micro_f1"])
    assert [p["size"] for p in r["learning_curve"]] == [20, r["task"]["n_fit"]]
    assert all("transfer" in p and "classical" in p for p in r["learning_curve"])
    gap = r["domain_gap"]  # proxy A-distance from the generic English sample, as single-label
    assert (
        gap is not None
        and 0.0 <= gap["a_distance"] <= 2.0
        and "generic English" in gap["reference"]
    )
    html = (tmp_path / "r.html").read_text()
    assert 'data-plot="calibration"' in html and 'data-plot="learning_curve"' in html
    section = html.split("<h2>Domain gap</h2>")[1].split("<h2>")[0]  # up to the next section
    assert "a_distance" in section and f"{gap['a_distance']:.3f}" in section
    saved = json.loads((tmp_path / "r.json").read_text())
    assert saved["transfer"]["plot"]["thresholds"] is not None


def test_compare_regression_reports_spearman_and_scatter(tiny_bert: Path, tmp_path: Path):
    from transferkit.workflows.compare import compare

    r = compare(
        _regression_frame(), base=str(tiny_bert), strategy="probe", seeds=1, sizes=None,
        scratch=False, report=tmp_path / "r.html",
    )  # fmt: skip
    assert r["task"]["kind"] == "regression" and r["task"]["metric"] == "spearman"
    assert r["scratch"] is None and any(s["what"] == "scratch" for s in r["skipped"])
    for m in ("transfer", "classical"):
        assert {"spearman", "mae", "rmse", "r2", "pearson"} <= set(r[m])
        assert len(r[m]["plot"]["true"]) == r["task"]["n_eval"]
    # the TF-IDF ridge sees the one word that decides the target
    assert r["classical"]["spearman"] > 0.9
    assert r["domain_gap"] is not None and "a_distance" in r["domain_gap"]
    html = (tmp_path / "r.html").read_text()
    assert 'data-plot="scatter"' in html and "from scratch" in html


@pytest.mark.integration
@pytest.mark.slow
def test_compare_on_real_slices_of_debtags_and_sst5(shared_data: Path, tmp_path: Path):
    from transferkit.workflows.compare import compare

    tr = pd.read_csv(shared_data / "text" / "debtags" / "train.csv").iloc[:300]
    te = pd.read_csv(shared_data / "text" / "debtags" / "test.csv").iloc[:150]
    r = compare(tr, eval=te, base="minilm-l6", strategy="probe", seeds=1, sizes=None,
                scratch=False, report=tmp_path / "d.html")  # fmt: skip
    assert r["task"]["kind"] == "multi-label"
    assert r["transfer"]["micro_f1"] > 0.3 and r["classical"]["micro_f1"] > 0.3
    for split, n in (("train", 400), ("test", 150)):
        df = pd.read_csv(shared_data / "text" / "sst5" / f"{split}.csv").iloc[:n]
        df["score"] = df.pop("label").map(SST5)
        df.to_csv(tmp_path / f"sst5_{split}.csv", index=False)
    r = compare(str(tmp_path / "sst5_train.csv"), eval=str(tmp_path / "sst5_test.csv"),
                task="regression", base="minilm-l6", strategy="probe", seeds=1, sizes=None,
                scratch=False, report=tmp_path / "r.html")  # fmt: skip
    assert r["task"]["kind"] == "regression"
    assert r["transfer"]["spearman"] > 0.3


def test_cli_compare_regression_table_and_json(tiny_bert: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from transferkit.cli import app

    # integer scores: a column that could be classes, so --task says what it is
    df = _regression_frame()
    df["score"] = (df["score"] - 0.5).astype(int)
    df.to_csv(tmp_path / "train.csv", index=False)
    args = ["compare", str(tmp_path / "train.csv"), "--task", "regression", "--base",
            str(tiny_bert), "--strategy", "probe", "--seeds", "1", "--sizes", "",
            "--no-scratch"]  # fmt: skip
    res = CliRunner().invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["task"]["kind"] == "regression" and out["classical"]["spearman"] > 0.9
    res = CliRunner().invoke(app, args, env={"COLUMNS": "200"})  # the table unwrapped
    assert res.exit_code == 0, res.output
    assert "transferkit compare (regression)" in res.stdout and "Classical baseline" in res.stdout
    assert "not measured: scratch: turned off" in res.stdout
    assert "spearman 95% interval" in res.stdout
