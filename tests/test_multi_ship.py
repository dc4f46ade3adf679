"""Shipping multi-label and regression models: ONNX export (fp32, int8) with the parity
check by kind, the exported folder in the pipeline, the REST server and the Ray predictor."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_multi_use import LABELS, TEXTS, build_hf_folder

from transferkit.errors import InputError
from transferkit.models.problems import MULTI, REGRESSION

pytest.importorskip("onnxruntime")


@pytest.fixture()
def hf_multi(tiny_bert: Path, tmp_path: Path) -> Path:
    return build_hf_folder(tiny_bert, tmp_path / "hf-multi", MULTI)


@pytest.fixture()
def hf_reg(tiny_bert: Path, tmp_path: Path) -> Path:
    return build_hf_folder(tiny_bert, tmp_path / "hf-reg", REGRESSION)


def test_export_multilabel_parity_and_pipeline(hf_multi, tmp_path):
    from transferkit import pipeline
    from transferkit.export import export_onnx

    config = export_onnx(str(hf_multi), tmp_path / "onnx")
    assert config["problem"]["kind"] == MULTI
    parity = config["parity"]
    assert parity["agreement"] == 1.0 and parity["label_agreement"] == 1.0
    assert 0 <= parity["max_prob_diff"] < 1e-4
    want = pipeline("text-classification", hf_multi)(TEXTS, threshold=0.0)
    got = pipeline("text-classification", tmp_path / "onnx")(TEXTS, threshold=0.0)
    for g, w in zip(got, want, strict=True):
        assert [r["label"] for r in g] == [r["label"] for r in w]
        assert [r["score"] for r in g] == pytest.approx([r["score"] for r in w], abs=1e-4)

    q = export_onnx(str(hf_multi), tmp_path / "int8", int8=True)
    assert q["precision"] == "int8"
    assert {"agreement", "label_agreement", "max_prob_diff"} <= set(q["parity"])
    assert q["parity"]["label_agreement"] >= 0.75  # int8 may move a label across 0.5


def test_export_regression_parity_and_pipeline(hf_reg, tmp_path):
    from transferkit import pipeline
    from transferkit.export import export_onnx

    config = export_onnx(str(hf_reg), tmp_path / "onnx")
    assert config["problem"]["kind"] == REGRESSION
    parity = config["parity"]
    assert parity["max_abs_diff"] < 1e-4 and parity["correlation"] > 0.9999
    want = pipeline("text-classification", hf_reg)(TEXTS)
    got = pipeline("text-classification", tmp_path / "onnx")(TEXTS)
    assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-4)
    q = export_onnx(str(hf_reg), tmp_path / "int8", int8=True)
    assert q["parity"]["correlation"] > 0.9  # int8 keeps the order of the scores


def test_cli_export_prints_parity_by_kind(hf_multi, tmp_path):
    from typer.testing import CliRunner

    from transferkit.cli import app

    res = CliRunner().invoke(app, ["export", str(hf_multi), "--onnx", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "label_agreement" in res.stdout and "max_prob_diff" in res.stdout


def test_serve_multilabel_and_regression(hf_multi, hf_reg):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from transferkit import pipeline
    from transferkit.serve import create_app

    ref = pipeline("text-classification", hf_multi)
    every = ref(TEXTS[0], threshold=0.0)
    with TestClient(create_app(str(hf_multi), device="cpu")) as c:
        card = c.get("/models").json()
        assert card["problem"]["kind"] == MULTI and card["labels"] == LABELS
        r = c.post("/predict", json={"inputs": TEXTS[0]})
        assert r.status_code == 200
        assert r.json() == pytest.approx(ref(TEXTS[0]))  # the model's own thresholds
        r = c.post("/predict", json={"inputs": [TEXTS[0]], "parameters": {"threshold": 0}})
        assert [x["label"] for x in r.json()[0]] == [x["label"] for x in every]
        r = c.post("/predict", json={"inputs": TEXTS[0], "parameters": {"top_k": 2}})
        assert [x["label"] for x in r.json()] == [x["label"] for x in every[:2]]
        r = c.post("/predict", json={"inputs": "x", "parameters": {"threshold": 2}})
        assert r.status_code == 422 and "outside 0..1" in r.json()["error"]
        r = c.post("/predict", json={"inputs": "x", "parameters": {"threshold": [0.5]}})
        assert r.status_code == 422 and "1 values for 4 labels" in r.json()["error"]
    want = pipeline("text-classification", hf_reg)(TEXTS)
    with TestClient(create_app(str(hf_reg), device="cpu")) as c:
        assert c.get("/models").json()["problem"]["kind"] == REGRESSION
        r = c.post("/predict", json={"inputs": TEXTS})
        assert r.status_code == 200
        assert [x["score"] for x in r.json()] == pytest.approx([w["score"] for w in want])
        r = c.post("/predict", json={"inputs": "x", "parameters": {"top_k": 2}})
        assert r.status_code == 422 and "returns one score" in r.json()["error"]
        r = c.post("/predict", json={"inputs": "x", "parameters": {"threshold": 0.5}})
        assert r.status_code == 422 and "multi-label" in r.json()["error"]


def test_ray_predictor_rows_by_kind(hf_multi, hf_reg):
    """The Ray Data batch function (no Ray needed to call it) on both kinds."""
    pytest.importorskip("pyarrow")
    from transferkit import pipeline
    from transferkit.ray.predictor import Predictor

    batch = pd.DataFrame({"text": [TEXTS[0], None, TEXTS[1]]})
    table = Predictor(str(hf_multi)).__call__(batch)
    assert table.schema.names == ["input", "labels", "scores", "error"]
    rows = table.to_pylist()
    want = pipeline("text-classification", hf_multi)(TEXTS[0])
    assert rows[0]["labels"] == "|".join(r["label"] for r in want)
    assert set(json.loads(rows[0]["scores"])) == {r["label"] for r in want}
    assert rows[1]["error"] and rows[1]["labels"] is None
    every = Predictor(str(hf_multi), threshold=0.0)(batch).to_pylist()[0]
    assert sorted(every["labels"].split("|")) == sorted(LABELS)
    with pytest.raises(InputError, match="threshold applies to multi-label"):
        Predictor(str(hf_reg), threshold=0.5)
    table = Predictor(str(hf_reg)).__call__(batch)
    assert table.schema.names == ["input", "score", "error"]
    rows = table.to_pylist()
    want = pipeline("text-classification", hf_reg)(TEXTS[1])
    assert rows[2]["score"] == pytest.approx(want["score"], abs=1e-5)


def test_export_parity_reports_task_figures_on_labelled_data(hf_multi, hf_reg, tmp_path):
    """With labelled parity data, the export states the task's figure for both runtimes —
    the same number `evaluate` gives for the torch model."""
    from transferkit import evaluate
    from transferkit.export import export_onnx

    sets = ["audio", "game", "", "editor|network"]
    ml = tmp_path / "ml.csv"
    pd.DataFrame({"text": TEXTS, "labels": sets}).to_csv(ml, index=False)
    parity = export_onnx(str(hf_multi), tmp_path / "m", parity_data=ml)["parity"]
    want = evaluate(hf_multi, ml, device="cpu")["micro_f1"]
    assert parity["micro_f1_torch"] == pytest.approx(want)
    assert parity["micro_f1_onnx"] == pytest.approx(want) and parity["micro_f1_change_points"] == 0

    reg = tmp_path / "reg.csv"
    pd.DataFrame({"text": TEXTS, "score": [3.0, 1.0, 2.0, 0.5]}).to_csv(reg, index=False)
    parity = export_onnx(str(hf_reg), tmp_path / "r", parity_data=reg)["parity"]
    report = evaluate(hf_reg, reg, device="cpu")
    assert parity["spearman_torch"] == pytest.approx(report["spearman"])
    assert parity["mae_onnx"] == pytest.approx(report["mae"], abs=1e-4)
