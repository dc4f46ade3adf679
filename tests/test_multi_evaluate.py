"""`evaluate` (function and CLI) and `predict` for multi-label and regression models, on
Hugging Face folders with `problem_type` (built from the tiny BERT); bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_multi_use import LABELS, build_hf_folder
from typer.testing import CliRunner

from transferkit.errors import DataError, InputError
from transferkit.models.problems import MULTI, REGRESSION

TEXTS = [
    "an audio player for the command line",
    "a chess game",
    "a text editor for x11",
    "network monitor",
    "play music over the network",
    "a puzzle game with sound",
]
SETS = ["audio", "game", "editor", "network", "audio|network", "game|audio"]
VALUES = [3.5, 1.0, 2.0, 0.0, 4.0, 2.5]


@pytest.fixture()
def hf_multi(tiny_bert: Path, tmp_path: Path) -> Path:
    return build_hf_folder(tiny_bert, tmp_path / "hf-multi", MULTI)


@pytest.fixture()
def hf_reg(tiny_bert: Path, tmp_path: Path) -> Path:
    return build_hf_folder(tiny_bert, tmp_path / "hf-reg", REGRESSION)


def hf_outputs(folder: Path, texts: list[str]) -> np.ndarray:
    """The folder's raw outputs computed by transformers directly (the reference)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        return model(**tok(texts, padding=True, return_tensors="pt")).logits.numpy()


def test_evaluate_multilabel_matches_reference(hf_multi, tmp_path):
    from sklearn.metrics import f1_score, hamming_loss

    from transferkit import evaluate

    csv = tmp_path / "ml.csv"
    pd.DataFrame({"text": TEXTS, "labels": SETS}).to_csv(csv, index=False)
    r = evaluate(hf_multi, csv, device="cpu")
    probs = 1 / (1 + np.exp(-hf_outputs(hf_multi, TEXTS)))
    pred = (probs >= 0.5).astype(int)
    truth = np.array([[lab in s.split("|") for lab in LABELS] for s in SETS], dtype=int)
    assert r["task"] == "multi-label" and r["n"] == len(TEXTS)
    assert r["micro_f1"] == pytest.approx(f1_score(truth, pred, average="micro", zero_division=0))
    assert r["macro_f1"] == pytest.approx(f1_score(truth, pred, average="macro", zero_division=0))
    assert r["hamming_loss"] == pytest.approx(hamming_loss(truth, pred))
    assert r["thresholds"] == [0.5] * len(LABELS)
    assert set(r["per_label"]) == set(LABELS)
    assert r["per_label"]["audio"]["support"] == 3
    # a threshold override changes the decisions and is reported
    r0 = evaluate(hf_multi, csv, device="cpu", threshold=0.0)
    assert r0["thresholds"] == [0.0] * len(LABELS)
    assert r0["per_label"]["audio"]["recall"] == 1.0  # every label predicted everywhere
    json.dumps(r.to_dict(), allow_nan=False)


def test_evaluate_regression_matches_reference(hf_reg, tmp_path):
    from scipy.stats import spearmanr

    from transferkit import evaluate

    csv = tmp_path / "reg.csv"
    pd.DataFrame({"text": TEXTS, "score": VALUES}).to_csv(csv, index=False)
    r = evaluate(hf_reg, csv, device="cpu")
    pred = hf_outputs(hf_reg, TEXTS)[:, 0]
    assert r["task"] == "regression" and r["n"] == len(TEXTS)
    assert r["mae"] == pytest.approx(float(np.mean(np.abs(pred - np.array(VALUES)))), abs=1e-5)
    assert r["spearman"] == pytest.approx(spearmanr(VALUES, pred).statistic, abs=1e-6)
    assert {"rmse", "r2", "pearson"} <= set(r.to_dict())
    json.dumps(r.to_dict(), allow_nan=False)


def test_evaluate_regression_rejects_non_numeric_targets(hf_reg, tmp_path):
    from transferkit import evaluate

    csv = tmp_path / "words.csv"
    pd.DataFrame({"text": TEXTS, "score": ["high", "1", "2", "x", "4", "3"]}).to_csv(
        csv, index=False
    )
    with pytest.raises(DataError, match="high"):
        evaluate(hf_reg, csv, device="cpu")


def test_evaluate_multilabel_rejects_unknown_labels(hf_multi, tmp_path):
    from transferkit import evaluate

    csv = tmp_path / "ml.csv"
    pd.DataFrame({"text": TEXTS, "labels": [*SETS[:-1], "game|robotics"]}).to_csv(csv, index=False)
    with pytest.raises(DataError, match="'robotics' are not among the model's 4 labels"):
        evaluate(hf_multi, csv, device="cpu")


def test_evaluate_threshold_only_for_multilabel(hf_reg, tmp_path):
    from transferkit import evaluate

    with pytest.raises(InputError, match="threshold applies to multi-label"):
        evaluate(hf_reg, (TEXTS, VALUES), device="cpu", threshold=0.5)


def _cli(*args: str):
    from transferkit.cli import app

    return CliRunner().invoke(app, list(args))


def test_cli_evaluate_and_predict_json(hf_multi, hf_reg, tmp_path):
    ml, reg = tmp_path / "ml.csv", tmp_path / "reg.csv"
    pd.DataFrame({"text": TEXTS, "labels": SETS}).to_csv(ml, index=False)
    pd.DataFrame({"text": TEXTS, "score": VALUES}).to_csv(reg, index=False)

    res = _cli("evaluate", str(hf_multi), str(ml), "--json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert {"micro_f1", "macro_f1", "per_label", "thresholds"} <= set(report)
    res = _cli("evaluate", str(hf_reg), str(reg), "--json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert {"spearman", "mae", "rmse", "r2"} <= set(json.loads(res.stdout))
    res = _cli("evaluate", str(hf_multi), str(ml), "--device", "cpu")  # the rich table
    assert res.exit_code == 0 and "micro-F1" in res.stdout and "editor" in res.stdout

    args = ("predict", "text-classification", TEXTS[0], "--model")
    res = _cli(*args, str(hf_multi), "--json", "--threshold", "0")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert sorted(r["label"] for r in row["labels"]) == sorted(LABELS)
    res = _cli(*args, str(hf_reg), "--json")
    assert res.exit_code == 0, res.output
    (row,) = json.loads(res.stdout)
    assert isinstance(row["score"], float) and "label" not in row
    res = _cli(*args, str(hf_reg), "--threshold", "0.3")
    assert isinstance(res.exception, InputError)  # `main` prints it as one line, exit 2
    assert "--threshold applies to multi-label" in str(res.exception)


def test_cli_predict_file_out_columns(hf_multi, hf_reg, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"id": range(len(TEXTS)), "text": TEXTS}).to_csv(src, index=False)
    out = tmp_path / "ml-out.csv"
    res = _cli(
        "predict", "text-classification", "--file", str(src), "-m", str(hf_multi),
        "--threshold", "0", "--out", str(out),
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["id", "text", "predicted_labels", "predicted_scores"]
    first = df["predicted_labels"][0].split("|")
    assert sorted(first) == sorted(LABELS)
    assert set(json.loads(df["predicted_scores"][0])) == set(LABELS)
    out = tmp_path / "reg-out.csv"
    res = _cli(
        "predict", "text-classification", "--file", str(src), "-m", str(hf_reg), "--out", str(out)
    )
    assert res.exit_code == 0, res.output
    df = pd.read_csv(out)
    assert list(df.columns) == ["id", "text", "predicted_score"]
    assert df["predicted_score"].dtype.kind == "f"
