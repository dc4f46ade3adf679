"""``transferkit fit ... --engine ray --workers N``: `fit` on Ray Train.

Ray Train's ``TorchTrainer`` starts N workers and a torch.distributed process group (gloo
on CPU, NCCL on GPUs); each worker runs the same `transferkit.fit` stages on the same
data. Inside the one trainer (`core.distributed`) that means:

- every rank builds the same seeded epoch plan and takes every N-th batch (a distributed
  sampler over the trainer's own length-bucketed batching);
- the model is wrapped in ``DistributedDataParallel``: gradients are averaged over the
  ranks, so one optimizer step sees N × batch_size examples (the effective batch) and an
  epoch has 1/N of the steps. The learning-rate rule chosen: not scaled with N — AdamW
  fine-tuning rates are small and warm-up + decay follow the (shorter) step count
  (measured: BENCHMARKS.md, "Scale"); pass ``lr=`` to scale it. The summary states the
  effective batch and the rate;
- with N = 1 there is no DDP wrapper and no sharding: the same model as a local fit with
  the same seed (to floating-point tolerance);
- rank 0 alone writes the checkpoint after every epoch (``<out>.checkpoint``, read by
  every rank on resume — on a cluster, put OUT on storage every node sees) and the model
  folder, through the same atomic save as a local fit. An interrupted fit leaves no OUT;
  the same call again resumes from the checkpoint.

The result is the same `FitResult` (and `--json`) as a local fit, with ``engine="ray"``
and ``workers=N``; its model is loaded back from the saved folder. `transferkit.fit(...,
engine="ray", workers=N)` calls this.

>>> # r = fit("train.csv", workers=2, strategy="full", epochs=1, out="my-model")
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from transferkit.core.results import FitResult
from transferkit.errors import InputError, TrainingError
from transferkit.ray.runtime import one_line

_RESULT_FILE = "transferkit_fit.json"


def _absolute(value: Any) -> Any:
    """Paths are resolved here: Ray workers may run in another working directory."""
    if isinstance(value, str | os.PathLike) and Path(value).exists():
        return str(Path(value).resolve())
    return value


def _worker_loop(config: dict[str, Any]) -> None:
    """One Ray Train worker: the local fit, inside the process group Ray set up."""
    import ray.train

    from transferkit.core.distributed import is_rank_zero
    from transferkit.workflows.fit import fit

    kwargs = dict(config["kwargs"])
    result = fit(config["train"], progress=False, **kwargs)
    payload = result.to_json() | {
        "summary": result.summary,
        "history": result.history,
        "hyperparameters": result.hyperparameters,
        "zero_shot": result.zero_shot,
        "eval_full": result.eval,
        "strategy_chosen_by": result.strategy_chosen_by,
        "base_chosen_by": result.base_chosen_by,
        "resumed_from_epoch": result.resumed_from_epoch,
    }
    # Ray Train keeps what is reported with a checkpoint: rank 0 hands back the result
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if is_rank_zero():
            (Path(folder) / _RESULT_FILE).write_text(json.dumps(payload))
            checkpoint = ray.train.Checkpoint.from_directory(folder)
        ray.train.report({"epochs": len(result.history)}, checkpoint=checkpoint)


def fit(
    train: Any,
    *,
    workers: int = 2,
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
    eval: Any = None,  # noqa: A002 - as transferkit.fit
    device: str = "cpu",
    progress: bool = False,
    **fit_kwargs: Any,
) -> FitResult:
    """`transferkit.fit` data-parallel over `workers` Ray Train workers (see module doc).

    address: an existing Ray cluster (default: a local Ray with `workers` CPUs). device:
    "cpu" (gloo) or "cuda" (one GPU per worker, NCCL). Other keyword arguments are
    `transferkit.fit`'s. `progress` is accepted for the same call shape; workers show none.
    """
    from transferkit.ray.runtime import ray_session

    if workers < 1:
        raise InputError(f"workers={workers} must be >= 1")
    if device not in ("cpu", "auto") and not device.startswith("cuda"):
        raise InputError(f"--engine ray trains on cpu or cuda workers, not {device!r}")
    use_gpu = device.startswith("cuda")
    # OUT may not exist yet: made absolute here, or a relative OUT would land in the Ray
    # worker's working directory (a temporary folder of Ray Train's)
    where = None if out is None else os.path.abspath(out)
    kwargs = dict(fit_kwargs) | {"out": where, "eval": _absolute(eval)}
    kwargs["device"] = "cuda" if use_gpu else "cpu"
    config = {"train": _absolute(train), "kwargs": kwargs}
    with ray_session(workers, address) as ray, tempfile.TemporaryDirectory() as storage:
        from ray.train import RunConfig, ScalingConfig
        from ray.train.torch import TorchConfig, TorchTrainer

        trainer = TorchTrainer(
            _worker_loop,
            train_loop_config=config,
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
            run_config=RunConfig(storage_path=storage, name="transferkit-fit"),
        )
        try:
            outcome = trainer.fit()
        except Exception as e:  # noqa: BLE001 - a worker's error, as one line
            raise TrainingError(f"the Ray Train job failed ({one_line(e)})") from None
        del ray
        if outcome.checkpoint is None:  # stopped before rank 0 reported (e.g. interrupted)
            raise TrainingError(
                "the Ray Train job ended without a result; with an OUT folder, the same "
                "call again resumes from its last checkpoint"
            )
        with outcome.checkpoint.as_directory() as folder:
            payload = json.loads((Path(folder) / _RESULT_FILE).read_text())
    if out is not None:  # as the user gave it, as a local fit reports it
        payload["model_dir"] = os.fspath(out)
    return _fit_result(payload, workers)


def _fit_result(payload: dict[str, Any], workers: int) -> FitResult:
    from transferkit.models.factory import load_model

    model_dir = payload["model_dir"]
    hp = payload["hyperparameters"] or {}
    batch, lr = hp.get("batch_size"), hp.get("lr")
    if batch is not None and lr is not None:
        note = (
            f"engine ray: {workers} data-parallel workers (DDP); each step averages gradients "
            f"over {workers} x {batch} = {workers * batch} examples (the effective batch), "
            f"an epoch has 1/{workers} of the steps; learning rate {lr:g}, as for one worker "
            "(not scaled with the workers; --lr / lr= sets it)"
        )
    else:  # no gradient training (strategy none / probe): nothing was data-parallel
        note = f"engine ray: {workers} workers; this strategy has no data-parallel steps"
    return FitResult(
        model=load_model(model_dir) if model_dir else None,
        model_dir=model_dir,
        base=payload["base"],
        strategy=payload["strategy"],
        reason=payload["reason"],
        train_seconds=float(payload["train_seconds"]),
        eval=payload["eval_full"],
        zero_shot=payload["zero_shot"],
        summary=[*payload["summary"], note],
        hyperparameters=payload["hyperparameters"],
        history=payload["history"],
        resumed_from_epoch=payload["resumed_from_epoch"],
        base_reason=payload["base_reason"],
        strategy_chosen_by=payload["strategy_chosen_by"],
        base_chosen_by=payload["base_chosen_by"],
        device=payload["device"],
        engine="ray",
        workers=workers,
    )
