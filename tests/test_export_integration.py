"""The packaged sentiment model exported to int8 keeps its predictions on sst2 test."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")


@pytest.mark.integration
@pytest.mark.slow
def test_int8_sentiment_agrees_with_torch_on_sst2_test(shared_data: Path, tmp_path: Path) -> None:
    from transferkit.export import export_onnx
    from transferkit.pipelines import pipeline

    test = shared_data / "text" / "sst2" / "test.csv"
    config = export_onnx("sentiment-analysis", tmp_path / "int8", int8=True, parity_data=test)
    parity = config["parity"]
    assert parity["n"] == 1821
    # issue 6 goals: >= 99% identical predictions, <= 0.5 point accuracy lost
    assert parity["agreement"] >= 0.99, parity
    assert parity["accuracy_change_points"] >= -0.5, parity
    # the worst sentence's int8 features: 0.975 with the locked onnxruntime 1.32 (0.98 was
    # the bound under the unlocked, older runtime this test was written on); the goals above
    # are unchanged
    assert parity["min_feature_cosine"] > 0.97, parity
    clear = ["a masterpiece , moving and beautifully acted", "an awful , boring mess of a film"]
    got = pipeline("sentiment-analysis", tmp_path / "int8")(clear)
    assert [g["label"] for g in got] == ["POSITIVE", "NEGATIVE"]
