"""Fuzz the API from its own OpenAPI spec (schemathesis): schema-valid and schema-breaking
requests alike must never get a 5xx, answers must match the documented responses, and
bodies the spec forbids must be refused with a 4xx."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def api_schema(tiny_bert_dir: Path):
    import torch

    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone
    from transferkit.pipelines import pipeline
    from transferkit.serve import create_app

    torch.manual_seed(0)
    clf = Classifier(load_backbone(tiny_bert_dir), ["NEGATIVE", "POSITIVE"]).eval()
    app = create_app(
        pipeline("text-classification", clf), token=TOKEN, max_batch=16, max_request_bytes=50_000
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app, headers=AUTH)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_never_fails_on_generated_requests(case) -> None:
    case.call_and_validate(
        headers=AUTH,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
        ],
    )
