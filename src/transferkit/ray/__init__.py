"""Scale out on Ray (the optional extra ``pip install 'transferkit[ray]'``).

- :class:`Predictor` — a callable class for your own ``ds.map_batches(...)``: each actor
  loads the model once and labels pandas batches exactly as ``transferkit predict`` does;
- :func:`predict_file` — ``transferkit predict ... --engine ray``: ``read_*`` →
  ``map_batches`` on an actor pool → ``write_*``, input order kept (a folder output
  also has a ``row`` column, the input row number), rows/s reported;
- :func:`fit` — ``transferkit fit ... --engine ray`` and ``transferkit.fit(...,
  engine="ray")``: ``fit`` on Ray Train's ``TorchTrainer`` (DDP; gloo on CPU, NCCL on
  GPUs), rank 0 checkpoints and saves, a rerun resumes.

Importing this package does not import Ray; each entry point checks for it and names the
extra when it is missing. Ray's usage reporting is turned off (RAY_USAGE_STATS_ENABLED=0)
unless you set that variable yourself.

>>> # import ray, transferkit.ray as tkr
>>> # ds = ray.data.read_csv("reviews.csv")
>>> # ds.map_batches(tkr.Predictor, fn_constructor_kwargs={"model": "sentiment-analysis"},
>>> #                compute=ray.data.ActorPoolStrategy(size=4), batch_size=256,
>>> #                batch_format="pandas").write_parquet("preds/")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["Predictor", "predict_file", "fit"]

_LAZY = {
    "Predictor": "transferkit.ray.predictor",
    "predict_file": "transferkit.ray.batch",
    "fit": "transferkit.ray.train",
}

if TYPE_CHECKING:
    from transferkit.ray.batch import predict_file
    from transferkit.ray.predictor import Predictor
    from transferkit.ray.train import fit


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transferkit.ray' has no attribute {name!r}")
