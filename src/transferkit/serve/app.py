"""The REST server: a FastAPI app around one task pipeline.

Routes (Hugging Face inference convention for /predict):

- `POST /predict` — JSON `{"inputs": "a text"}` or `{"inputs": ["text", ...]}`, optional
  `"parameters": {"top_k": k}`; image models take base64 strings (or data URLs) in
  `inputs`, or a multipart upload with one or more `files`. One input in → one result
  out (the pipeline's shape); a list in → a list out.
- `GET /health` (never guarded), `GET /models` (the model's card), `GET /metrics`
  (request counts, latency percentiles, batching), `GET /openapi.json`, `GET /docs`.
- `GET /` — a small HTML page to try the model by hand.

Limits answer 413 (request bytes) or 422 (items per request, bad inputs) with a message
naming the limit. With a token (argument or `TRANSFERKIT_TOKEN`), every route but
`/health` and the static `/` page needs `Authorization: Bearer <token>`.
The server never opens a path taken from a request: strings are texts or base64 data.

>>> # app = create_app("sentiment-analysis", token="s3cret")
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
import io
import json
import logging
import os
import time
from typing import Any

from transferkit.errors import InputError, require_extra

require_extra("fastapi", "serve")  # this module is imported only to serve

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.openapi.docs import get_swagger_ui_html  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from transferkit.serve.batching import MicroBatcher  # noqa: E402
from transferkit.serve.metrics import Metrics  # noqa: E402
from transferkit.serve.page import PAGE_HTML  # noqa: E402

logger = logging.getLogger(__name__)

TOKEN_ENV = "TRANSFERKIT_TOKEN"
MAX_IMAGE_PIXELS = 40_000_000  # ~6300×6300; bigger uploads are refused, not decoded


class RequestProblem(Exception):
    """A client error: HTTP `status` with a message naming the value and the fix."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------- model loading
def load_pipeline(
    model_ref: Any, task: str | None = None, runtime: str = "torch", device: str = "auto"
) -> Any:
    """A pipeline for `model_ref`: a Pipeline (used as is), a task name (its default
    model), a zoo name, a model folder or an exported ONNX folder. runtime "onnx" or
    "onnx-int8" exports the model once into the cache and serves it on onnxruntime.
    device: where a torch model runs (`core.devices`)."""
    from transferkit.models.factory import load_backbone, load_model
    from transferkit.pipelines import TASKS, Pipeline, pipeline

    if isinstance(model_ref, Pipeline):
        return model_ref
    if task is not None:
        return pipeline(task, model_ref, runtime=runtime, device=device)
    if isinstance(model_ref, str) and model_ref in TASKS:
        return pipeline(model_ref, runtime=runtime, device=device)
    if runtime != "torch":
        from transferkit.export.cache import cached_export

        model_ref = cached_export(model_ref, runtime)
    try:
        model = load_model(model_ref)
    except InputError:  # an encoder without a head: serve its embeddings
        return pipeline("feature-extraction", load_backbone(model_ref), device=device)
    return pipeline(f"{model.modality}-classification", model, device=device)


def model_card(pipe: Any, model_ref: Any) -> dict[str, Any]:
    """What `/models` answers: task, modality, labels and where the model came from."""
    model = pipe.model
    card: dict[str, Any] = {
        "model": str(model_ref) if not hasattr(model_ref, "task") else type(model).__name__,
        "task": pipe.task,
        "modality": model.modality,
        "labels": getattr(model, "labels", None),
        "embedding_dim": getattr(model, "embedding_dim", None),
    }
    if hasattr(model, "card"):  # an exported ONNX folder describes itself
        card["onnx"] = model.card()
    spec = getattr(getattr(model, "backbone", model), "spec", None) or {}
    if spec.get("kind") == "zoo":
        from transferkit.zoo.registry import get_card

        card["zoo"] = get_card(spec["name"]).to_dict()
    config = getattr(model, "config", None)
    if isinstance(config, dict):
        card["config"] = {k: v for k, v in config.items() if k != "tensors"}
    return json.loads(json.dumps(card, default=str))


# ---------------------------------------------------------------- input parsing
def decode_image(data: bytes, what: str) -> Any:
    """Bytes → RGB PIL image, or RequestProblem(422) naming `what`."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    if not data:
        raise RequestProblem(422, f"{what} is empty; send the bytes of a JPEG/PNG/GIF/WebP image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise RequestProblem(
                    422,
                    f"{what} is {img.width}×{img.height} pixels; the limit is "
                    f"{MAX_IMAGE_PIXELS:,} pixels. Resize it first.",
                )
            img.load()
        return img.convert("RGB")
    except RequestProblem:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as e:
        raise RequestProblem(
            422,
            f"{what} is not an image this server can read ({type(e).__name__}: "
            f"{str(e)[:120]}); send a JPEG/PNG/GIF/WebP file",
        ) from None


def decode_base64_image(s: str, position: int) -> Any:
    what = f"inputs[{position}]"
    payload = s.split(",", 1)[1] if s.startswith("data:") and "," in s else s
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise RequestProblem(
            422,
            f"{what} is not base64 ({s[:40]!r}...); image models take base64-encoded image "
            "bytes or a data URL in 'inputs', or a multipart upload in 'files'. File paths are "
            "never opened.",
        ) from None
    return decode_image(raw, what)


def parse_json_body(body: bytes) -> tuple[Any, dict[str, Any]]:
    """`{"inputs": ..., "parameters": {...}}` → (inputs, parameters), or a RequestProblem."""
    if not body.strip():
        raise RequestProblem(422, 'the request body is empty; send JSON like {"inputs": "a text"}')
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestProblem(
            422, f'the request body is not valid JSON ({e}); send {{"inputs": ...}}'
        ) from None
    if not isinstance(data, dict):
        raise RequestProblem(
            422, f'the JSON body is a {type(data).__name__}; send an object {{"inputs": ...}}'
        )
    unknown = sorted(set(data) - {"inputs", "parameters"})
    if unknown:
        raise RequestProblem(
            422, f"unknown field(s) {unknown}; the body takes 'inputs' and 'parameters'"
        )
    if "inputs" not in data:
        raise RequestProblem(
            422, 'the JSON body has no "inputs"; send {"inputs": "a text"} or a list'
        )
    params = data.get("parameters")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise RequestProblem(
            422, f"'parameters' is a {type(params).__name__}; send an object like {{\"top_k\": 2}}"
        )
    return data["inputs"], params


def check_top_k(params: dict[str, Any], n_labels: int | None) -> int | None:
    unknown = sorted(set(params) - {"top_k"})
    if unknown:
        raise RequestProblem(422, f"unknown parameter(s) {unknown}; /predict takes 'top_k'")
    k = params.get("top_k")
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RequestProblem(422, f"parameters.top_k={k!r}; give a whole number >= 1")
    if n_labels is None:
        raise RequestProblem(
            422, "parameters.top_k applies to classification; this model extracts features"
        )
    return min(k, n_labels)


def check_items(
    inputs: Any, modality: str, max_batch: int, max_chars: int
) -> tuple[list[Any], bool]:
    """Validate `inputs` (str or list of str) → (items ready for the pipeline, single?)."""
    single = isinstance(inputs, str)
    if not single and not isinstance(inputs, list):
        raise RequestProblem(
            422, f"'inputs' is a {type(inputs).__name__}; send a string or a list of strings"
        )
    items = [inputs] if single else inputs
    if not items:
        raise RequestProblem(422, "'inputs' is an empty list; send at least one input")
    if len(items) > max_batch:
        raise RequestProblem(
            422,
            f"'inputs' has {len(items)} items; the limit is max_batch={max_batch} "
            "per request. Split it into smaller requests.",
        )
    out = []
    for i, x in enumerate(items):
        if not isinstance(x, str):
            raise RequestProblem(
                422, f"inputs[{i}] is {type(x).__name__} {json.dumps(x)[:40]}; give a string"
            )
        if modality == "image":
            out.append(decode_base64_image(x, i))
            continue
        if not x.strip():
            raise RequestProblem(422, f"inputs[{i}] is an empty string; give some text")
        if len(x) > max_chars:
            raise RequestProblem(
                422,
                f"inputs[{i}] has {len(x):,} characters; the limit is "
                f"max_chars={max_chars:,}. Shorten it.",
            )
        out.append(x)
    return out, single


def to_jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, list):
        return [to_jsonable(v) for v in x]
    return x


# ---------------------------------------------------------------- the app
def create_app(
    model_ref: Any,
    *,
    task: str | None = None,
    token: str | None = None,
    max_batch: int = 64,
    max_request_bytes: int = 4_000_000,
    max_chars: int = 20_000,
    batch_wait_ms: float = 2.0,
    runtime: str = "torch",
    device: str = "auto",
) -> Any:
    """Build the FastAPI app serving `model_ref` (see `load_pipeline`).

    token: bearer token guarding every route but /health and / (default: the
    TRANSFERKIT_TOKEN environment variable; None or "" = no auth). max_batch: items per
    request (and per pipeline call). max_request_bytes: body size (413 above).
    max_chars: characters per text (422 above; shorter texts are truncated to the model's
    token limit as in the pipelines). batch_wait_ms: how long a batch waits for more.
    runtime: "torch", or "onnx" / "onnx-int8" (exported once into the cache).
    device: auto | cpu | cuda | cuda:N | mps, for a torch runtime.
    """
    require_extra("multipart", "serve")
    from transferkit.serve.schema import PREDICT_OPENAPI, HealthResponse, install_openapi

    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    pipe = load_pipeline(model_ref, task, runtime, device)
    modality = pipe.model.modality
    labels = getattr(pipe.model, "labels", None) if pipe.task != "feature-extraction" else None
    card = model_card(pipe, model_ref)
    metrics = Metrics()
    n_all = len(labels) if labels else None

    def run_batch(items: list[Any]) -> list[Any]:
        # Classification: every score once (top_k = all labels); each request keeps its top-k.
        kw = {"top_k": n_all} if n_all else {}
        return pipe(items, errors="report", batch_size=max(pipe.batch_size, 1), **kw)

    batcher = MicroBatcher(run_batch, max_items=max_batch, max_wait_s=batch_wait_ms / 1000)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        batcher.close()

    app = FastAPI(
        title="transferkit",
        version=_version(),
        description=f"{pipe.task} with {card['model']}",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.pipeline, app.state.batcher, app.state.metrics = pipe, batcher, metrics

    def authorise(request: Request) -> None:
        if token is None:
            return
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            raise RequestProblem(
                401,
                "missing or wrong bearer token; send the header "
                "'Authorization: Bearer <token>' (the --token the server was started with)",
            )

    guard = [Depends(authorise)]

    @app.exception_handler(RequestProblem)
    async def _problem(request: Request, exc: RequestProblem) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        msgs = [
            f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}"
            for e in exc.errors()[:5]
        ]
        return JSONResponse({"error": "; ".join(msgs)}, status_code=422)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error on %s", request.url.path)
        return JSONResponse(
            {"error": f"internal error ({type(exc).__name__}); see the server log"}, status_code=500
        )

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Any:
        t0 = time.perf_counter()
        response = await call_next(request)
        metrics.record(request.url.path, response.status_code, time.perf_counter() - t0)
        return response

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_request_bytes:
            raise RequestProblem(
                413,
                f"the request has {int(declared):,} bytes; the limit is "
                f"max_request_bytes={max_request_bytes:,}. Send fewer or smaller inputs.",
            )
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_request_bytes:
                raise RequestProblem(
                    413,
                    f"the request is over max_request_bytes={max_request_bytes:,} "
                    "bytes. Send fewer or smaller inputs.",
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def read_upload(request: Request, body: bytes) -> list[Any]:
        if modality != "image":
            raise RequestProblem(
                422, 'this model takes text; send JSON {"inputs": ...}, not a file upload'
            )

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(
                max_files=max_batch, max_fields=max_batch
            )
        except Exception as e:  # malformed multipart, too many parts
            raise RequestProblem(
                422,
                f"cannot read the multipart upload ({str(e)[:120]}); send "
                f"up to max_batch={max_batch} images in field 'files'",
            ) from None
        try:  # the form spools uploads to temporary files: always close them
            uploads = [v for k, v in form.multi_items() if k == "files" and hasattr(v, "read")]
            if not uploads:
                raise RequestProblem(
                    422, f"the upload has no files in field 'files' (fields: {sorted(form.keys())})"
                )
            images = []
            for i, up in enumerate(uploads):
                data = await up.read()
                images.append(decode_image(data, f"files[{i}] ({up.filename!r})"))
        finally:
            await form.close()
        return images

    @app.post("/predict", dependencies=guard, openapi_extra=PREDICT_OPENAPI, summary="Predict")
    async def predict(request: Request) -> JSONResponse:
        body = await read_body(request)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        params: dict[str, Any] = {}
        if ctype == "multipart/form-data":
            items, single = await read_upload(request, body), False
        elif ctype in ("application/json", "") or ctype.endswith("+json"):
            inputs, params = parse_json_body(body)
            items, single = check_items(inputs, modality, max_batch, max_chars)
        else:
            raise RequestProblem(
                415,
                f"content type {ctype!r} is not accepted; send application/json "
                "or multipart/form-data",
            )
        top_k = check_top_k(params, n_all)
        results = await batcher.submit(items)
        bad = [
            (i, r["error"]) for i, r in enumerate(results) if isinstance(r, dict) and "error" in r
        ]
        if bad:
            raise RequestProblem(422, "; ".join(f"inputs[{i}]: {m}" for i, m in bad[:5]))
        if n_all:  # the batch ran with every label's score; keep what this request asked for
            default_k = pipe.top_k
            k = top_k if top_k is not None else default_k
            results = [r[0] if k is None else r[:k] for r in results]
        out = [to_jsonable(r) for r in results]
        return JSONResponse(out[0] if single else out)

    @app.get("/health", response_model=HealthResponse, summary="Liveness (never needs a token)")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "task": pipe.task, "model": card["model"]}

    @app.get("/models", dependencies=guard, summary="The served model's card")
    async def models() -> dict[str, Any]:
        return card

    @app.get(
        "/metrics", dependencies=guard, summary="Request counts, latency percentiles, batching"
    )
    async def get_metrics() -> dict[str, Any]:
        return {
            **metrics.summary(),
            "batches": batcher.batches,
            "items": batcher.items,
            "mean_batch_items": round(batcher.items / batcher.batches, 2)
            if batcher.batches
            else 0.0,
        }

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            PAGE_HTML.replace("{{TASK}}", pipe.task).replace("{{MODALITY}}", modality)
        )

    @app.get("/openapi.json", dependencies=guard, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=guard, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="transferkit API")

    install_openapi(app, secured=token is not None)

    return app


def _version() -> str:
    import transferkit

    return str(getattr(transferkit, "__version__", "0"))
