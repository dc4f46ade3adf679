"""rank on real packaged models and slices of ../shared/data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.integration


def test_rank_minilm_and_a_cut_point_on_sst2(shared_data: Path) -> None:
    import pandas as pd

    from transferkit.select.rank import rank

    df = pd.read_csv(shared_data / "text" / "sst2" / "train.csv")
    df = pd.concat([df[df.label == c].sample(30, random_state=0) for c in ("negative", "positive")])
    result = rank(df, candidates=["minilm-l6", "minilm-l6@4"], use_cache=False)
    rows = result.candidates
    assert {(r["model"], r["cut"]) for r in rows} == {("minilm-l6", None), ("minilm-l6", 4)}
    for r in rows:
        assert r["rank"] is not None
        # The sentence encoder separates sentiment on 60 real sentences far above chance.
        assert r["scores"]["knn"] > 0.6
    full = next(r for r in rows if r["cut"] is None)
    assert full["cost"]["params"] == pytest.approx(22.7e6, rel=0.01)
    assert result.recommendation is not None


def test_rank_mobilenet_on_hymenoptera(shared_data: Path) -> None:
    from transferkit.data.datasets import load_labelled
    from transferkit.select.rank import rank

    data = load_labelled(shared_data / "images" / "hymenoptera" / "train")
    labels = np.asarray(data.labels)
    idx = sorted(
        np.flatnonzero(labels == "ants")[:8].tolist()
        + np.flatnonzero(labels == "bees")[:8].tolist()
    )
    cands = ["mobilenet-v2", "mobilenet-v2@5", "mobilenet-v2@7"]
    result = rank(data.subset(idx), candidates=cands, use_cache=False)
    rows = {r["cut"]: r for r in result.candidates}
    assert set(rows) == {None, 5, 7}
    full = rows[None]
    assert set(full["scores"]) == {"logme", "hscore", "knn", "leep", "nce"}  # ImageNet head
    assert full["scores"]["knn"] > 0.7  # ImageNet features tell ants from bees
    assert full["scores"]["leep"] < 0 and -np.log(2) <= full["scores"]["nce"] <= 0
    assert rows[5]["cost"]["params"] < rows[7]["cost"]["params"] < full["cost"]["params"]
