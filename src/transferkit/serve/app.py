"""The REST server: a FastAPI app around one task pipeline.

Routes (Hugging Face inference convention for /predict):

- `POST /predict` — JSON `{"inputs": "a text"}` or `{"inputs": ["text", ...]}`, optional
  `"parameters": {"top_k": k}` (and `"threshold": t` for multi-label models: one
  probability or one per label); a multi-label model answers the list of labels passing
  their thresholds, a regression model `{"score": value}`; image models take base64 strings (or data URLs) in
  `inputs`, or a multipart upload with one or more `files`. One input in → one result
  out (the pipeline's shape); a list in → a list out.
- `GET|HEAD /health` (never guarded), `GET /models` (the model's card), `GET /metrics`
  (request counts, 5xx count, latency percentiles, batching; `?format=prometheus` for
  the Prometheus text format), `GET /openapi.json`, `GET /docs` (a plain page listing
  the routes, built from the OpenAPI spec: no Swagger UI, whose assets would come from
  a CDN and leave the page blank offline).
- `GET|HEAD /` — a small HTML page to try the model by hand.

Limits answer 413 (request bytes), 408 (a body not sent within `body_timeout_s`) or 422
(items per request, bad inputs, JSON nested too deeply) with a message naming the limit.
With a token (argument or `TRANSFERKIT_TOKEN`), every route but `/health` needs
`Authorization: Bearer <token>`, the page at `/` included (there a browser's Basic prompt
also works: any user name, the token as password). Header timeouts and the
connection cap are the server's (`transferkit.serve.server`).
The server never opens a path taken from a request: strings are texts or base64 data.

>>> # app = create_app("sentiment-analysis", token="s3cret")
>>> # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import io
import json
import logging
import os
import reprlib
import time
from dataclasses import dataclass, field
from typing import Any

from transferkit.data.images import MAX_IMAGE_PIXELS
from transferkit.errors import InputError, require_extra
from transferkit.models.problems import MULTI, REGRESSION, Problem, problem_of

require_extra("fastapi", "serve")  # this module is imported only to serve

from fastapi import Depends, FastAPI, Request  # noqa: E402
from fastapi.exceptions import RequestValidationError  # noqa: E402
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402

from transferkit.serve.batching import MicroBatcher  # noqa: E402
from transferkit.serve.metrics import Metrics, prometheus_text  # noqa: E402
from transferkit.serve.page import PAGE_HTML, docs_html  # noqa: E402

logger = logging.getLogger(__name__)

TOKEN_ENV = "TRANSFERKIT_TOKEN"
BODY_TIMEOUT_S = 10.0  # a request body must arrive within this (408 after)


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
    if pipe.task != "feature-extraction":  # single-label, multi-label or regression
        card["problem"] = problem_of(model).to_config()
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
    except RecursionError:
        raise RequestProblem(
            422, 'the JSON body is nested too deeply; send {"inputs": "a text"} or a flat list'
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


def check_top_k(
    params: dict[str, Any], n_labels: int | None, kind: str = "single-label"
) -> int | None:
    unknown = sorted(set(params) - {"top_k", "threshold"})
    if unknown:
        raise RequestProblem(
            422, f"unknown parameter(s) {unknown}; /predict takes 'top_k' and 'threshold'"
        )
    k = params.get("top_k")
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RequestProblem(422, f"parameters.top_k={k!r}; give a whole number >= 1")
    if n_labels is None:
        what = "returns one score" if kind == "regression" else "extracts features"
        raise RequestProblem(422, f"parameters.top_k applies to classification; this model {what}")
    return min(k, n_labels)


def check_threshold(params: dict[str, Any], problem: Problem, labels: list[str] | None) -> Any:
    """`parameters.threshold` for a multi-label model (one probability, or one per label);
    422 naming the value otherwise."""
    from transferkit.models.problems import MULTI, check_thresholds

    t = params.get("threshold")
    if t is None:
        return None
    if problem.kind != MULTI or not labels:
        raise RequestProblem(
            422, f"parameters.threshold applies to multi-label models; this one is {problem.kind}"
        )
    values = t if isinstance(t, list) else [t]
    if not values or any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
        raise RequestProblem(
            422, f"parameters.threshold={t!r}; give a probability 0..1 or one per label"
        )
    try:
        check_thresholds(t, labels)
    except InputError as e:
        raise RequestProblem(422, f"parameters.{e}") from None
    return t


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
                422, f"inputs[{i}] is {type(x).__name__} {reprlib.repr(x)[:40]}; give a string"
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
@dataclass
class ServerState:
    """What the routes share: the pipeline, its batcher and metrics, and the limits."""

    pipe: Any
    batcher: MicroBatcher
    metrics: Metrics
    card: dict[str, Any]
    modality: str
    n_all: int | None
    token: str | None
    max_batch: int
    max_request_bytes: int
    max_chars: int
    body_timeout_s: float
    problem: Problem = field(default_factory=Problem)  # how the model's outputs decode
    labels: list[str] | None = None


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
    body_timeout_s: float = BODY_TIMEOUT_S,
    device: str = "auto",
) -> Any:
    """Build the FastAPI app serving `model_ref` (see `load_pipeline`).

    token: bearer token guarding every route but /health (default: the
    TRANSFERKIT_TOKEN environment variable; None or "" = no auth). max_batch: items per
    request (and per pipeline call). max_request_bytes: body size (413 above).
    max_chars: characters per text (422 above; shorter texts are truncated to the model's
    token limit as in the pipelines). batch_wait_ms: how long a batch waits for more.
    runtime: "torch", or "onnx" / "onnx-int8" (exported once into the cache).
    body_timeout_s: a request body must arrive within this many seconds (408 after).
    device: auto | cpu | cuda | cuda:N | mps, for a torch runtime.
    """
    require_extra("multipart", "serve")
    from transferkit.serve.schema import install_openapi
    from transferkit.utils.checks import check_number

    check_number(max_batch, "max_batch", low=1, high=100_000, integer=True, example=64)
    check_number(max_request_bytes, "max_request_bytes", low=1, integer=True, example=4_000_000)
    check_number(max_chars, "max_chars", low=1, integer=True, example=20_000)
    check_number(batch_wait_ms, "batch_wait_ms", low=0, high=10_000, example=2.0)
    check_number(body_timeout_s, "body_timeout_s", low=0, low_open=True, example=10)
    token = token if token is not None else os.environ.get(TOKEN_ENV) or None
    pipe = load_pipeline(model_ref, task, runtime, device)
    labels = getattr(pipe.model, "labels", None) if pipe.task != "feature-extraction" else None
    problem = problem_of(pipe.model) if labels else Problem()
    n_all = len(labels) if labels and problem.kind != REGRESSION else None

    def run_batch(items: list[Any]) -> list[Any]:
        # Classification: every score once (top_k = all labels, or threshold 0 for
        # multi-label); each request then keeps its own top-k / thresholds.
        kw: dict[str, Any] = {}
        if n_all:
            kw = {"threshold": 0.0} if problem.kind == MULTI else {"top_k": n_all}
        return pipe(items, errors="report", batch_size=max(pipe.batch_size, 1), **kw)

    st = ServerState(
        pipe=pipe,
        batcher=MicroBatcher(run_batch, max_items=max_batch, max_wait_s=batch_wait_ms / 1000),
        metrics=Metrics(),
        card=model_card(pipe, model_ref),
        modality=pipe.model.modality,
        n_all=n_all,
        token=token,
        max_batch=max_batch,
        max_request_bytes=max_request_bytes,
        max_chars=max_chars,
        body_timeout_s=body_timeout_s,
        problem=problem,
        labels=list(labels) if labels else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> Any:
        yield
        st.batcher.close()

    app = FastAPI(
        title="transferkit",
        version=_version(),
        description=f"{pipe.task} with {st.card['model']}",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.pipeline, app.state.batcher, app.state.metrics = pipe, st.batcher, st.metrics
    guard = [Depends(make_authoriser(token))]
    install_error_handlers(app, st)
    add_predict_route(app, st, guard)
    add_info_routes(app, st, guard)
    install_openapi(app, secured=token is not None)
    return app


def make_authoriser(token: str | None) -> Any:
    """A FastAPI dependency: 401 unless the request carries `Authorization: Bearer <token>`."""

    def authorise(request: Request) -> None:
        if token is None:
            return
        got = request.headers.get("authorization", "")
        scheme, _, value = got.partition(" ")
        if scheme.lower() == "basic":  # a browser opening the page: the token as password
            try:
                value = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
            except (binascii.Error, ValueError):
                value = ""
            scheme = "bearer"
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.strip().encode(), token.encode()
        ):
            raise RequestProblem(
                401,
                "missing or wrong bearer token; send the header "
                "'Authorization: Bearer <token>' (the --token the server was started with)",
            )

    return authorise


def install_error_handlers(app: Any, st: ServerState) -> None:
    """Every error is JSON `{"error": message}`; every response, 5xx included, is counted."""

    @app.exception_handler(RequestProblem)
    async def _problem(request: Request, exc: RequestProblem) -> JSONResponse:
        headers = None
        if exc.status == 401:  # the page: a browser asks for the token (as the password)
            basic = 'Basic realm="transferkit: any user name, the token as password"'
            headers = {"WWW-Authenticate": basic if request.url.path == "/" else "Bearer"}
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

    @app.middleware("http")
    async def _measure(request: Request, call_next: Any) -> Any:
        t0 = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception as exc:  # answered here, so that it is counted as a 5xx too
            logger.exception("unexpected error on %s", request.url.path)
            response = JSONResponse(
                {"error": f"internal error ({type(exc).__name__}); see the server log"},
                status_code=500,
            )
        st.metrics.record(request.url.path, response.status_code, time.perf_counter() - t0)
        return response


async def read_body(request: Request, st: ServerState) -> bytes:
    """The request body, at most `max_request_bytes` (413) and within `body_timeout_s`
    (408: a client that stops sending mid-body does not hold a connection forever)."""
    limit = st.max_request_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestProblem(
            413,
            f"the request has {int(declared):,} bytes; the limit is "
            f"max_request_bytes={limit:,}. Send fewer or smaller inputs.",
        )
    chunks: list[bytes] = []
    size = 0
    stream = request.stream().__aiter__()
    deadline = time.monotonic() + st.body_timeout_s
    while True:
        try:
            chunk = await asyncio.wait_for(
                stream.__anext__(), timeout=max(0.0, deadline - time.monotonic())
            )
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise RequestProblem(
                408,
                f"the request body did not arrive within {st.body_timeout_s:g} s; send the "
                "whole body at once",
            ) from None
        size += len(chunk)
        if size > limit:
            raise RequestProblem(
                413,
                f"the request is over max_request_bytes={limit:,} bytes. Send fewer or "
                "smaller inputs.",
            )
        chunks.append(chunk)
    return b"".join(chunks)


async def read_upload(request: Request, body: bytes, st: ServerState) -> list[Any]:
    """The images of a multipart upload (field `files`), decoded with the pixel cap."""
    if st.modality != "image":
        raise RequestProblem(
            422, 'this model takes text; send JSON {"inputs": ...}, not a file upload'
        )

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(
            max_files=st.max_batch, max_fields=st.max_batch
        )
    except Exception as e:  # malformed multipart, too many parts
        raise RequestProblem(
            422,
            f"cannot read the multipart upload ({str(e)[:120]}); send "
            f"up to max_batch={st.max_batch} images in field 'files'",
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


def add_predict_route(app: Any, st: ServerState, guard: list[Any]) -> None:
    """`POST /predict`: JSON texts/base64 images, or a multipart image upload."""
    from transferkit.serve.schema import PREDICT_OPENAPI

    @app.post("/predict", dependencies=guard, openapi_extra=PREDICT_OPENAPI, summary="Predict")
    async def predict(request: Request) -> JSONResponse:
        body = await read_body(request, st)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        params: dict[str, Any] = {}
        if ctype == "multipart/form-data":
            items, single = await read_upload(request, body, st), False
        elif ctype in ("application/json", "") or ctype.endswith("+json"):
            inputs, params = parse_json_body(body)
            items, single = check_items(inputs, st.modality, st.max_batch, st.max_chars)
        else:
            raise RequestProblem(
                415,
                f"content type {ctype!r} is not accepted; send application/json "
                "or multipart/form-data",
            )
        top_k = check_top_k(params, st.n_all, st.problem.kind)
        threshold = check_threshold(params, st.problem, st.labels)
        results = await st.batcher.submit(items)
        bad = [
            (i, r["error"]) for i, r in enumerate(results) if isinstance(r, dict) and "error" in r
        ]
        if bad:
            raise RequestProblem(422, "; ".join(f"inputs[{i}]: {m}" for i, m in bad[:5]))
        k = top_k if top_k is not None else st.pipe.top_k
        if st.n_all and st.problem.kind == MULTI:  # every label scored; apply this request's
            labels = st.labels or []
            results = [st.problem.select(r, labels, top_k=k, threshold=threshold) for r in results]
        elif st.n_all:  # the batch ran with every label's score; keep what this request asked
            results = [r[0] if k is None else r[:k] for r in results]
        out = [to_jsonable(r) for r in results]
        return JSONResponse(out[0] if single else out)


def metrics_payload(st: ServerState) -> dict[str, Any]:
    """What `GET /metrics` answers: request counts by route and status, latency
    percentiles, 5xx count, and the micro-batcher's batches."""
    b = st.batcher
    return {
        **st.metrics.summary(),
        "batches": b.batches,
        "items": b.items,
        "mean_batch_items": round(b.items / b.batches, 2) if b.batches else 0.0,
    }


def add_info_routes(app: Any, st: ServerState, guard: list[Any]) -> None:
    """/health (open, GET and HEAD), /models, /metrics (JSON or Prometheus text), the page
    at / (GET and HEAD), /openapi.json and /docs (offline: no CDN assets)."""
    from transferkit.serve.schema import HealthResponse

    @app.get("/health", response_model=HealthResponse, summary="Liveness (never needs a token)")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "task": st.pipe.task, "model": st.card["model"]}

    # HEAD (load balancers, `curl -I`): the same answer without a body; kept out of the
    # spec, where it would duplicate the GET operation
    app.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)

    @app.get("/models", dependencies=guard, summary="The served model's card")
    async def models() -> dict[str, Any]:
        return st.card

    @app.get(
        "/metrics",
        dependencies=guard,
        summary="Request counts, latency percentiles, batching (?format=prometheus for text)",
    )
    async def get_metrics(request: Request, format: str = "json") -> Any:  # noqa: A002
        unknown = sorted(set(request.query_params) - {"format"})
        if unknown:  # the spec declares `format` alone: anything else is a client error
            raise RequestProblem(422, f"unknown query parameter(s) {unknown}; only 'format'")
        if format == "prometheus":
            text = prometheus_text(metrics_payload(st))
            return PlainTextResponse(text, media_type="text/plain; version=0.0.4")
        if format != "json":
            raise RequestProblem(422, f"format={format!r}; use 'json' or 'prometheus'")
        return metrics_payload(st)

    @app.api_route("/", methods=["GET", "HEAD"], dependencies=guard, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(
            PAGE_HTML.replace("{{TASK}}", st.pipe.task).replace("{{MODALITY}}", st.modality)
        )

    @app.get("/openapi.json", dependencies=guard, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=guard, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(docs_html(app.openapi()))


def _version() -> str:
    import transferkit

    return str(getattr(transferkit, "__version__", "0"))
