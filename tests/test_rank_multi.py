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


def test_rank_multilabel_scores_are_per_label_means_and_knn_drives(tiny_bert: Path) -> None:
    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.select.rank import rank
    from transferkit.select.scores import hscore, knn_accuracy, logme, multilabel_mean

    df = _multilabel_frame()
    result = rank(df, candidates=[str(tiny_bert)], cuts=[2], use_cache=False)
    assert result.task == "multi-label" and result.ranked_by == "knn"
    assert result.to_dict()["data"]["task"] == "multi-label"
    assert any("mean over the 3 labels" in n and "kNN drives" in n for n in result.notes)
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


def test_recommend_picks_the_driving_score_of_the_task() -> None:
    from transferkit.select.recommend import recommend

    def rows() -> list[dict]:
        cost = {"latency_ms": 1.0, "params": 1e6, "probe_s": 1.0, "finetune_s": 5.0}
        return [
            {"model": name, "cut": None, "cost": dict(cost), "error": None,
             "scores": {"logme": lm, "hscore": 0.1, "knn": knn}}
            for name, lm, knn in (("knn-likes", -0.5, 0.95), ("logme-likes", -0.2, 0.90))
        ]  # fmt: skip

    counts = {"a": 300, "b": 200}
    for kind, driver, first, expected in (
        ("multi-label", "knn", "knn-likes", None),  # a mean per-label kNN: no accuracy
        ("regression", "logme", "logme-likes", None),
        ("single-label", "knn", "knn-likes", 0.95),
    ):
        ranked, reco, summary = recommend(rows(), modality="text", counts=counts, kind=kind)
        assert summary["ranked_by"] == driver
        assert [r["model"] for r in ranked][0] == first
        assert reco is not None and reco.model == first and reco.expected_accuracy == expected


def test_recommend_sizes_multilabel_data_by_its_rows_as_fit_does() -> None:
    from transferkit.core.strategies import choose_strategy
    from transferkit.select.recommend import recommend

    counts = {"a": 900, "b": 900, "c": 900}  # 2,700 label occurrences on 1,000 rows
    cost = {"latency_ms": 1.0, "params": 22_700_000, "probe_s": 1.0, "finetune_s": 5.0}
    row = {"model": "m", "cut": None, "cost": cost, "error": None,
           "scores": {"logme": 0.1, "hscore": 0.1, "knn": 0.9}}  # fmt: skip
    _, reco, _ = recommend([row], modality="text", counts=counts, kind="multi-label", n_rows=1000)
    plan = choose_strategy(
        "auto", modality="text", counts=counts, budget=None, params=22_700_000,
        kind="multi-label", n=1000,
    )  # fmt: skip
    assert reco is not None and reco.strategy == plan.strategy
    assert reco.strategy_reason == plan.rationale and "1000 labelled examples" in plan.rationale
