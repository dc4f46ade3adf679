"""`transferkit export MODEL --onnx [--int8] --out DIR [--parity-data FILE]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def export_command(
    model: Annotated[
        str, typer.Argument(help="model folder, zoo name, or task name (its default model)")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder to write the exported model to")],
    onnx: Annotated[
        bool, typer.Option("--onnx", help="export to ONNX (the only format so far)")
    ] = False,
    int8: Annotated[
        bool, typer.Option("--int8", help="quantise weights and activations to int8")
    ] = False,
    parity_data: Annotated[
        Path | None,
        typer.Option(
            "--parity-data",
            help="table of texts (label column optional) or image folder "
            "to compare the export with the torch model on",
        ),
    ] = None,
    calibration_data: Annotated[
        Path | None,
        typer.Option(
            "--calibration-data",
            help="table of texts to calibrate int8 scales on (e.g. the training set; "
            "never the test set); default: built-in sentences",
        ),
    ] = None,
    text_column: Annotated[
        str | None, typer.Option("--text-column", help="text column of --parity-data")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="compare on the first N examples only")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the folder's description as JSON")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="replace --out when it already holds a transferkit (or exported) model; "
            "any other existing folder with files is never replaced",
        ),
    ] = False,
) -> None:
    """Export MODEL to ONNX (optionally int8); print and record a parity check."""
    from transferkit.errors import InputError, TransferkitError

    if not onnx:
        raise typer.BadParameter("pass --onnx (the only export format so far)", param_hint="--onnx")
    from transferkit.export.onnx import export_onnx
    from transferkit.utils.progress import progress_bar

    try:
        with progress_bar(None, f"exporting {model} to ONNX{' int8' if int8 else ''}") as _:
            config = export_onnx(
                model,
                out,
                int8=int8,
                parity_data=parity_data,
                text_column=text_column,
                parity_limit=limit,
                calibration_data=calibration_data,
                overwrite=overwrite,
            )
    except (TransferkitError, InputError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None
    parity = config["parity"]
    if as_json:
        typer.echo(json.dumps(config, indent=2, default=str, allow_nan=False))
        return
    typer.echo(
        f"exported {model} → {out} ({config['precision']}, outputs: {', '.join(config['outputs'])})"
    )
    typer.echo(f"parity on {parity['data']} ({parity['n']} inputs):")
    for key in (
        "max_logit_diff",
        "agreement",
        "label_agreement",
        "max_prob_diff",
        "max_abs_diff",
        "correlation",
        "micro_f1_torch",
        "micro_f1_onnx",
        "micro_f1_change_points",
        "spearman_torch",
        "spearman_onnx",
        "mae_torch",
        "mae_onnx",
        "accuracy_torch",
        "accuracy_onnx",
        "accuracy_change_points",
        "max_feature_diff",
        "min_feature_cosine",
    ):
        if parity.get(key) is not None:
            typer.echo(f"  {key:24s} {parity[key]:.6g}")


def register(app: typer.Typer) -> None:
    """Add `export` to the transferkit CLI."""
    app.command("export")(export_command)
