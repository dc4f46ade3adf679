"""rank for multi-label data and numeric targets (tiny BERT; scores checked against the
score functions themselves)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

WORDS = {"game": "arcade", "audio": "sound", "net": "network"}


def _multilabel_frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        have = [t for t in WORDS if rng.random() < 0.5] or ["game"]
        text = " ".join([WORDS[t] for t in have] + ["tool", "number", str(i)])
        rows.append({"text": text, "labels": "|".join(have)})
    return pd.DataFrame(rows)


def _regression_frame(n: int = 40) -> pd.DataFrame:
    words = ["awful", "bad", "fine", "good", "great"]
    return pd.DataFrame(
        {
            "text": [f"the film was {words[i % 5]} number {i}" for i in range(n)],
            "score": [float(i % 5) + 0.25 for i in range(n)],
        }
    )


def test_rank_multilabel_scores_are_per_label_means_and_logme_drives(tiny_bert: Path) -> None:
    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.select.rank import rank
    from transferkit.select.scores import hscore, knn_accuracy, logme, multilabel_mean

    df = _multilabel_frame()
    result = rank(df, candidates=[str(tiny_bert)], cuts=[2], use_cache=False)
    assert result.task == "multi-label" and result.ranked_by == "logme"
    assert result.to_dict()["data"]["task"] == "multi-label"
    assert any("mean over the 3 labels" in n and "LogME drives" in n for n in result.notes)
    rows = {r.cut: r for r in result.candidates}
    assert set(rows) == {None, 2} and all(r.error is None for r in rows.values())
    # the scores are the per-label means of the binary scores on the same features
    model = load_candidate(str(tiny_bert), "text")
    feats, _ = encode_all_cuts(model, df.text.tolist(), [None, 2])
    names = ["audio", "game", "net"]
    y = np.array([[n in s.split("|") for n in names] for s in df.labels], dtype=int)
    for cut, row in rows.items():
        assert row.scores["logme"] == pytest.approx(
            multilabel_mean(logme, feats[cut], y)[0], abs=1e-5
        )
        assert row.scores["hscore"] == pytest.approx(
            multilabel_mean(hscore, feats[cut], y)[0], abs=1e-5
        )
        knn = multilabel_mean(knn_accuracy, feats[cut], y, k=5)[0]
        assert row.scores["knn"] == pytest.approx(knn, abs=1e-5)
        assert row.expected_accuracy is None  # kNN here is no accuracy a model reaches
    assert result.recommendation is not None


def test_rank_regression_uses_logme_on_the_target_and_knn_r2(tiny_bert: Path) -> None:
    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.select.rank import rank
    from transferkit.select.scores import knn_regression, logme_regression

    df = _regression_frame()
    result = rank(df, candidates=[str(tiny_bert)], cuts="none", use_cache=False)
    assert result.task == "regression" and result.ranked_by == "logme"
    (row,) = result.candidates
    assert set(row.scores) == {"logme", "knn"}
    feats, _ = encode_all_cuts(load_candidate(str(tiny_bert), "text"), df.text.tolist(), [None])
    y = df.score.to_numpy()
    assert row.scores["logme"] == pytest.approx(logme_regression(feats[None], y), abs=1e-5)
    assert row.scores["knn"] == pytest.approx(knn_regression(feats[None], y, k=5), abs=1e-5)
    assert any("regression: LogME" in n for n in result.notes)


def test_rank_regression_subsample_keeps_the_spread(tiny_bert: Path) -> None:
    from transferkit.select.rank import rank

    df = _regression_frame(100)
    result = rank(df, candidates=[str(tiny_bert)], cuts="none", max_examples=50, use_cache=False)
    assert result.n_scored == 50 and result.n_examples == 100
    assert any("quintile-stratified subsample of 50 of 100" in n for n in result.notes)


def test_recommend_orders_multilabel_candidates_by_logme_not_knn() -> None:
    from transferkit.select.recommend import recommend

    def row(name: str, logme: float, knn: float) -> dict:
        cost = {"latency_ms": 1.0, "params": 1e6, "probe_s": 1.0, "finetune_s": 5.0}
        scores = {"logme": logme, "hscore": 0.1, "knn": knn}
        return {"model": name, "cut": None, "scores": scores, "cost": cost, "error": None}

    counts = {"a": 300, "b": 200}
    ranked, reco, summary = recommend(
        [row("knn-likes", -0.5, 0.95), row("logme-likes", -0.2, 0.90)],
        modality="text",
        counts=counts,
        kind="multi-label",
    )
    assert summary["ranked_by"] == "logme"
    assert [r["model"] for r in ranked] == ["logme-likes", "knn-likes"]
    assert reco is not None and reco.model == "logme-likes" and reco.expected_accuracy is None
    # the same rows as single-label classes: kNN drives
    ranked, _, summary = recommend(
        [row("knn-likes", -0.5, 0.95), row("logme-likes", -0.2, 0.90)],
        modality="text",
        counts=counts,
    )
    assert summary["ranked_by"] == "knn" and ranked[0]["model"] == "knn-likes"
