"""`transferkit fit --compare`: fit, then prove it helped, in one command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from transferkit.cli import app

pytestmark = pytest.mark.integration  # real sst2 rows


def _data(shared_data: Path, tmp_path: Path) -> tuple[Path, Path]:
    df = pd.read_csv(shared_data / "text/sst2/train.csv")
    train = df.groupby("label").head(20).sample(frac=1, random_state=0)
    test = pd.read_csv(shared_data / "text/sst2/test.csv").groupby("label").head(15)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    return tmp_path / "train.csv", tmp_path / "test.csv"


def test_fit_compare_json(tiny_bert: Path, shared_data: Path, tmp_path: Path) -> None:
    train, test = _data(shared_data, tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(train),
            "--eval",
            str(test),
            "--base",
            str(tiny_bert),
            "--strategy",
            "probe",
            "--out",
            str(tmp_path / "model"),
            "--compare",
            "--seeds",
            "1",
            "--json",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["strategy"] == "probe" and Path(payload["model_dir"]).is_dir()
    cmp = payload["compare"]
    for method in ("transfer", "scratch", "classical"):
        assert 0.0 <= cmp[method]["accuracy"] <= 1.0
    assert isinstance(cmp["warnings"], list)


def test_fit_compare_bad_report_path_fails_before_training(
    tiny_bert: Path, shared_data: Path, tmp_path: Path
) -> None:
    train, test = _data(shared_data, tmp_path)
    res = CliRunner().invoke(
        app,
        [
            "fit",
            str(train),
            "--base",
            str(tiny_bert),
            "--out",
            str(tmp_path / "model"),
            "--compare",
            "--report",
            str(tmp_path / "no" / "such" / "report.html"),
        ],
    )
    assert res.exit_code == 2
    assert "does not exist" in res.output and not (tmp_path / "model").exists()
    res = CliRunner().invoke(app, ["fit", str(train), "--report", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "needs --compare" in res.output
