"""What training minimises and what validation maximises, from the problem's kind.

- single-label: cross-entropy (class weights n / (k · n_c) with ``class_weight="balanced"``,
  scikit-learn's rule); validation accuracy.
- multi-label: BCE-with-logits per label; ``class_weight="balanced"`` sets each label's
  ``pos_weight`` to n_negative / n_positive (capped at POS_WEIGHT_CAP), so a rare label's
  positives weigh as much as its negatives; validation micro-F1 at probability 0.5 (the
  per-label thresholds are tuned after training).
- regression: MSE (or Huber, δ = 1) on the standardised target — the model's one output
  is (target − mean) / std, so one learning rate fits any target scale; validation −MAE
  in standardised units (higher is better, like the others).

>>> import numpy as np
>>> o = objective_for("multi-label", np.array([[1, 0], [1, 1], [0, 0], [1, 0]], "f4"),
...                   class_weight="balanced")
>>> o.metric, o.pos_weight.tolist()
('val_micro_f1', [0.3333333432674408, 3.0])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from transferkit.errors import InputError

POS_WEIGHT_CAP = 50.0  # a label seen once in 3,000 rows would otherwise weigh 3,000x
CLASS_WEIGHTS = (None, "balanced")
REGRESSION_LOSSES = ("mse", "huber")


@dataclass(frozen=True)
class Objective:
    """A loss over (logits, targets) and a validation score over numpy (logits, targets).

    metric: the history's name for the score ("val_accuracy", "val_micro_f1",
    "val_neg_mae"); higher is always better.
    """

    kind: str
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    metric: str
    score: Callable[[np.ndarray, np.ndarray], float]
    class_weight: np.ndarray | None = None  # single-label, per class
    pos_weight: np.ndarray | None = None  # multi-label, per label

    def targets(self, y: np.ndarray) -> torch.Tensor:
        """The tensor the loss compares logits with: class indices, or float targets."""
        t = torch.as_tensor(y)
        return t.long() if self.kind == "single-label" else t.float()


def check_class_weight(class_weight: str | None, kind: str) -> None:
    if class_weight not in CLASS_WEIGHTS:
        raise InputError(
            f"class_weight={class_weight!r}; use None (every example counts the same) or "
            "'balanced' (--class-weight balanced: rare classes/labels weigh more)"
        )
    if class_weight is not None and kind == "regression":
        raise InputError(
            "class_weight='balanced' weighs classes or labels; a regression target has none. "
            "Leave --class-weight out for regression."
        )


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's "balanced" weights n / (k · n_c); 0 for a class with no example."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return w.astype(np.float32)


def balanced_pos_weights(y: np.ndarray) -> np.ndarray:
    """Per label n_negative / n_positive, capped at POS_WEIGHT_CAP (1 for a label never seen)."""
    pos = y.sum(0).astype(np.float64)
    neg = len(y) - pos
    w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    return np.clip(w, 1.0 / POS_WEIGHT_CAP, POS_WEIGHT_CAP).astype(np.float32)


def _accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(1) == y).mean())


def _micro_f1(logits: np.ndarray, y: np.ndarray) -> float:
    pred = logits >= 0.0  # sigmoid(z) >= 0.5
    tp = float((pred & (y > 0.5)).sum())
    denom = float(pred.sum() + (y > 0.5).sum())
    return 2 * tp / denom if denom else 0.0


def _neg_mae(logits: np.ndarray, y: np.ndarray) -> float:
    return -float(np.abs(logits.reshape(len(y), -1)[:, 0] - y).mean())


def objective_for(
    kind: str,
    y: np.ndarray,
    *,
    n_classes: int | None = None,
    class_weight: str | None = None,
    regression_loss: str = "mse",
    device: Any = None,
) -> Objective:
    """The Objective for training targets `y` of `kind` (see the module docstring); `y`:
    class indices (n,), a 0/1 matrix (n, labels), or the standardised target (n,)."""
    check_class_weight(class_weight, kind)
    if kind == "regression":
        if regression_loss not in REGRESSION_LOSSES:
            raise InputError(f"regression_loss={regression_loss!r}; use 'mse' or 'huber'")
        base = torch.nn.MSELoss() if regression_loss == "mse" else torch.nn.HuberLoss(delta=1.0)

        def reg_loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return base(out[:, 0].float(), t)  # out: (batch, 1)

        return Objective(kind, reg_loss, "val_neg_mae", _neg_mae)
    if kind == "multi-label":
        pw = balanced_pos_weights(y) if class_weight == "balanced" else None
        bce = torch.nn.BCEWithLogitsLoss(
            pos_weight=None if pw is None else torch.as_tensor(pw, device=device)
        )

        def ml_loss(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            return bce(out.float(), t)

        return Objective(kind, ml_loss, "val_micro_f1", _micro_f1, pos_weight=pw)
    k = int(n_classes if n_classes is not None else int(y.max()) + 1)
    cw = balanced_class_weights(y, k) if class_weight == "balanced" else None
    ce = torch.nn.CrossEntropyLoss(
        weight=None if cw is None else torch.as_tensor(cw, device=device)
    )
    return Objective(kind, lambda out, t: ce(out.float(), t), "val_accuracy", _accuracy, cw)
