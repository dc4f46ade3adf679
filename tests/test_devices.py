"""Device plumbing on the CPU: the one resolver, its errors, and `device=` / `--device`
through pipeline, fit, evaluate and the CLI (CUDA itself: benchmarks/gpu.sh)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from transferkit.cli import app
from transferkit.core.devices import (
    current_device,
    device_scope,
    grad_scaler,
    resolve_device,
    to_device,
)
from transferkit.errors import InputError

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


def test_resolver_cpu_and_auto_here() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(" CPU ") == torch.device("cpu")


@no_cuda
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_absent_is_one_clear_error(spec: str) -> None:
    with pytest.raises(InputError) as e:
        resolve_device(spec)
    msg = str(e.value)
    assert spec in msg and "sees no GPU" in msg and "\n" not in msg
    assert torch.__version__ in msg


def test_unknown_device_names_the_choices() -> None:
    with pytest.raises(InputError, match="'gpu' is not one of auto, cpu, cuda, cuda:N or mps"):
        resolve_device("gpu")


def test_scope_sets_and_restores_the_current_device() -> None:
    assert current_device().type == "cpu"
    with device_scope("cpu") as d:
        assert current_device() == d == torch.device("cpu")
    assert current_device().type == "cpu"


def test_cpu_path_copies_nothing_and_scales_nothing() -> None:
    t = torch.ones(3)
    batch = {"x": t}
    assert to_device(batch, torch.device("cpu"))["x"] is t
    assert not grad_scaler(torch.device("cpu")).is_enabled()


def test_pipeline_on_cpu_matches_default(tiny_bert) -> None:
    from transferkit.pipelines import pipeline

    a = pipeline("feature-extraction", str(tiny_bert))
    b = pipeline("feature-extraction", str(tiny_bert), device="cpu")
    assert b.device == torch.device("cpu")
    np.testing.assert_allclose(a(["hello there", "hi"]), b(["hello there", "hi"]), atol=1e-6)


@no_cuda
def test_pipeline_cuda_request_fails_before_loading() -> None:
    from transferkit.pipelines import pipeline

    with pytest.raises(InputError, match="not available"):
        pipeline("sentiment-analysis", model="no-such-model", device="cuda")


def _toy(tmp_path):
    texts = [f"good film number {i}" for i in range(12)] + [f"bad film {i}" for i in range(12)]
    labels = ["pos"] * 12 + ["neg"] * 12
    path = tmp_path / "tr.csv"
    pd.DataFrame({"text": texts, "label": labels}).to_csv(path, index=False)
    return path


def test_fit_and_evaluate_on_cpu_say_the_device(tiny_bert, tmp_path) -> None:
    from transferkit import evaluate, fit, load_model

    data = _toy(tmp_path)
    r = fit(
        str(data), base=str(tiny_bert), strategy="full", epochs=1, device="cpu",
        out=tmp_path / "m", progress=False,
    )  # fmt: skip
    assert r.device == "cpu" and "device: cpu" in r.summary
    assert next(r.model.parameters()).device.type == "cpu"
    rep = evaluate(str(tmp_path / "m"), str(data), device="cpu")
    loaded = load_model(tmp_path / "m")
    assert rep["n"] == 24 and loaded.labels == r.model.labels


@no_cuda
@pytest.mark.parametrize("command", ["predict", "fit", "evaluate", "rank", "compare"])
def test_cli_device_cuda_without_cuda_is_one_line(command: str, tiny_bert, tmp_path) -> None:
    data = str(_toy(tmp_path))
    args = {
        "predict": ["predict", "sentiment-analysis", "great"],
        "fit": ["fit", data, "--base", str(tiny_bert), "--out", str(tmp_path / "m")],
        "evaluate": ["evaluate", "sentiment-analysis", data],
        "rank": ["rank", data, "-c", str(tiny_bert)],
        "compare": ["compare", data, "--base", str(tiny_bert)],
    }[command]
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from transferkit.cli import main; main()",
            *args,
            "--device",
            "cuda",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "device 'cuda' is not available" in lines[0], res.stderr
    assert not (tmp_path / "m").exists()


def test_serve_and_predict_accept_device_cpu() -> None:
    runner = CliRunner()
    for command in ("serve", "predict", "fit", "rank", "compare", "evaluate"):
        res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0 and "--device" in res.output, command


def test_a_nested_call_without_device_keeps_the_outer_scope() -> None:
    from transferkit.core.devices import runs_on_device

    @runs_on_device
    def inner(device: str = "auto") -> torch.device:
        return current_device()

    @runs_on_device
    def outer(device: str = "auto") -> torch.device:
        return inner()

    assert outer(device="cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="not available"):
            outer(device="cuda")
