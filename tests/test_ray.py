"""transferkit.ray on a local Ray with 2 CPUs, started once for the session: predict
parity with the single-process path (real sst2 rows, an image folder), a 2-worker fit
that saves a loadable folder, an interrupted job that leaves no output, and the extra."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.ray]
SRC = str(Path(__file__).resolve().parents[1] / "src")


def _start_ray(ray) -> None:
    env = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": SRC}
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )


@pytest.fixture(scope="session")
def local_ray():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    _start_ray(ray)
    yield ray
    ray.shutdown()


def _sst2_rows(shared_data: Path, tmp_path: Path, n: int) -> Path:
    df = pd.read_csv(shared_data / "text" / "sst2" / "test.csv").iloc[:n]
    path = tmp_path / "rows.csv"
    df.to_csv(path, index=False)
    return path


def test_predict_parity_on_sst2_rows(local_ray, shared_data, tmp_path) -> None:
    from transferkit.pipelines import pipeline
    from transferkit.ray import predict_file

    rows = _sst2_rows(shared_data, tmp_path, 300)
    report = predict_file("sentiment-analysis", rows, tmp_path / "p.parquet", workers=2)
    got = pd.read_parquet(tmp_path / "p.parquet")
    texts = pd.read_csv(rows)["text"].tolist()
    want = pipeline("sentiment-analysis")(texts)
    assert report.rows == len(got) == 300 and report.errors == 0
    assert got["input"].tolist() == texts  # input order kept
    assert got["label"].tolist() == [w["label"] for w in want]
    # batches differ (Ray's 256-row calls vs one bucketed pass): same padding-masked maths,
    # float sums in another order
    np.testing.assert_allclose(got["score"], [w["score"] for w in want], atol=1e-5)
    assert got["error"].isna().all()


def test_predict_parity_on_an_image_folder(local_ray, shared_data, tmp_path) -> None:
    from transferkit.pipelines import pipeline
    from transferkit.ray import predict_file

    folder = tmp_path / "imgs"
    for cls in ("ants", "bees"):
        (folder / cls).mkdir(parents=True)
        src = sorted((shared_data / "images" / "hymenoptera" / "val" / cls).iterdir())[:6]
        for p in src:
            (folder / cls / p.name).symlink_to(p)
    predict_file("image-classification", folder, tmp_path / "p.jsonl", workers=2)
    got = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    paths = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    want = pipeline("image-classification")(paths, top_k=5)
    assert [g["input"] for g in got] == paths
    assert [g["label"] for g in got] == [w[0]["label"] for w in want]
    for g, w in zip(got, want, strict=True):
        assert [t["label"] for t in g["top_k"]] == [t["label"] for t in w]
        np.testing.assert_allclose([t["score"] for t in g["top_k"]], [t["score"] for t in w], atol=1e-5)  # fmt: skip


def test_interrupted_job_leaves_no_output(local_ray, shared_data, tmp_path) -> None:
    from transferkit.ray import Predictor, predict_file

    class Breaks(Predictor):  # the second batch an actor sees kills the job
        calls = 0

        def __call__(self, batch):
            type(self).calls += 1
            if type(self).calls > 1:
                raise RuntimeError("worker lost")
            return super().__call__(batch)

    rows = _sst2_rows(shared_data, tmp_path, 600)
    try:
        for out in ("p.parquet", "folder"):
            with pytest.raises(Exception, match="worker lost"):
                predict_file(
                    "sentiment-analysis", rows, tmp_path / out, workers=1, predictor=Breaks
                )
            assert not (tmp_path / out).exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]  # no temporary left
    finally:
        # a failed Ray Data job can leave its actor holding a CPU of the 2-CPU local Ray, and
        # a later 2-worker Ray Train job would then wait for ever: start the next tests clean
        local_ray.shutdown()
        _start_ray(local_ray)


def test_existing_output_is_never_overwritten(tmp_path) -> None:
    from transferkit.errors import InputError
    from transferkit.ray import predict_file

    (tmp_path / "p.csv").write_text("mine\n")
    with pytest.raises(InputError, match="already exists"):
        predict_file("sentiment-analysis", tmp_path / "p.csv", tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text() == "mine\n"


def test_two_worker_fit_saves_a_loadable_folder(local_ray, shared_data, tiny_bert, tmp_path) -> None:  # fmt: skip
    from transferkit import evaluate, load_model
    from transferkit.ray import fit

    df = pd.read_csv(shared_data / "text" / "sst2" / "train.csv")
    small = pd.concat([df[df.label == c].iloc[:40] for c in sorted(df.label.unique())])
    small.to_csv(tmp_path / "tr.csv", index=False)
    test = _sst2_rows(shared_data, tmp_path, 100)
    r = fit(
        str(tmp_path / "tr.csv"), workers=2, base=str(tiny_bert), strategy="full", epochs=1,
        batch_size=8, out=tmp_path / "m",
    )  # fmt: skip
    assert (r.engine, r.workers) == ("ray", 2) and r.model_dir == str((tmp_path / "m").resolve())
    assert r.to_json()["workers"] == 2 and any("2 data-parallel workers" in s for s in r.summary)
    # 72 training rows (10% held out), batches of 8: 9 batches -> 4 steps per rank
    assert r.history and r.history[0]["epoch"] == 1
    model = load_model(tmp_path / "m")
    assert sorted(model.labels) == ["negative", "positive"]
    assert evaluate(tmp_path / "m", test)["n"] == 100
    assert not Path(f"{tmp_path / 'm'}.checkpoint").exists()


@pytest.mark.parametrize("command", ["predict", "fit"])
def test_engine_ray_without_the_extra_names_it(command: str, tmp_path) -> None:
    args = {
        "predict": "'predict', 'sentiment-analysis', '--file', sys.argv[1], '--out', sys.argv[2]",
        "fit": "'fit', sys.argv[1], '--out', sys.argv[2], '--workers', '2'",
    }[command]
    code = (
        f"import sys; sys.modules['ray'] = None; sys.argv = ['transferkit', {args}, "
        "'--engine', 'ray']; from transferkit.cli import main; main()"
    )
    (tmp_path / "in.csv").write_text("text,label\ngreat,pos\nawful,neg\n")
    res = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "in.csv"), str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert "pip install 'transferkit[ray]'" in lines[0]
    assert not (tmp_path / "o").exists()


def test_ray_options_need_engine_ray(tmp_path) -> None:
    from typer.testing import CliRunner

    from transferkit.cli import app

    res = CliRunner().invoke(app, ["predict", "sentiment-analysis", "hi", "--workers", "2"])
    assert res.exit_code != 0 and "--workers and --address need --engine ray" in str(res.exception)


def test_import_and_non_ray_commands_do_not_import_ray() -> None:
    code = (
        "import sys, transferkit, transferkit.ray, transferkit.cli; "
        "from transferkit.cli import app; from typer.testing import CliRunner; "
        "r = CliRunner().invoke(app, ['models', '--json']); assert r.exit_code == 0; "
        "print('ray' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.stdout.strip() == "False", res.stderr
