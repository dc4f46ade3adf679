"""CLI commands `transferkit fit TRAIN ...` and `transferkit evaluate MODEL DATA [--json]`.

Registered on the main typer app by `register(app)`.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any

import typer

from transferkit.cli.scale import AddressOption, DeviceOption, EngineOption, WorkersOption


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def fit_command(
    train: Annotated[
        str, typer.Argument(help="training data: CSV/TSV/JSONL/Parquet file or image folder")
    ],
    base: Annotated[
        str,
        typer.Option(
            help="zoo name, model folder or hub id; NAME@K starts from cut point K (the bottom "
            "K layer groups: a smaller network, e.g. minilm-l6@4, mobilenet-v2@5). auto: rank "
            "the zoo models of the data's modality and their cut points on TRAIN (as "
            "`transferkit rank` does, within --budget) and take the recommended model, cut "
            "and, unless --strategy is given, strategy; the output says why"
        ),
    ] = "auto",
    strategy: Annotated[
        str,
        typer.Option(
            help="auto | none | probe | partial | full | lora | contrastive (none: a source "
            "head whose labels match, as it is)"
        ),
    ] = "auto",
    label_map: Annotated[
        list[str] | None,
        typer.Option(
            "--label-map",
            help="DATA=SOURCE (repeat): a data label and the source-head label it means "
            "(e.g. neg=NEGATIVE); others match ignoring case",
        ),
    ] = None,
    eval: Annotated[str | None, typer.Option("--eval", help="evaluation file or folder")] = None,  # noqa: A002
    text_column: Annotated[str | None, typer.Option(help="text column (auto-detected)")] = None,
    label_column: Annotated[str | None, typer.Option(help="label column (auto-detected)")] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="single-label | multi-label | regression (default: inferred from the label "
            "column — lists or strings joined with --label-sep: multi-label; non-integer "
            "numbers: regression; anything else, integers included: single-label; the "
            "output says how)"
        ),
    ] = None,
    label_sep: Annotated[
        str, typer.Option(help="multi-label: the separator between labels in one cell")
    ] = "|",
    class_weight: Annotated[
        str | None,
        typer.Option(
            help="balanced: rare classes (single-label) or each label's positives "
            "(multi-label: n_negative / n_positive) weigh more, in every strategy"
        ),
    ] = None,
    regression_loss: Annotated[
        str, typer.Option(help="regression: mse | huber, on the standardised target")
    ] = "mse",
    budget: Annotated[float | None, typer.Option(help="wall-time budget in seconds")] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs (gradient strategies)")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    batch_size: Annotated[int | None, typer.Option(help="batch size")] = None,
    freeze_groups: Annotated[
        int | None, typer.Option(help="partial: layer groups to freeze")
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    out: Annotated[
        str | None,
        typer.Option(
            help="output model folder (default: ./<train name>-model in the current "
            "directory); an existing folder is refused unless it is empty, or a transferkit "
            "model folder and --overwrite is given"
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option("--overwrite", help="replace --out when it already holds a transferkit model"),
    ] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="ignore a checkpoint; start over")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON result on stdout")] = False,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="after fitting, prove it helped: the same base and strategy vs training from "
            "scratch vs a classical baseline, on one shared split (see `transferkit compare`)",
        ),
    ] = False,
    seeds: Annotated[int, typer.Option(help="--compare: runs per method")] = 3,
    report: Annotated[
        str | None, typer.Option(help="--compare: write the HTML report here")
    ] = None,
    device: DeviceOption = "auto",
    engine: EngineOption = "local",
    workers: WorkersOption = 1,
    address: AddressOption = None,
) -> None:
    """Adapt a pretrained model to your labelled data and save it as a folder.

    With --compare, a comparison against from-scratch and classical baselines follows.
    --engine ray --workers N trains data-parallel on Ray Train (DDP; each step sees
    N x --batch-size examples) and saves the same folder.
    """
    from transferkit.cli.scale import check_engine
    from transferkit.errors import InputError, TransferkitError
    from transferkit.models.classifier import parse_label_map
    from transferkit.utils.checks import dumps_strict
    from transferkit.workflows.fit import fit

    try:
        check_engine(engine, workers, address)
    except InputError as e:
        _fail(str(e))
    run: Any = fit
    if engine == "ray":
        from transferkit.ray.train import fit as ray_fit

        run = functools.partial(ray_fit, workers=workers, address=address)

    if report is not None and not compare:
        _fail(
            str(InputError(f"--report {report!r} needs --compare (or use `transferkit compare`)"))
        )
    if compare and report is not None:
        from transferkit.workflows.compare import check_output_path

        try:  # a bad report path fails before any training
            check_output_path(report, "--report", (train, eval))
        except TransferkitError as e:
            _fail(str(e))
    if out is None:
        from transferkit.utils.paths import default_out_dir

        out = str(default_out_dir(train))
        if not as_json:
            typer.echo(f"no --out given: the model will be saved to {out}", err=True)
    try:
        result = run(
            train,
            base=base,
            strategy=strategy,
            eval=eval,
            text_column=text_column,
            label_column=label_column,
            budget=budget,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            freeze_groups=freeze_groups,
            seed=seed,
            out=out,
            overwrite=overwrite,
            resume=not fresh,
            progress=progress,
            device=device,
            label_map=parse_label_map(label_map),
            task=task,
            label_sep=label_sep,
            class_weight=class_weight,
            regression_loss=regression_loss,
        )
    except TransferkitError as e:
        _fail(str(e))
        return
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: {out} was not changed; the last finished epoch is kept in "
            f"{out}.checkpoint — run the same command again to resume.",
            err=True,
        )
        raise typer.Exit(130) from None
    comparison = None
    if compare:
        comparison = _compare(
            train, eval, result, seeds, budget, report, text_column, label_column, as_json, device
        )
    if as_json:
        payload = result.to_json()
        if comparison is not None:
            from transferkit.evaluation.report import to_jsonable

            payload["compare"] = to_jsonable(comparison)
        typer.echo(dumps_strict(payload))
        return
    for line in result.summary:
        typer.echo(line)
    typer.echo(f"trained in {result.train_seconds:.1f} s; saved {result.model_dir}")
    if comparison is not None:
        from transferkit.cli.compare import print_summary

        print_summary(comparison)


def _compare(
    train: str,
    eval: str | None,  # noqa: A002
    result: Any,
    seeds: int,
    budget: float | None,
    report: str | None,
    text_column: str | None,
    label_column: str | None,
    quiet: bool,
    device: str = "auto",
) -> dict[str, Any]:
    """Run `transferkit compare` with the base and strategy this fit used."""
    from transferkit.errors import TransferkitError
    from transferkit.workflows.compare import compare

    say = None if quiet else (lambda m: typer.echo(m, err=True))
    if say:
        say(
            "comparing: the transfer run is repeated over seeds on compare's shared split, "
            "beside from-scratch and classical baselines"
        )
    try:
        return compare(
            train,
            eval=eval,
            base=str(result.base),
            strategy=str(result.strategy),
            seeds=seeds,
            budget=budget,
            report=report,
            text_column=text_column,
            label_column=label_column,
            say=say,
            device=device,
        )
    except TransferkitError as e:
        _fail(str(e))
        raise


def evaluate_command(
    model: Annotated[str, typer.Argument(help="model folder or zoo name")],
    data: Annotated[str, typer.Argument(help="labelled data: table file or image folder")],
    text_column: Annotated[str | None, typer.Option(help="text column (auto-detected)")] = None,
    label_column: Annotated[str | None, typer.Option(help="label column (auto-detected)")] = None,
    batch_size: Annotated[int, typer.Option(help="batch size")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    device: DeviceOption = "auto",
    label_sep: Annotated[
        str, typer.Option("--label-sep", help="multi-label: separator of labels in one cell")
    ] = "|",
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="multi-label: one probability threshold for every label (default: the "
            "model's own per-label thresholds)",
        ),
    ] = None,
) -> None:
    """MODEL's figures on DATA, by the model's task: accuracy, macro-F1, per-class table and
    confusion matrix (single-label); micro/macro/sample F1, subset accuracy, Hamming loss,
    per-label figures and thresholds (multi-label); Spearman, Pearson, MAE, RMSE, R²
    (regression)."""
    from transferkit.errors import TransferkitError
    from transferkit.evaluation.assess import evaluate

    try:
        report = evaluate(
            model,
            data,
            text_column=text_column,
            label_column=label_column,
            batch_size=batch_size,
            device=device,
            label_sep=label_sep,
            threshold=threshold,
        )
    except TransferkitError as e:
        _fail(str(e))
        return
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    from rich.console import Console

    from transferkit.core.metrics import format_report

    Console().print(format_report(report, title=f"{model} on {data}"))


def register(app: typer.Typer) -> None:
    """Add `fit` and `evaluate` to the main CLI app."""
    app.command("fit")(fit_command)
    app.command("evaluate")(evaluate_command)
