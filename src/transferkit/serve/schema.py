"""The OpenAPI description of the request bodies `/predict` parses by hand.

`/predict` reads its body itself (to enforce the byte limit while reading and to take
JSON or multipart on one route), so FastAPI cannot infer the schema: it is declared here
and merged into the generated spec, which schemathesis fuzzes in the tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class HealthResponse(BaseModel):
    status: str
    task: str
    model: str


_PREDICTION = {
    "description": "single-label: {label, score} (a list with top_k); multi-label: the list "
    "of {label, score} passing their thresholds; regression: {score} in the target's units",
    "oneOf": [
        {
            "type": "object",
            "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
        },
        {"type": "array", "items": {}},
    ],
}

_ERROR = {
    "description": "A clear message naming the bad value and the limit or fix",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            }
        }
    },
}

PREDICT_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "additionalProperties": False,
                    "properties": {
                        "inputs": {
                            "description": "a text (or base64 image), or a list of them",
                            "oneOf": [
                                {"type": "string", "minLength": 1},
                                {
                                    "type": "array",
                                    "minItems": 1,
                                    "items": {"type": "string", "minLength": 1},
                                },
                            ],
                        },
                        "parameters": {
                            "anyOf": [
                                {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {
                                        "top_k": {
                                            "anyOf": [
                                                {"type": "integer", "minimum": 1},
                                                {"type": "null"},
                                            ]
                                        },
                                        "threshold": {
                                            "description": "multi-label models only: one "
                                            "probability, or one per label",
                                            "anyOf": [
                                                {"type": "number", "minimum": 0, "maximum": 1},
                                                {
                                                    "type": "array",
                                                    "items": {
                                                        "type": "number",
                                                        "minimum": 0,
                                                        "maximum": 1,
                                                    },
                                                },
                                                {"type": "null"},
                                            ],
                                        },
                                    },
                                },
                                {"type": "null"},
                            ]
                        },
                    },
                },
                "examples": {"text": {"value": {"inputs": "a gripping, beautifully acted film"}}},
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
        },
    },
    "responses": {
        "200": {
            "description": "One result for one input, a list for a list",
            "content": {"application/json": {"schema": _PREDICTION}},
        },
        "401": _ERROR,
        "413": _ERROR,
        "415": _ERROR,
        "422": _ERROR,
    },
}


def install_openapi(app: Any, *, secured: bool) -> None:
    """Add the bearer-token security scheme to the generated spec when a token is set."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        if secured:
            spec.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            for path, ops in spec["paths"].items():
                if path != "/health":
                    for op in ops.values():
                        op["security"] = [{"bearer": []}]
                        op.setdefault("responses", {}).setdefault("401", _ERROR)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi
