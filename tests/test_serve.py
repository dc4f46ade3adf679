"""The REST server on tiny models built in the session (FastAPI TestClient, in process).

Bad input of every kind must get a 4xx with a message naming the problem — never a 500.
"""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("multipart")

from fastapi.testclient import TestClient  # noqa: E402

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def text_pipe(tiny_bert_dir: Path):
    import torch

    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone
    from transferkit.pipelines import pipeline

    torch.manual_seed(0)
    clf = Classifier(load_backbone(tiny_bert_dir), ["NEGATIVE", "POSITIVE"]).eval()
    return pipeline("text-classification", clf)


def tiny_image_classifier():
    import torch
    from torch import nn

    from transferkit.data.images import ImageTransform
    from transferkit.models.backbone import ImageBackbone
    from transferkit.models.classifier import Classifier

    class TinyNet(nn.Module):
        num_features = 4

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, stride=2)

        def forward_features(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x).relu().mean((2, 3))  # (batch, 4)

        def layer_groups(self) -> list[nn.Module]:
            return [self.conv]

    torch.manual_seed(0)
    tf = ImageTransform(36, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    backbone = ImageBackbone(TinyNet(), tf, spec={"kind": "test"})
    return Classifier(backbone, ["ant", "bee", "wasp"]).eval()


@pytest.fixture(scope="module")
def client(text_pipe):
    from transferkit.serve import create_app

    with TestClient(
        create_app(text_pipe, token=TOKEN, max_batch=8, max_request_bytes=20_000, max_chars=5_000)
    ) as c:
        yield c


@pytest.fixture(scope="module")
def image_client():
    from transferkit.pipelines import pipeline
    from transferkit.serve import create_app

    pipe = pipeline("image-classification", tiny_image_classifier())
    with TestClient(create_app(pipe, max_batch=4, max_request_bytes=200_000)) as c:
        yield c


def png_bytes(
    size: tuple[int, int] = (40, 30), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- happy paths
def test_predict_shapes_follow_the_pipeline(client: TestClient, text_pipe) -> None:
    one = client.post("/predict", json={"inputs": "a good film"}, headers=AUTH)
    assert one.status_code == 200
    assert set(one.json()) == {"label", "score"}
    assert one.json()["label"] == text_pipe("a good film")["label"]
    assert one.json()["score"] == pytest.approx(text_pipe("a good film")["score"], abs=1e-5)
    many = client.post("/predict", json={"inputs": ["good", "bad", "ok"]}, headers=AUTH).json()
    assert [m["label"] for m in many] == [r["label"] for r in text_pipe(["good", "bad", "ok"])]
    top = client.post(
        "/predict", json={"inputs": ["good"], "parameters": {"top_k": 2}}, headers=AUTH
    ).json()
    assert len(top) == 1 and len(top[0]) == 2
    assert top[0][0]["score"] >= top[0][1]["score"]
    assert {d["label"] for d in top[0]} == {"NEGATIVE", "POSITIVE"}


def test_health_is_open_and_the_rest_needs_the_token(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    for method, path in [
        ("post", "/predict"),
        ("get", "/models"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
        ("get", "/"),
    ]:
        r = getattr(client, method)(path, **({"json": {"inputs": "x"}} if method == "post" else {}))
        assert r.status_code == 401, path
        assert "Bearer" in r.json()["error"]
        wrong = getattr(client, method)(
            path,
            headers={"Authorization": "Bearer nope"},
            **({"json": {"inputs": "x"}} if method == "post" else {}),
        )
        assert wrong.status_code == 401
    assert client.get("/models", headers=AUTH).json()["labels"] == ["NEGATIVE", "POSITIVE"]


def test_token_from_the_environment(text_pipe, monkeypatch: pytest.MonkeyPatch) -> None:
    from transferkit.serve import create_app

    monkeypatch.setenv("TRANSFERKIT_TOKEN", "from-env")
    with TestClient(create_app(text_pipe)) as c:
        assert c.get("/models").status_code == 401
        assert c.get("/models", headers={"Authorization": "Bearer from-env"}).status_code == 200


def test_metrics_count_requests_and_give_percentiles(client: TestClient) -> None:
    for _ in range(3):
        client.post("/predict", json={"inputs": "fine"}, headers=AUTH)
    m = client.get("/metrics", headers=AUTH).json()
    route = m["routes"]["/predict"]
    assert route["by_status"]["200"] >= 3
    assert 0 < route["latency_ms"]["p50"] <= route["latency_ms"]["p99"]
    assert m["server_errors"] == 0 and m["batches"] >= 1


def test_page_and_openapi(client: TestClient) -> None:
    assert client.get("/").status_code == 401  # with a token, the page is guarded too
    page = client.get("/", headers=AUTH)
    assert (
        page.status_code == 200
        and 'id="result"' in page.text
        and "text-classification" in page.text
    )
    spec = client.get("/openapi.json", headers=AUTH).json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(body)
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_concurrent_requests_are_batched_together(text_pipe) -> None:
    import httpx

    from transferkit.serve import create_app

    app = create_app(text_pipe, max_batch=64, batch_wait_ms=50)
    texts = [f"review number {i} was {'good' if i % 2 else 'bad'}" for i in range(12)]

    async def fire() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            rs = await asyncio.gather(*[c.post("/predict", json={"inputs": t}) for t in texts])
        return [r.json() for r in rs]

    answers = asyncio.run(fire())
    expected = text_pipe(texts)
    assert [a["label"] for a in answers] == [e["label"] for e in expected]
    assert [a["score"] for a in answers] == pytest.approx([e["score"] for e in expected], abs=1e-5)
    batcher = app.state.batcher
    assert batcher.items == 12
    assert batcher.batches < 12  # several requests shared one pipeline call


# ---------------------------------------------------------------- bad input: 4xx, never 500
BAD_JSON_BODIES = [
    (b"{not json", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "send an object"),
    (b'"just a string"', "send an object"),
    (b'{"text": "x"}', "unknown field"),
    (b'{"parameters": {}}', 'no "inputs"'),
    (b'{"inputs": 5}', "'inputs' is a int"),
    (b'{"inputs": null}', "'inputs' is a NoneType"),
    (b'{"inputs": {"a": 1}}', "'inputs' is a dict"),
    (b'{"inputs": []}', "empty list"),
    (b'{"inputs": [1, "x"]}', "inputs[0] is int"),
    (b'{"inputs": ["ok", null]}', "inputs[1] is NoneType"),
    (b'{"inputs": "   "}', "empty string"),
    (b'{"inputs": "x", "parameters": {"top_k": 0}}', "top_k=0"),
    (b'{"inputs": "x", "parameters": {"top_k": "2"}}', "top_k='2'"),
    (b'{"inputs": "x", "parameters": {"top_k": true}}', "top_k=True"),
    (b'{"inputs": "x", "parameters": {"temperature": 1}}', "unknown parameter"),
    (b'{"inputs": "x", "parameters": [1]}', "'parameters' is a list"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
]


@pytest.mark.parametrize(("body", "message"), BAD_JSON_BODIES)
def test_bad_json_gets_422_naming_the_problem(
    client: TestClient, body: bytes, message: str
) -> None:
    r = client.post("/predict", content=body, headers={**AUTH, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]


def test_limits_name_themselves(client: TestClient) -> None:
    huge = client.post("/predict", json={"inputs": "word " * 10_000}, headers=AUTH)
    assert huge.status_code == 413 and "max_request_bytes=20,000" in huge.json()["error"]
    many = client.post("/predict", json={"inputs": ["a"] * 9}, headers=AUTH)
    assert many.status_code == 422 and "max_batch=8" in many.json()["error"]
    long = client.post("/predict", json={"inputs": "x" * 6_000}, headers=AUTH)
    assert long.status_code == 422 and "max_chars=5,000" in long.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(30):
            yield b" " * 1000

    streamed = client.post(
        "/predict", content=chunks(), headers={**AUTH, "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_wrong_content_type_and_uploads_to_a_text_model(client: TestClient) -> None:
    r = client.post("/predict", content=b"inputs=x", headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    up = client.post("/predict", files={"files": ("a.png", png_bytes(), "image/png")}, headers=AUTH)
    assert up.status_code == 422 and "takes text" in up.json()["error"]
    assert client.get("/nowhere", headers=AUTH).status_code == 404
    assert client.put("/predict", headers=AUTH).status_code == 405


def test_no_server_errors_were_recorded(client: TestClient) -> None:
    assert client.get("/metrics", headers=AUTH).json()["server_errors"] == 0


# ---------------------------------------------------------------- images
def test_image_upload_and_base64(image_client: TestClient) -> None:
    data = png_bytes()
    up = image_client.post(
        "/predict",
        files=[
            ("files", ("a.png", data, "image/png")),
            ("files", ("b.png", png_bytes(color=(0, 0, 255)), "image/png")),
        ],
    )
    assert up.status_code == 200, up.text
    assert len(up.json()) == 2 and len(up.json()[0]) == 3  # top-5 capped at 3 labels
    b64 = base64.b64encode(data).decode()
    one = image_client.post("/predict", json={"inputs": b64, "parameters": {"top_k": 1}})
    assert one.status_code == 200 and len(one.json()) == 1
    assert one.json()[0]["label"] == up.json()[0][0]["label"]
    url = image_client.post("/predict", json={"inputs": ["data:image/png;base64," + b64]})
    assert url.status_code == 200 and url.json()[0][0]["label"] == up.json()[0][0]["label"]


def test_bad_images_get_422(image_client: TestClient, tmp_path: Path) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png_bytes())
    # a path is never opened: it is not base64, so it is refused
    path = image_client.post("/predict", json={"inputs": str(secret)})
    assert path.status_code == 422 and "never opened" in path.json()["error"]
    text_file = image_client.post(
        "/predict", files={"files": ("fake.jpg", b"this is text", "image/jpeg")}
    )
    assert text_file.status_code == 422 and "fake.jpg" in text_file.json()["error"]
    empty = image_client.post("/predict", files={"files": ("e.png", b"", "image/png")})
    assert empty.status_code == 422 and "empty" in empty.json()["error"]
    b64_text = base64.b64encode(b"not an image at all").decode()
    assert image_client.post("/predict", json={"inputs": b64_text}).status_code == 422
    no_files = image_client.post("/predict", files={"other": ("a.png", png_bytes(), "image/png")})
    assert no_files.status_code == 422 and "'files'" in no_files.json()["error"]
    too_many = image_client.post(
        "/predict", files=[("files", (f"{i}.png", png_bytes(), "image/png")) for i in range(5)]
    )
    assert too_many.status_code == 422
    broken = image_client.post(
        "/predict",
        content=b"--xyz\r\ngarbage",
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 422
    assert image_client.get("/metrics").json()["server_errors"] == 0


def test_serving_an_exported_onnx_folder(text_pipe, tmp_path: Path) -> None:
    from transferkit.export import export_onnx
    from transferkit.serve import create_app

    export_onnx(text_pipe.model, tmp_path / "onnx")
    with TestClient(create_app(str(tmp_path / "onnx"))) as c:
        got = c.post("/predict", json={"inputs": ["a good film", "bad"]}).json()
        card = c.get("/models").json()
    want = text_pipe(["a good film", "bad"])
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert got[0]["score"] == pytest.approx(want[0]["score"], abs=1e-5)
    assert card["task"] == "text-classification" and card["onnx"]["precision"] == "fp32"
