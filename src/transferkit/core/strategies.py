"""Strategies: what to train, and `choose_strategy` (auto), which says why in one sentence.

- probe: frozen body, cached features, a regularised logistic-regression head
  (Kornblith et al. 2019, "Do better ImageNet models transfer better?", linear eval).
- partial: lower k layer groups frozen, the rest trained with layer-wise decaying
  learning rates (discriminative fine-tuning, Howard & Ruder 2018, ULMFiT).
- full: everything trained.
- lora: low-rank adapters on attention projections (Hu et al. 2021) + head; text only.
- contrastive: SetFit-style pair tuning of the body, then a probe head (Tunstall et al. 2022).
- none: no training; a source head whose labels match the data's is used as it is (the
  first kind of transfer: same classes, new domain).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.errors import InputError

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "none", "probe", "partial", "full", "lora", "contrastive")

# Examples per second on a 2-core CPU for a 22.7M-parameter text body (minilm-l6,
# ~20-token sentences) and a 3.5M-parameter CNN at 224 px; scaled by parameter count.
# Examples (or, for contrastive, texts in pair batches) a second on this 2-core CPU, for
# minilm-l6; the text rates are fitted to benchmarks/bench_estimates.py (sst2, n = 16 and
# 200, quiet machine): see benchmarks/results/estimates_before.json and BENCHMARKS.md.
_TEXT_RATE = {"encode": 300.0, "full": 19.2, "partial": 30.0, "lora": 30.0, "contrastive": 17.0}
_IMAGE_RATE = {"encode": 35.0, "full": 12.0, "partial": 18.0, "lora": 12.0, "contrastive": 12.0}
_REF_PARAMS = {"text": 22.7e6, "image": 3.5e6}
_GRADIENT_SETUP_S = 5.0
# A regression with fewer rows than this gets a probe from `auto` (tuning a 22M body on
# a few dozen numbers overfits; there is no contrastive option without classes).
REGRESSION_PROBE_BELOW = 100


@dataclass(frozen=True)
class Plan:
    """A resolved strategy with its hyper-parameters and why (one sentence).

    `reason` says why with the time estimates in it; `rationale` is the same sentence
    without them (rank replaces fit's rough estimates with its measured ones).
    `chosen_by` is "user" (a strategy named by the caller), "auto" (this module's rule)
    or "rank" (set by fit when rank recommended it)."""

    strategy: str
    reason: str
    epochs: int
    lr: float
    batch_size: int
    estimated_seconds: float
    chosen_by: str = "user"
    rationale: str = ""


class Est(str):
    """A fragment of a reason that is a time estimate (left out of `Plan.rationale`)."""


def _say(*parts: str) -> tuple[str, str]:
    """(reason with estimates, reason without them) from fragments; `Est` ones are
    estimates."""
    return "".join(parts), "".join(p for p in parts if not isinstance(p, Est))


def n_params(backbone: Any) -> int:
    return sum(p.numel() for p in backbone.parameters())


def estimate_seconds(
    strategy: str, modality: str, n: int, epochs: int, params: int, top_layers: int = 3
) -> float:
    """Rough wall time of `strategy` on n examples (2-core CPU), for budgets and auto.
    top_layers: the encoder layers contrastive tuning trains (`contrastive_top_layers`)."""
    if strategy == "none":
        return 0.0
    rate = _TEXT_RATE if modality == "text" else _IMAGE_RATE
    scale = max(params, 1) / _REF_PARAMS[modality]
    enc = n / rate["encode"] * scale
    if strategy == "probe":
        return enc + 1.0
    if strategy == "contrastive":
        # top 3 of 6 layers: a step costs about a third of a full fine-tuning step; more
        # layers cost proportionally more (all 6: about two thirds)
        share = 3.0 * min(3, top_layers) / max(top_layers, 1)
        return contrastive_steps(n) * 32 / (share * rate["contrastive"]) * scale + enc + 1.0
    # + a fixed cost: building the optimiser, the first batches, a validation pass an epoch
    return n * epochs / rate[strategy] * scale + enc + _GRADIENT_SETUP_S


def contrastive_steps(n: int) -> int:
    """Body-tuning steps for SetFit-style pair training on n examples (class-balanced
    batches of up to 32 texts, every in-batch pair used: 32*31/2 = 496 pairs a step),
    through the top layers only (`contrastive_top_layers`: 3, or all from 5 classes with
    32+ examples each).

    n/2 steps, clamped to [8, 60]: 8 at 8/class x 2 classes (the whole set is one batch),
    20 at 8/class x 5, 60 at 64/class — far fewer, and cheaper, steps than SetFit's
    defaults take there. Accuracy and time against SetFit and the frozen probe:
    benchmarks/results/fit.md.
    """
    return int(min(60, max(8, round(n / 2))))


# Few-shot contrastive tuning: how many top encoder layers are tuned. Three by default;
# every layer for 5+ classes with 32+ examples each, where pairs are plentiful and the top
# three layers alone under-fit (sst5 at 64/class, tuning set: +2.5 ± 1.2 points, 4 of 5 paired
# samples; trec, held out, measured after the choice: benchmarks/results/fit.md). At
# 8/class the same change did not help sst5 and cost trec a point, and 2-class sets keep 3.
CONTRASTIVE_TOP_LAYERS = 3
CONTRASTIVE_ALL_LAYERS_FROM = (5, 32)  # (classes, examples in the smallest class)


def contrastive_top_layers(n_classes: int, per_class: int, n_layers: int) -> int:
    """Top encoder layers that few-shot contrastive tuning trains (`contrastive_tune`)."""
    classes, shots = CONTRASTIVE_ALL_LAYERS_FROM
    if n_classes >= classes and per_class >= shots:
        return n_layers
    return min(CONTRASTIVE_TOP_LAYERS, n_layers)


def default_hparams(strategy: str, modality: str, n: int) -> tuple[int, float, int]:
    """(epochs, lr, batch_size) defaults."""
    if modality == "image":
        return {"full": (5, 3e-4, 16), "partial": (5, 1e-3, 16)}.get(strategy, (5, 1e-3, 16))
    if strategy == "lora":
        return (3 if n > 2000 else 8), 1e-3, 32
    if strategy == "partial":
        return (3 if n > 2000 else 8), 1e-4, 32
    return (2 if n > 2000 else 8), 5e-5, 32


def _auto_image(
    n: int, per_class: int, budget: float | None, est: Any
) -> tuple[str, tuple[str, str]]:
    probe_s = est("probe", 1)
    e, _, _ = default_hparams("partial", "image", n)
    if per_class >= 50 and budget is not None and est("partial", e) <= budget:
        return "partial", _say(
            f"{per_class}+ images per class and a {budget:g} s budget that fits partial "
            "fine-tuning",
            Est(f" (about {est('partial', e):.0f} s)"),
            ", so the top layers are tuned",
        )
    return "probe", _say(
        "an ImageNet CNN's frozen features already separate most image classes; "
        f"a probe on {n} images takes about {probe_s:.0f} s"
        + ("" if budget is not None else " (give --budget for fine-tuning)")
    )


def _auto_text(
    counts: dict[str, int],
    budget: float | None,
    est: Any,
    kind: str = "single-label",
    n: int | None = None,
) -> tuple[str, tuple[str, str], int | None]:
    """(strategy, (reason, rationale), epochs override or None) for text data.

    Multi-label data is judged by its rarest label (rows carrying it); a regression never
    gets contrastive tuning (its pairs need classes): few rows get a probe."""
    n = sum(counts.values()) if n is None else n
    if kind == "regression":
        if n < REGRESSION_PROBE_BELOW:
            return (
                "probe",
                _say(
                    f"only {n} targets: too few to tune the body without overfitting, so a "
                    "ridge head on frozen features (contrastive pairs need classes, so not "
                    "for a regression)"
                ),
                None,
            )
        return _auto_text_large(n, budget, est, "targets")
    seen = [c for c in counts.values() if c > 0]
    per_class = min(seen) if seen else 0
    if per_class < 4:
        return (
            "probe",
            _say(
                f"only {per_class} example(s) in the smallest class: too few to tune the body "
                "without overfitting, so a regularised head on frozen features"
            ),
            None,
        )
    if per_class <= 150 and n <= 2000:
        c_est = est("contrastive", 1)
        if budget is not None and c_est > budget:
            return (
                "probe",
                _say(
                    f"few labels ({per_class} in the smallest class) but the {budget:g} s budget "
                    f"is below contrastive tuning's ~{c_est:.0f} s, so a frozen probe"
                ),
                None,
            )
        pairs = " (pairs share a label)" if kind == "multi-label" else ""
        return (
            "contrastive",
            _say(
                f"few labels ({per_class}-{max(counts.values())} per "
                f"{'label' if kind == 'multi-label' else 'class'}): SetFit-style contrastive "
                f"pairs{pairs} tune the body, then a head",
                Est(f" (~{c_est:.0f} s)"),
            ),
            None,
        )
    return _auto_text_large(n, budget, est, "labelled examples")


def _auto_text_large(
    n: int, budget: float | None, est: Any, what: str
) -> tuple[str, tuple[str, str], int | None]:
    """full fine-tuning when it fits the budget, else one LoRA epoch, else a probe."""
    e, _, _ = default_hparams("full", "text", n)
    full_s = est("full", e)
    if budget is None or full_s <= budget:
        within = f", within the {budget:g} s budget)" if budget else ")"
        return (
            "full",
            _say(
                f"{n} {what} are enough to fine-tune the whole body",
                Est(f" (about {full_s:.0f} s for {e} epochs{within}"),
            ),
            None,
        )
    if est("lora", 1) <= budget:
        return (
            "lora",
            _say(
                "full fine-tuning",
                Est(f" (~{full_s:.0f} s)"),
                f" exceeds the {budget:g} s budget; one LoRA epoch fits",
            ),
            1,
        )
    return (
        "probe",
        _say(
            f"the {budget:g} s budget is below any fine-tuning of {n} examples "
            f"(full ~{full_s:.0f} s), so a frozen probe",
            Est(f" (~{est('probe', 1):.0f} s)"),
        ),
        None,
    )


def _check_user_budget(
    strategy: str, budget: float, n: int, e: int, seconds: float, est: Any
) -> None:
    """A strategy the user named must fit within 3x the budget (estimates are rough)."""
    if seconds <= 3 * budget:
        return
    if strategy == "probe":
        fix = "Raise --budget (a probe encodes every example once)."
    else:
        fix = f"Raise --budget, lower --epochs, or use --strategy probe (about {est('probe', 1):.0f} s)."
    epochs_said = "" if strategy == "probe" else f" for {e} epoch(s)"
    raise InputError(
        f"budget={budget:g} s is too small for strategy {strategy!r} on {n} examples "
        f"(about {seconds:.0f} s{epochs_said}). {fix}"
    )


def choose_strategy(
    strategy: str,
    *,
    modality: str,
    counts: dict[str, int],
    budget: float | None,
    params: int,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    kind: str = "single-label",
    n: int | None = None,
) -> Plan:
    """Resolve `strategy` ("auto" or a name) into a Plan with a one-sentence reason.

    kind: the problem ("single-label", "multi-label", "regression"); n: the number of
    training rows (default: the sum of `counts`, which multi-label counts per label).
    Raises InputError when the budget is too small for the chosen strategy (named with
    its estimate), when LoRA is asked for an image model, and for contrastive tuning of
    a regression.
    """
    if strategy not in STRATEGIES:
        raise InputError(f"strategy={strategy!r}; choose one of {', '.join(STRATEGIES)}")
    n = sum(counts.values()) if n is None else int(n)
    if strategy == "contrastive" and kind == "regression":
        raise InputError(
            "strategy='contrastive' tunes the body on pairs of the same / different classes; "
            "a regression target has no classes to pair. Use --strategy probe, partial, full "
            "or lora (or auto)."
        )
    if strategy == "lora" and modality == "image":
        raise InputError(
            "strategy='lora' applies to transformer text models (attention projections); "
            "this base is a CNN. Use strategy='partial' or 'full' for images."
        )

    seen = [c for c in counts.values() if c > 0]
    top = contrastive_top_layers(len(seen), min(seen) if seen else 0, 6)  # MiniLM's depth
    if kind != "single-label":
        top = CONTRASTIVE_TOP_LAYERS

    def est(s: str, e: int) -> float:
        return estimate_seconds(s, modality, n, e, params, top_layers=top)

    chosen_by = "user"
    if strategy == "auto":
        probe_s = est("probe", 1)
        if budget is not None and budget < probe_s:
            raise InputError(
                f"budget={budget:g} s is too small: even a frozen probe on {n} examples needs "
                f"about {probe_s:.0f} s here. Raise --budget to {probe_s * 1.5:.0f} or more."
            )
        chosen_by = "auto"
        if modality == "image":
            strategy, (reason, rationale) = _auto_image(n, min(counts.values()), budget, est)
        else:
            strategy, (reason, rationale), e_auto = _auto_text(counts, budget, est, kind, n)
            epochs = epochs or e_auto
    else:
        reason = rationale = f"strategy {strategy!r} chosen by the user"
    e0, lr0, bs0 = default_hparams(strategy, modality, n)
    e = int(epochs or e0)
    seconds = est(strategy, e)
    if budget is not None and chosen_by == "user":
        _check_user_budget(strategy, budget, n, e, seconds, est)
    return Plan(
        strategy, reason, e, float(lr or lr0), int(batch_size or bs0), seconds, chosen_by, rationale
    )


# ---------------------------------------------------------------- probe head


def fit_logistic(
    features: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    seed: int = 0,
    class_weight: str | None = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """L2-regularised logistic regression with C chosen by stratified k-fold CV on train
    (`class_weight="balanced"`: scikit-learn's n / (k · n_c) example weights).

    Returns (weight (n_classes, d), bias (n_classes,), C) for a Linear head whose softmax
    equals the model's probabilities: binary sigmoid(z) = softmax(-z/2, z/2).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    per_class = int(np.bincount(y, minlength=n_classes).min())
    grid = (0.01, 0.1, 1.0, 10.0) if len(y) <= 5000 else (0.1, 1.0, 10.0)
    best_c = 1.0
    if per_class >= 2:
        k = min(5, per_class)
        cv = StratifiedKFold(k, shuffle=True, random_state=seed)
        scores = []
        for c in grid:
            lr = LogisticRegression(C=c, max_iter=2000, class_weight=class_weight)
            scores.append(cross_val_score(lr, features, y, cv=cv).mean())
        best_c = grid[int(np.argmax(scores))]
    lr = LogisticRegression(C=best_c, max_iter=3000, class_weight=class_weight)
    lr = lr.fit(features, y)
    coef, icpt = lr.coef_.astype(np.float32), lr.intercept_.astype(np.float32)
    if n_classes == 2:
        coef = np.stack([-coef[0] / 2, coef[0] / 2])
        icpt = np.array([-icpt[0] / 2, icpt[0] / 2], dtype=np.float32)
    return coef, icpt, float(best_c)


# ---------------------------------------------------------------- gradient strategies


def param_groups(
    clf: Any,
    strategy: str,
    lr: float,
    *,
    freeze_groups: int | None = None,
    decay: float = 0.8,
    lora_targets: str | list[str] = "qv",
    lora_rank: int = 8,
    head_lr_scale: float | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """Parameter groups (each {"params", "lr"}) for partial/full/lora, and a note.

    partial: the lower `freeze_groups` (default half) layer groups frozen; the group i
    layers below the top gets lr * decay**i. The new head gets 10x the body's lr (it starts
    from scratch); with LoRA the adapters and head share `lr`. `head_lr_scale` replaces
    that multiple (a head that starts from a fitted probe). LoRA wraps the HF text model
    with peft adapters.
    """
    backbone = clf.backbone
    if head_lr_scale is None:
        head_lr_scale = 10.0 if strategy != "lora" else 1.0
    head_lr = lr * head_lr_scale
    if strategy == "lora":
        _add_lora(backbone, lora_targets, lora_rank)
        lora = [p for n, p in backbone.named_parameters() if p.requires_grad]
        groups = [
            {"params": lora, "lr": lr},
            {"params": list(clf.head.parameters()), "lr": head_lr},
        ]
        return (
            groups,
            f"LoRA rank {lora_rank} on {lora_targets} ({sum(p.numel() for p in lora)} params)",
        )
    layers = backbone.layer_groups()
    if strategy == "full":
        backbone.freeze(0)
        k = 0
    else:
        k = len(layers) // 2 if freeze_groups is None else int(freeze_groups)
        backbone.freeze(k)
    groups: list[dict[str, Any]] = []
    top = len(layers) - 1
    for i, layer in enumerate(layers):
        ps = [p for p in layer.parameters() if p.requires_grad]
        if ps:
            rate = lr * (decay ** (top - i)) if strategy == "partial" else lr
            groups.append({"params": ps, "lr": rate})
    covered = {id(p) for layer in layers for p in layer.parameters()}
    rest = [p for p in backbone.parameters() if id(p) not in covered and p.requires_grad]
    if rest:
        groups.append({"params": rest, "lr": lr})
    groups.append({"params": list(clf.head.parameters()), "lr": head_lr})
    note = (
        f"lower {k} of {len(layers)} layer groups frozen, layer-wise lr decay {decay}"
        if strategy == "partial"
        else "all layers trained"
    )
    return groups, note


def _add_lora(backbone: Any, targets: str | list[str], rank: int) -> None:
    from transferkit.errors import require_extra

    require_extra("peft", "lora")
    from peft import LoraConfig, get_peft_model

    model = backbone.model
    if hasattr(model, "peft_config"):  # the base already carries an adapter: train it on
        for n, p in model.named_parameters():
            p.requires_grad = "lora_" in n
        return
    if targets == "qv":
        target_modules: Any = ["query", "value"]
    elif targets == "all":
        target_modules = ["query", "key", "value", "dense"]
    else:
        target_modules = list(targets)
    cfg = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=target_modules)
    backbone.model = get_peft_model(model, cfg)
