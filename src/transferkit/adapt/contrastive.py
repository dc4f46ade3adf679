"""SetFit-style contrastive tuning of a body from few labels (Tunstall et al. 2022,
"Efficient Few-Shot Learning Without Prompts").

SetFit materialises sentence pairs (same class → similarity 1, different → 0) and trains
the body with a cosine-similarity loss, one pair at a time in batches of 16 pairs (32
encodings for 16 pairs). Here the pairs are sampled *inside* each batch: a class-balanced
batch of b examples is encoded once and all b(b-1)/2 pairs between them enter the loss,
positives and negatives weighted equally. With b = 32 that is 496 pairs for 32 encodings
instead of 16, so the same number of pair signals costs ~30x fewer forward passes; no
pair list is ever built. The head is then fitted on the tuned features (`fit_logistic`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def balanced_batches(y: np.ndarray, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """`steps` batches of about `batch_size` indices, each with an equal share of every
    class (at least 2 per class when the class has them, so positive pairs exist)."""
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    per = max(2, batch_size // len(classes))
    pools = {c: np.flatnonzero(y == c) for c in classes}
    queues: dict[Any, list[int]] = {c: [] for c in classes}
    out: list[list[int]] = []
    for _ in range(steps):
        batch: list[int] = []
        for c in classes:
            take = min(per, len(pools[c]))
            while len(queues[c]) < take:  # cycle through a class in shuffled passes
                queues[c].extend(rng.permutation(pools[c]).tolist())
            batch += queues[c][:take]
            queues[c] = queues[c][take:]
        out.append(batch)
    return out


def pair_loss(emb: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cosine-similarity loss over all in-batch pairs: mean (cos - same)^2, positive and
    negative pairs weighted equally. emb: (b, d); y: (b,)."""
    z = F.normalize(emb, dim=-1)
    cos = z @ z.T  # (b, b)
    same = (y[:, None] == y[None, :]).float()
    iu = torch.triu_indices(len(y), len(y), offset=1)
    c, s = cos[iu[0], iu[1]], same[iu[0], iu[1]]  # (b(b-1)/2,)
    err = (c - s) ** 2
    pos, neg = s > 0, s == 0
    terms = [err[m].mean() for m in (pos, neg) if m.any()]
    return torch.stack(terms).mean()


def contrastive_tune(
    backbone: Any,
    items: list[Any],
    y: np.ndarray,
    *,
    steps: int,
    lr: float = 2e-5,
    batch_size: int = 32,
    seed: int = 0,
    time_limit: float | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Tune `backbone` in place with in-batch contrastive pairs; returns loop info."""
    from transferkit.adapt.loop import LoopConfig, ProgressCallback, TimeLimit, run_loop

    backbone.freeze(0)
    plan_batches = balanced_batches(y, steps, batch_size, seed)
    yt = torch.as_tensor(y)

    def step_loss(idx: list[int]) -> torch.Tensor:
        batch = backbone.preprocess([items[i] for i in idx])
        return pair_loss(backbone(batch), yt[idx])

    callbacks: list[Any] = [ProgressCallback(progress)]
    if time_limit:
        callbacks.append(TimeLimit(time_limit))
    groups = [{"params": [p for p in backbone.parameters() if p.requires_grad], "lr": lr}]
    state = run_loop(
        backbone,
        lambda epoch: plan_batches,
        step_loss,
        groups,
        LoopConfig(epochs=1, warmup=0.1, weight_decay=0.01, seed=seed),
        callbacks=callbacks,
    )
    pairs = sum(len(b) * (len(b) - 1) // 2 for b in plan_batches[: state.step])
    return {"steps": state.step, "pairs": pairs, "loss": state.loss, "stop": state.stop_reason}
