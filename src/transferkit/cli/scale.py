"""Options shared by the commands that run a model: --device, and for predict and fit
--engine / --workers / --address (Ray). Defined once so their help reads the same."""

from __future__ import annotations

from typing import Annotated

import typer

DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        help="auto (a CUDA GPU when torch sees one, else the CPU) | cpu | cuda | cuda:N | mps; "
        "mixed precision on CUDA",
    ),
]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this process) | ray (Ray Data / Ray Train; needs pip install "
        "'transferkit[ray]')",
    ),
]
WorkersOption = Annotated[
    int,
    typer.Option(
        "--workers",
        min=1,
        help="--engine ray: parallel workers (predict: model-holding actors; fit: DDP ranks)",
    ),
]
AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="--engine ray: join this Ray cluster (e.g. ray://head:10001 or auto); default: "
        "start a local Ray with --workers CPUs",
    ),
]


def check_engine(engine: str, workers: int, address: str | None) -> None:
    """One clear error for an unknown engine, or Ray options without --engine ray."""
    from transferkit.errors import InputError

    if engine not in ("local", "ray"):
        raise InputError(f"--engine {engine!r}: use local or ray")
    if engine == "local" and (workers != 1 or address is not None):
        raise InputError("--workers and --address need --engine ray")
