"""Issue 16's Done-when chain on real slices: `fit → evaluate --json → predict --json` for
debtags (multi-label) and sst5 read as a 0–4 score (regression), the fitted folders
exported to ONNX, and the bad inputs `evaluate` meets on such data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from transferkit.errors import DataError

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SST5_SCORE = {"very negative": 0, "negative": 1, "neutral": 2, "positive": 3, "very positive": 4}


def _cli(*args: str) -> dict | list:
    from transferkit.cli import app

    res = CliRunner().invoke(app, [*args])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def slices(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small seeded slices, written to a temporary folder (the data is never copied into
    the repository): debtags as it is, sst5 with its classes mapped to a numeric score."""
    out = tmp_path_factory.mktemp("multi-slices")
    deb = shared_data / "text" / "debtags"
    pd.read_csv(deb / "train.csv").sample(400, random_state=0).to_csv(out / "deb_train.csv", index=False)  # fmt: skip
    pd.read_csv(deb / "test.csv").sample(150, random_state=0).to_csv(out / "deb_test.csv", index=False)  # fmt: skip
    for split, n in (("train", 500), ("test", 150)):
        df = pd.read_csv(shared_data / "text" / "sst5" / f"{split}.csv").sample(n, random_state=0)
        pd.DataFrame({"text": df["text"], "score": df["label"].map(SST5_SCORE).astype(float)}).to_csv(out / f"sst5_{split}.csv", index=False)  # fmt: skip
        if split == "test":  # the same rows with the class names: not numbers
            df[["text", "label"]].rename(columns={"label": "score"}).to_csv(out / "sst5_words.csv", index=False)  # fmt: skip
    return {p.stem: p for p in out.iterdir()}


@pytest.fixture(scope="module")
def debtags_model(slices, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("deb") / "M"
    fit = _cli("fit", str(slices["deb_train"]), "--eval", str(slices["deb_test"]), "--out", str(out), "--strategy", "probe", "--json")  # fmt: skip
    return out, fit


@pytest.fixture(scope="module")
def sst5_model(slices, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("sst5") / "R"
    fit = _cli("fit", str(slices["sst5_train"]), "--task", "regression", "--eval", str(slices["sst5_test"]), "--out", str(out), "--strategy", "probe", "--json")  # fmt: skip
    return out, fit


def test_debtags_fit_evaluate_predict(debtags_model, slices):
    model, fit = debtags_model
    assert fit["task"]["kind"] == "multi-label"
    report = _cli("evaluate", str(model), str(slices["deb_test"]), "--json")
    assert report["task"] == "multi-label" and report["n"] == 150
    for key in ("micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss"):
        assert report[key] == pytest.approx(fit["eval"][key])  # one decoding, two paths
    assert report["micro_f1"] > 0.45  # a frozen MiniLM probe on 400 rows (TF-IDF ~0.6 at full)
    assert len(report["per_label"]) == len(report["thresholds"]) == len(report["labels"])
    assert report["thresholds"] == json.loads((model / "transferkit.json").read_text())["problem"]["thresholds"]  # fmt: skip
    (row,) = _cli("predict", "text-classification", "an audio player for the command line", "--model", str(model), "--json")  # fmt: skip
    assert isinstance(row["labels"], list) and row["labels"]
    assert "works-with:audio" in [r["label"] for r in row["labels"]]
    assert all(0 <= r["score"] <= 1 for r in row["labels"])


def test_sst5_regression_fit_evaluate_predict(sst5_model, slices):
    model, fit = sst5_model
    assert fit["task"]["kind"] == "regression"
    report = _cli("evaluate", str(model), str(slices["sst5_test"]), "--json")
    assert report["task"] == "regression" and report["n"] == 150
    for key in ("spearman", "mae", "rmse", "r2", "pearson"):
        assert report[key] == pytest.approx(fit["eval"][key])
    assert report["spearman"] > 0.4 and report["mae"] < 1.2  # 0–4 scale; a constant gives ~1.1
    rows = _cli("predict", "text-classification", "a gorgeous, witty, moving film", "a dull, lifeless mess", "--model", str(model), "--json")  # fmt: skip
    assert rows[0]["score"] > rows[1]["score"] + 1.0  # target units: points on the 0–4 scale


def test_evaluate_bad_inputs_on_real_data(debtags_model, sst5_model, slices, tmp_path):
    from transferkit import evaluate

    with pytest.raises(DataError, match="negative"):  # class names in a regression target
        evaluate(sst5_model[0], slices["sst5_words"])
    df = pd.read_csv(slices["deb_test"]).head(20)
    df.loc[3, "labels"] = "use:gameplaying|works-with:robots"
    df.to_csv(tmp_path / "unknown.csv", index=False)
    with pytest.raises(DataError, match="'works-with:robots' are not among the model's"):
        evaluate(debtags_model[0], tmp_path / "unknown.csv")


def test_fitted_models_export_with_parity(debtags_model, sst5_model, tmp_path):
    pytest.importorskip("onnxruntime")
    from transferkit import pipeline
    from transferkit.export import export_onnx

    text = ["an audio player for the command line", "a chess game for two players"]
    cfg = export_onnx(str(debtags_model[0]), tmp_path / "deb-onnx")
    assert cfg["problem"]["kind"] == "multi-label" and cfg["parity"]["agreement"] == 1.0
    assert cfg["parity"]["max_prob_diff"] < 1e-3
    want = pipeline("text-classification", debtags_model[0])(text)
    got = pipeline("text-classification", tmp_path / "deb-onnx")(text)
    assert [[r["label"] for r in g] for g in got] == [[r["label"] for r in w] for w in want]
    cfg = export_onnx(str(sst5_model[0]), tmp_path / "sst5-onnx")
    assert cfg["problem"]["kind"] == "regression" and cfg["parity"]["max_abs_diff"] < 1e-3
