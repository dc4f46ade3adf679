"""Issue 13, one test per class: data loss, broken results saved with exit 0, bad items
sinking a batch, damaged or foreign model files, server edges, and the smaller ones.

Each test fails on the code before the fix (see the issue for what happened there).
"""

from __future__ import annotations

import base64
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferkit.errors import InputError, TransferkitError

POS = ["good", "great", "lovely", "superb"]
NEG = ["bad", "awful", "dull", "poor"]


def toy(n: int = 12, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        texts += [f"{rng.choice(POS)} film {i}", f"{rng.choice(NEG)} film {i}"]
        labels += ["pos", "neg"]
    return texts, labels


@pytest.fixture()
def probe_model(tiny_bert: Path, tmp_path: Path) -> Path:
    from transferkit.workflows.fit import fit

    out = tmp_path / "probe-model"
    fit(toy(), base=str(tiny_bert), strategy="probe", out=out, progress=False)
    return out


def strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{path} holds the non-JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


# ---------------------------------------------------------------- 1. data loss
def test_out_never_replaces_user_files(tiny_bert: Path, tmp_path: Path, monkeypatch) -> None:
    from transferkit.workflows.fit import fit

    data_dir = tmp_path / "project"
    data_dir.mkdir()
    train = data_dir / "train.csv"
    texts, labels = toy()
    pd.DataFrame({"text": texts, "label": labels}).to_csv(train, index=False)
    (data_dir / "code.py").write_text("print('mine')\n")
    monkeypatch.chdir(data_dir)
    user_folder = tmp_path / "photos"
    user_folder.mkdir()
    (user_folder / "a.txt").write_text("keep me")
    a_file = tmp_path / "notes.txt"
    a_file.write_text("keep me too")
    cases = {
        ".": "current directory",
        str(data_dir): "current directory",
        str(tmp_path): "holds the (input|source model)",
        str(user_folder): "did not write",
        str(a_file): "existing file",
        str(tiny_bert): "source model",
        str(Path.home()): "home folder",
    }
    for out, why in cases.items():
        with pytest.raises(InputError, match=why):
            fit(str(train), base=str(tiny_bert), strategy="probe", out=out, progress=False)
    ckpt_user = tmp_path / "new.checkpoint"
    ckpt_user.mkdir()
    (ckpt_user / "mine.txt").write_text("keep")
    with pytest.raises(InputError, match="not a transferkit checkpoint"):
        fit(str(train), base=str(tiny_bert), out=str(tmp_path / "new"), progress=False)
    assert (ckpt_user / "mine.txt").read_text() == "keep"
    # checked before any work: a missing training file is not even looked at
    with pytest.raises(InputError, match="did not write"):
        fit("missing.csv", base=str(tiny_bert), out=str(user_folder), progress=False)
    assert (data_dir / "code.py").read_text() == "print('mine')\n"
    assert (user_folder / "a.txt").read_text() == "keep me"
    assert a_file.read_text() == "keep me too"
    assert train.is_file() and (tiny_bert / "config.json").is_file()


def test_existing_model_needs_overwrite_and_empty_folder_is_fine(
    tiny_bert: Path, tmp_path: Path
) -> None:
    from transferkit.workflows.fit import fit

    out = tmp_path / "m"
    out.mkdir()  # empty: allowed
    fit(toy(), base=str(tiny_bert), strategy="probe", out=out, progress=False)
    first = (out / "transferkit.json").read_text()
    with pytest.raises(InputError, match="--overwrite"):
        fit(toy(seed=2), base=str(tiny_bert), strategy="probe", out=out, progress=False)
    assert (out / "transferkit.json").read_text() == first
    fit(toy(seed=2), base=str(tiny_bert), strategy="probe", out=out, overwrite=True, progress=False)
    assert (out / "transferkit.json").read_text() != first
    # a model folder used as the base is never the output, even with overwrite
    with pytest.raises(InputError, match="source model"):
        fit(toy(), base=str(out), strategy="probe", out=out, overwrite=True, progress=False)


def test_cli_fit_without_out_saves_in_the_current_directory(
    tiny_bert: Path, tmp_path: Path, monkeypatch
) -> None:
    from typer.testing import CliRunner

    from transferkit.cli import app

    data = tmp_path / "data"
    data.mkdir()
    texts, labels = toy()
    pd.DataFrame({"text": texts, "label": labels}).to_csv(data / "reviews.csv", index=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["fit", str(data / "reviews.csv"), "--base", str(tiny_bert), "--strategy", "probe"]
    res = CliRunner().invoke(app, [*args, "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (work / "reviews-model" / "transferkit.json").is_file()
    assert not (data / "reviews-model").exists()
    assert str(work / "reviews-model") in res.output


def test_export_and_predict_never_overwrite_their_inputs(probe_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from typer.testing import CliRunner

    from transferkit.cli import app
    from transferkit.export.onnx import export_onnx

    before = (probe_model / "model.safetensors").read_bytes()
    with pytest.raises(InputError, match="source model"):
        export_onnx(str(probe_model), probe_model, overwrite=True)
    assert (probe_model / "model.safetensors").read_bytes() == before

    table = tmp_path / "r.csv"
    pd.DataFrame({"id": [7, 8], "text": ["good film", "bad film"], "label": ["x", "y"]}).to_csv(
        table, index=False
    )
    original = table.read_text()
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "predict",
            "text-classification",
            "-m",
            str(probe_model),
            "-f",
            str(table),
            "-o",
            str(table),
        ],
    )
    assert isinstance(res.exception, InputError) and "input" in str(res.exception)
    assert table.read_text() == original
    out = tmp_path / "preds.csv"
    res = runner.invoke(
        app,
        [
            "predict",
            "text-classification",
            "-m",
            str(probe_model),
            "-f",
            str(table),
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out)
    assert list(got["id"]) == [7, 8] and list(got["label"]) == ["x", "y"]  # kept as they were
    assert set(got["predicted_label"]) <= {"pos", "neg"}
    assert got["predicted_score"].between(0, 1).all()
    # an existing file that is not an input is a user's file too: replaced only on request
    notes = tmp_path / "notes.csv"
    notes.write_text("mine\n")
    predict = ["predict", "text-classification", "-m", str(probe_model), "-f", str(table)]
    res = runner.invoke(app, [*predict, "-o", str(notes)])
    assert isinstance(res.exception, InputError) and "--overwrite" in str(res.exception)
    assert notes.read_text() == "mine\n"
    res = runner.invoke(app, [*predict, "-o", str(notes), "--overwrite"])
    assert res.exit_code == 0, res.output
    assert "predicted_label" in notes.read_text()


# ---------------------------------------------------------------- 2. broken results
@pytest.mark.parametrize(
    ("option", "value", "range_text"),
    [
        ("lr", float("nan"), "(0, 10]"),
        ("lr", -1.0, "(0, 10]"),
        ("batch_size", -4, "[1, 65536]"),
        ("epochs", 0, "[1, 1000]"),
        ("budget", float("inf"), "> 0"),
        ("freeze_groups", 1.5, "whole number"),
    ],
)
def test_numeric_options_are_checked_where_they_enter(
    tiny_bert: Path, tmp_path: Path, option: str, value: float, range_text: str
) -> None:
    from transferkit.workflows.fit import fit

    with pytest.raises(InputError) as e:
        fit(toy(), base=str(tiny_bert), out=tmp_path / "m", progress=False, **{option: value})
    msg = str(e.value)
    assert f"--{option.replace('_', '-')}" in msg and range_text in msg
    assert not (tmp_path / "m").exists()


def test_cli_rejects_nan_lr_before_training(tiny_bert: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from transferkit.cli import app

    train = tmp_path / "t.csv"
    texts, labels = toy()
    pd.DataFrame({"text": texts, "label": labels}).to_csv(train, index=False)
    res = CliRunner().invoke(
        app,
        ["fit", str(train), "--base", str(tiny_bert), "--lr", "nan", "--out", str(tmp_path / "m")],
    )
    assert res.exit_code == 2 and "--lr" in res.output and "(0, 10]" in res.output
    assert not (tmp_path / "m").exists()


def test_non_finite_training_stops_and_saves_nothing(tiny_bert: Path, tmp_path: Path) -> None:
    """A base with a NaN weight (the loss is NaN from the first step): the old loop
    trained on and saved NaN weights with exit 0."""
    from safetensors.torch import load_file, save_file

    from transferkit.errors import TrainingError
    from transferkit.workflows.fit import fit

    weights = tiny_bert / "model.safetensors"
    tensors = load_file(str(weights))
    key = next(k for k in tensors if k.endswith("attention.output.dense.bias"))
    tensors[key][0] = float("nan")
    save_file(tensors, str(weights), metadata={"format": "pt"})
    out = tmp_path / "m"
    with pytest.raises(TrainingError, match="non-finite.*nothing was saved"):
        fit(toy(), base=str(tiny_bert), strategy="full", epochs=2, out=out, progress=False)
    assert not out.exists()
    assert not Path(f"{out}.checkpoint").exists()


def test_training_loop_guard_on_a_nan_loss(tmp_path: Path) -> None:
    import torch

    from transferkit.core.loop import Checkpoint, LoopConfig, run_loop
    from transferkit.errors import TrainingError

    lin = torch.nn.Linear(2, 1)
    ckpt = Checkpoint(tmp_path / "ckpt", key="k")

    def step_loss(idx: list[int]) -> torch.Tensor:
        return lin(torch.ones(1, 2)).sum() * float("nan")

    with pytest.raises(TrainingError, match="the loss became non-finite"):
        run_loop(
            lin, lambda e: [[0]], step_loss, [{"params": list(lin.parameters()), "lr": 0.1}],
            LoopConfig(epochs=1), callbacks=[ckpt],
        )  # fmt: skip
    assert not (tmp_path / "ckpt").exists()
    assert all(torch.isfinite(p).all() for p in lin.parameters())


def test_saved_json_is_strict(probe_model: Path) -> None:
    from transferkit.models.io import dumps_json

    cfg = strict_json(probe_model / "transferkit.json")
    assert cfg["checksums"]["model.safetensors"]
    assert json.loads(dumps_json({"x": float("nan"), "y": [math.inf]})) == {"x": None, "y": [None]}


# ---------------------------------------------------------------- 3. bad items
def test_one_bad_image_or_text_does_not_sink_the_batch(tmp_path: Path, tiny_bert: Path) -> None:
    from PIL import Image

    from transferkit.data.images import MAX_IMAGE_PIXELS, load_image
    from transferkit.pipelines import pipeline

    bomb = tmp_path / "bomb.png"
    Image.new("1", (13_000, 13_000)).save(bomb)  # ~40 KB on disk, 169 M pixels
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(InputError, match=f"{MAX_IMAGE_PIXELS:,}"):
        load_image(bomb)
    ok = tmp_path / "ok.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(ok)

    from test_serve import tiny_image_classifier

    img_pipe = pipeline("image-classification", tiny_image_classifier())
    res = img_pipe([str(ok), str(bomb), str(ok)], errors="report")
    assert "error" in res[1] and "pixels" in res[1]["error"]
    assert res[0] == res[2] and "error" not in res[0][0]

    txt = pipeline("feature-extraction", str(tiny_bert))
    out = txt(["fine", "bad \ud800 text", "also fine"], errors="report")
    assert isinstance(out[1], dict) and "surrogate" in out[1]["error"]
    assert out[0].shape == out[2].shape
    with pytest.raises(InputError, match="input 1"):
        txt(["fine", "bad \ud800 text"])


def test_tables_report_bad_rows_by_line(tmp_path: Path) -> None:
    from transferkit.data.tables import read_table, read_texts
    from transferkit.errors import DataError

    tsv = tmp_path / "q.tsv"
    tsv.write_text('text\tlabel\ngood\tpos\n"unbalanced\tneg\nfine\tpos\nok\tneg\n')
    with pytest.raises(DataError, match="line 3: a quote"):
        read_table(tsv)
    csv = tmp_path / "f.csv"
    csv.write_text("text,label\na,b\nc,d,e\nf,g\nh\n")
    with pytest.raises(DataError, match="line 3 has 3 fields.*line 5 has 1 fields"):
        read_table(csv)
    kept = read_table(csv, bad_rows="skip")  # only when asked
    assert kept.to_dict("records") == [{"text": "a", "label": "b"}, {"text": "f", "label": "g"}]
    assert [m.split(" has")[0] for m in kept.attrs["skipped_rows"]] == ["line 3", "line 5"]
    jsonl = tmp_path / "j.jsonl"
    jsonl.write_text('{"text": "a"}\n\n{"text": b}\n')
    with pytest.raises(DataError, match="line 3 is not valid JSON"):
        read_table(jsonl)
    nan = tmp_path / "n.csv"
    nan.write_text('text\nNaN\n"two\nlines"\nnull\n')
    assert read_texts(nan) == ["NaN", "two\nlines", "null"]


# ---------------------------------------------------------------- 4. damaged folders
def test_damaged_model_folders_give_one_clear_error(probe_model: Path, tmp_path: Path) -> None:
    import shutil

    from transferkit.models.factory import load_model
    from transferkit.models.safety import DamagedModelError

    load_model(str(probe_model))  # intact: loads
    weights = probe_model / "model.safetensors"
    good = weights.read_bytes()

    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(DamagedModelError, match="model.safetensors.*SHA-256.*train or save"):
        load_model(str(probe_model))
    flipped = bytearray(good)
    flipped[-20:] = bytes(20)  # same size, other bytes
    weights.write_bytes(bytes(flipped))
    with pytest.raises(DamagedModelError, match="SHA-256"):
        load_model(str(probe_model))

    # no checksum recorded (an older folder): safetensors' own error, as one line
    cfg = json.loads((probe_model / "transferkit.json").read_text())
    del cfg["checksums"]
    (probe_model / "transferkit.json").write_text(json.dumps(cfg))
    weights.write_bytes(good[:100])
    with pytest.raises(DamagedModelError, match="not a readable safetensors"):
        load_model(str(probe_model))
    (probe_model / "transferkit.json").write_text("{not json")
    with pytest.raises(DamagedModelError, match="not valid JSON"):
        load_model(str(probe_model))

    pickled = tmp_path / "hf-pickle"
    pickled.mkdir()
    (pickled / "config.json").write_text('{"model_type": "bert"}')
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(DamagedModelError, match="pickle.*safetensors"):
        load_model(str(pickled))
    shutil.rmtree(pickled)


def test_damaged_checkpoint_names_fresh(tiny_bert: Path, tmp_path: Path) -> None:
    import torch

    from transferkit.core.loop import Checkpoint, LoopConfig, run_loop
    from transferkit.models.safety import DamagedModelError

    lin = torch.nn.Linear(2, 1)

    def train(epochs: int) -> None:
        run_loop(
            lin, lambda e: [[0]], lambda idx: lin(torch.ones(1, 2)).pow(2).sum(),
            [{"params": list(lin.parameters()), "lr": 0.1}], LoopConfig(epochs=epochs),
            callbacks=[Checkpoint(tmp_path / "ckpt", key="k")],
        )  # fmt: skip

    train(1)
    state = tmp_path / "ckpt" / "state.safetensors"
    strict_json(tmp_path / "ckpt" / "state.json")  # -inf best metric is not written as -Infinity
    state.write_bytes(state.read_bytes()[:-10])  # half-written
    with pytest.raises(DamagedModelError, match="--fresh"):
        train(2)


def test_damaged_onnx_export(probe_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from transferkit.export.onnx import export_onnx
    from transferkit.models.factory import load_model
    from transferkit.models.safety import DamagedModelError

    out = tmp_path / "onnx"
    export_onnx(str(probe_model), out)
    assert strict_json(out / "transferkit.json")["checksums"]["model.onnx"]
    load_model(str(out))
    graph = out / "model.onnx"
    data = bytearray(graph.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 2000):
        data[i] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(DamagedModelError, match="model.onnx.*SHA-256.*export the model again"):
        load_model(str(out))
    cfg = json.loads((out / "transferkit.json").read_text())
    del cfg["checksums"]
    (out / "transferkit.json").write_text(json.dumps(cfg))
    graph.write_bytes(b"garbage, not a protobuf")
    with pytest.raises(DamagedModelError, match="onnxruntime"):
        load_model(str(out))


# ---------------------------------------------------------------- 5. server edges
@pytest.fixture(scope="module")
def server_pipe(tiny_bert_dir: Path):
    import torch

    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone
    from transferkit.pipelines import pipeline

    torch.manual_seed(0)
    return pipeline(
        "text-classification", Classifier(load_backbone(tiny_bert_dir), ["neg", "pos"]).eval()
    )


def test_server_edges(server_pipe) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    auth = {"Authorization": "Bearer t"}
    with TestClient(create_app(server_pipe, token="t")) as c:
        assert c.head("/health").status_code == 200
        refused = c.get("/")
        assert refused.status_code == 401  # the page is guarded too; a browser gets a prompt
        assert refused.headers["www-authenticate"].startswith("Basic")
        basic = "Basic " + base64.b64encode(b"anyone:t").decode()
        assert c.get("/", headers={"Authorization": basic}).status_code == 200
        wrong = "Basic " + base64.b64encode(b"anyone:nope").decode()
        assert c.get("/", headers={"Authorization": wrong}).status_code == 401
        assert c.head("/", headers=auth).status_code == 200
        assert c.get("/", headers=auth).status_code == 200
        docs = c.get("/docs", headers=auth)
        assert docs.status_code == 200 and "/predict" in docs.text
        assert "cdn" not in docs.text.lower() and "<script" not in docs.text.lower()
        nested = b'{"inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
        r = c.post("/predict", content=nested, headers={**auth, "Content-Type": "application/json"})
        assert r.status_code == 422 and "nested" in r.json()["error"]
        deep_item = {"inputs": [[[[[["x"]]]]]]}
        assert c.post("/predict", json=deep_item, headers=auth).status_code == 422
        r = c.post("/predict", content=b'{"inputs": ["ok", "\\ud800"]}', headers=auth)
        assert r.status_code == 422 and "surrogate" in r.json()["error"]
        prom = c.get("/metrics?format=prometheus", headers=auth)
        assert prom.status_code == 200 and prom.headers["content-type"].startswith("text/plain")
        assert 'transferkit_requests_total{route="/predict",status="422"}' in prom.text
        assert c.get("/metrics?format=xml", headers=auth).status_code == 422


def test_server_counts_5xx(server_pipe) -> None:
    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    app = create_app(server_pipe)

    def broken(items):  # a fault inside the model call, as a bug would raise it
        raise ZeroDivisionError("boom")

    app.state.batcher.run = broken
    with TestClient(app, raise_server_exceptions=False) as c:
        for _ in range(2):
            r = c.post("/predict", json={"inputs": "x"})
            assert r.status_code == 500 and "ZeroDivisionError" in r.json()["error"]
        assert c.get("/metrics").json()["server_errors"] == 2
        assert "transferkit_server_errors_total 2" in c.get("/metrics?format=prometheus").text


def test_body_timeout_answers_408(server_pipe) -> None:
    import time

    from fastapi.testclient import TestClient

    from transferkit.serve import create_app

    def slow_body():
        yield b'{"inputs": '
        time.sleep(1.0)
        yield b'"late"}'

    with TestClient(create_app(server_pipe, body_timeout_s=0.3)) as c:
        r = c.post("/predict", content=slow_body(), headers={"Content-Type": "application/json"})
        assert r.status_code == 408 and "0.3 s" in r.json()["error"]


def test_port_host_and_header_timeout() -> None:
    import socket
    import threading
    import time

    pytest.importorskip("uvicorn")
    import uvicorn

    from transferkit.serve.server import check_listen, guarded_protocol, warn_if_open

    for bad in (0, 70000, -1, "http"):
        with pytest.raises(InputError, match="--port"):
            check_listen("127.0.0.1", bad)
    assert warn_if_open("0.0.0.0", None) is not None
    assert warn_if_open("0.0.0.0", "secret") is None and warn_if_open("127.0.0.1", None) is None

    async def app(scope, receive, send):  # a minimal ASGI app: the protocol is under test
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(InputError, match="cannot listen"):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", port))
            taken.listen()
            check_listen("127.0.0.1", port)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, http=guarded_protocol(0.5), log_level="error",
        lifespan="off",
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            t0 = time.time()
            assert conn.recv(100) == b""  # closed by the server
            assert time.time() - t0 < 3
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b"200" in conn.recv(200)
    finally:
        server.should_exit = True
        thread.join(10)


# ---------------------------------------------------------------- 7. smaller ones
def test_models_table_keeps_names_and_top_k_is_checked(server_pipe) -> None:
    from typer.testing import CliRunner

    from transferkit.cli import app
    from transferkit.zoo.registry import list_models

    res = CliRunner().invoke(app, ["models"], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    for card in list_models():
        assert card.name in res.output
    for k in (0, -1, 1.5):
        with pytest.raises(InputError, match="--top-k"):
            server_pipe(["good"], top_k=k)
    with pytest.raises(TransferkitError):
        server_pipe(["good"], batch_size=0)
    assert os.environ.get("COLUMNS") != "80"


def test_case_clash_warns_nested_images_count_and_modality_is_named(
    tmp_path: Path, probe_model: Path
) -> None:
    from PIL import Image

    from transferkit.data.datasets import load_labelled
    from transferkit.errors import DataError
    from transferkit.evaluation.assess import evaluate

    d = load_labelled((["a", "b", "c"], ["negative", "NEGATIVE", "pos"]))
    assert any("differ only in case" in n and "NEGATIVE / negative" in n for n in d.notes)
    root = tmp_path / "imgs"
    for cls in ("cat", "dog"):
        (root / cls / "nested").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / cls / "top.png")
        Image.new("RGB", (8, 8)).save(root / cls / "nested" / "deep.png")
    data = load_labelled(str(root))
    assert len(data) == 4 and sorted(data.labels) == ["cat", "cat", "dog", "dog"]
    with pytest.raises(DataError, match="image data but the model takes text"):
        evaluate(str(probe_model), str(root))
