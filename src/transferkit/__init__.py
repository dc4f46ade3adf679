"""transferkit: transfer learning that is practical and measured.

Use a pretrained model, choose a starting model, adapt it to your data, prove it helped,
and ship it.

>>> import transferkit
>>> clf = transferkit.pipeline("sentiment-analysis")          # doctest: +SKIP
>>> clf("Transfer learning can help")                          # doctest: +SKIP
{'label': 'POSITIVE', 'score': 0.9...}

Importing this package is cheap: heavy libraries (torch, transformers) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "list_models",
    "get_card",
    "pipeline",
    "load_model",
    "load_backbone",
    "save_classifier",
    "rank",
    "fit",
    "compare",
    "evaluate",
    "FitResult",
    "RankResult",
    "CandidateRow",
    "Recommendation",
    "CompareResult",
    "EvaluationReport",
    "TransferkitError",
    "InputError",
    "DataError",
    "ModelNotFoundError",
]

# name -> module that defines it; resolved lazily so `import transferkit` stays cheap.
_LAZY = {
    "list_models": "transferkit.zoo.registry",
    "get_card": "transferkit.zoo.registry",
    "pipeline": "transferkit.pipelines",
    "load_model": "transferkit.models.factory",
    "load_backbone": "transferkit.models.factory",
    "save_classifier": "transferkit.models.saving",
    "rank": "transferkit.select.rank",
    "compare": "transferkit.workflows.compare",
    "evaluate": "transferkit.evaluation.assess",
    "FitResult": "transferkit.core.results",
    "RankResult": "transferkit.core.results",
    "CandidateRow": "transferkit.core.results",
    "Recommendation": "transferkit.core.results",
    "CompareResult": "transferkit.core.results",
    "EvaluationReport": "transferkit.core.results",
    "TransferkitError": "transferkit.errors",
    "InputError": "transferkit.errors",
    "DataError": "transferkit.errors",
    "ModelNotFoundError": "transferkit.errors",
}

if TYPE_CHECKING:
    from transferkit.core.results import (
        CandidateRow,
        CompareResult,
        EvaluationReport,
        FitResult,
        RankResult,
        Recommendation,
    )
    from transferkit.errors import DataError, InputError, ModelNotFoundError, TransferkitError
    from transferkit.evaluation.assess import evaluate
    from transferkit.models.factory import load_backbone, load_model
    from transferkit.models.saving import save_classifier
    from transferkit.pipelines import pipeline
    from transferkit.select.rank import rank
    from transferkit.workflows.compare import compare
    from transferkit.zoo.registry import get_card, list_models


def fit(
    train: Any,
    *,
    engine: str = "local",
    workers: int = 1,
    address: str | None = None,
    **options: Any,
) -> FitResult:
    """Adapt a pretrained model to labelled data `train`; return a FitResult.

    engine "local" (default) runs `transferkit.workflows.fit.fit` in this process: its
    docstring lists every option (base, strategy, eval, epochs, lr, batch_size, seed,
    out, resume, device, ...). engine "ray" runs that same fit data-parallel on `workers`
    Ray Train workers (`transferkit.ray.fit`; needs ``pip install 'transferkit[ray]'``):
    one optimizer step then sees ``workers x batch_size`` examples, the learning rate is
    not scaled; `address` joins an existing Ray cluster (default: a local Ray).

    >>> # r = transferkit.fit("train.csv", base="minilm-l6", out="my-model")
    >>> # r = transferkit.fit("train.csv", engine="ray", workers=2, out="my-model")
    """
    from transferkit.errors import InputError

    if engine == "ray":
        from transferkit.ray.train import fit as ray_fit

        return ray_fit(train, workers=workers, address=address, **options)
    if engine != "local":
        raise InputError(f"engine={engine!r}: use 'local' or 'ray'")
    if workers != 1 or address is not None:
        raise InputError("workers= and address= need engine='ray'")
    from transferkit.workflows.fit import fit as local_fit

    return local_fit(train, **options)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
