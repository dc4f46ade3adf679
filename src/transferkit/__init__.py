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
    "fit": "transferkit.workflows.fit",
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
    from transferkit.workflows.fit import fit
    from transferkit.zoo.registry import get_card, list_models


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'transferkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
