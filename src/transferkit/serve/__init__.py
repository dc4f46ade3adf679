"""The REST server (FastAPI + uvicorn): `create_app(model)`; needs `transferkit[serve]`."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve"]


def create_app(model_ref: Any, **kwargs: Any) -> Any:
    from transferkit.serve.app import create_app as _create

    return _create(model_ref, **kwargs)


def serve(model_ref: Any, *, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any) -> None:
    """Build the app and run it with uvicorn until interrupted (see `serve.server`: the
    port is checked before the model loads; header/body timeouts, a connection cap)."""
    from transferkit.serve.server import serve as _serve

    _serve(model_ref, host=host, port=port, **kwargs)
