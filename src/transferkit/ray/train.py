"""``transferkit fit ... --engine ray --workers N``: `fit` on Ray Train.

Ray Train's ``TorchTrainer`` starts N workers and a torch.distributed process group (gloo
on CPU, NCCL on GPUs); each worker runs the same `transferkit.fit` stages on the same
data. Inside the one trainer (`core.distributed`) that means:

- every rank builds the same seeded epoch plan and takes every N-th batch (a distributed
  sampler over the trainer's own length-bucketed batching);
- the model is wrapped in ``DistributedDataParallel``: gradients are averaged over the
  ranks, so one optimizer step sees N × batch_size examples (the effective batch) and an
  epoch has 1/N of the steps. The learning rate is not scaled with N — fine-tuning rates
  are small and warm-up + decay follow the (shorter) step count; pass ``lr=`` to scale it;
- rank 0 alone writes the checkpoints (``<out>.checkpoint``, read by every rank on
  resume — on a cluster, put OUT on storage every node sees) and the model folder, through
  the same atomic save as a local fit.

The result is the same `FitResult` (and `--json`) as a local fit, with ``engine="ray"``
and ``workers=N``; its model is loaded back from the saved folder.

>>> # r = fit("train.csv", workers=2, strategy="full", epochs=1, out="my-model")
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from transferkit.core.results import FitResult
from transferkit.errors import InputError

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
    kwargs = dict(fit_kwargs) | {"out": _absolute(out), "eval": _absolute(eval)}
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
        outcome = trainer.fit()
        del ray
        with outcome.checkpoint.as_directory() as folder:
            payload = json.loads((Path(folder) / _RESULT_FILE).read_text())
    return _fit_result(payload, workers)


def _fit_result(payload: dict[str, Any], workers: int) -> FitResult:
    from transferkit.models.factory import load_model

    model_dir = payload["model_dir"]
    note = (
        f"engine ray: {workers} data-parallel workers (DDP); each step averages gradients "
        f"over {workers} x batch_size examples, the learning rate is not scaled"
    )
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
