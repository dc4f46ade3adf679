"""`transferkit serve MODEL [--host 127.0.0.1] [--port 8000] [--token T]`."""

from __future__ import annotations

from typing import Annotated

import typer

from transferkit.cli.scale import DeviceOption


def serve_command(
    model: Annotated[
        str, typer.Argument(help="model folder, exported ONNX folder, zoo name or task name")
    ],
    host: Annotated[
        str,
        typer.Option(
            "--host", help="address to listen on (loopback by default; 0.0.0.0 = every network)"
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="TCP port, 1-65535 (checked before the model loads)")
    ] = 8000,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TRANSFERKIT_TOKEN",
            help="bearer token required on every route but /health, the page at / included "
            "(or env TRANSFERKIT_TOKEN); without one, a non-loopback --host gets a warning",
        ),
    ] = None,
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="inputs per request and per model call")
    ] = 64,
    runtime: Annotated[
        str,
        typer.Option("--runtime", help="torch, onnx or onnx-int8 (exported once into the cache)"),
    ] = "torch",
    max_request_bytes: Annotated[
        int, typer.Option("--max-request-bytes", help="request body limit")
    ] = 4_000_000,
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="open connections at most (503 above)")
    ] = 200,
    device: DeviceOption = "auto",
) -> None:
    """Serve MODEL over HTTP: POST /predict, GET /health, /models, /metrics, /docs and a page at /."""
    from transferkit.errors import TransferkitError

    try:
        from transferkit.serve import serve

        serve(
            model,
            host=host,
            port=port,
            token=token,
            max_batch=max_batch,
            max_request_bytes=max_request_bytes,
            runtime=runtime,
            max_connections=max_connections,
            device=device,
        )
    except TransferkitError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add `serve` to the transferkit CLI."""
    app.command("serve")(serve_command)
