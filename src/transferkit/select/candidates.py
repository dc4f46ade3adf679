"""Candidate starting models for ranking, and their features at several cut points.

A candidate is a model reference (zoo name, local folder, hub id, or an external
features-only encoder such as ``multilingual-e5-small``) and a *cut*: the number of
bottom layer groups kept (``Backbone.layer_groups()``, bottom → top). ``cut=None`` is
the whole backbone with its own pooling. Adapting a model can mean removing its top
layers, and intermediate layers often transfer better to a distant task.

- text: cut k keeps the embeddings and encoder layers 1..k-1; its features are the
  hidden states after layer k-1, mean-pooled over real tokens (as the full model is).
- images: cut k keeps the stem and stages 1..k-1; its features are the output of that
  stage, global-average-pooled over H, W.

One encoding pass gives every cut of a model at once (forward hooks on the groups),
and the source head's class probabilities where the model has one (LEEP, NCE).

>>> parse_candidate("minilm-l6@4")
('minilm-l6', 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit.errors import InputError

__all__ = [
    "LoadedModel",
    "candidate_ref",
    "default_cuts",
    "describe_cut",
    "encode_all_cuts",
    "load_candidate",
    "parse_candidate",
]


def parse_candidate(text: str) -> tuple[str, int | None]:
    """``"name@k"`` → ``(name, k)``; ``"name"`` → ``(name, None)`` (cuts chosen later).
    The same syntax `fit` takes as a base (`transferkit.models.factory.split_cut`)."""
    from transferkit.models.factory import split_cut

    ref, cut = split_cut(text)
    if cut is not None and cut < 1:
        raise InputError(
            f"cut in {text!r} must be >= 1 (layer groups kept), got {cut}; pass "
            f"'{ref}@k' with k >= 1, or {ref!r} for the whole model"
        )
    return ref, cut


def candidate_ref(model: str, cut: int | None) -> str:
    """The inverse of `parse_candidate`: ``("minilm-l6", 4)`` → ``"minilm-l6@4"``."""
    return model if cut is None else f"{model}@{cut}"


def default_cuts(n_groups: int) -> list[int]:
    """Two intermediate cut points at ~60% and ~80% of the depth (e.g. 7 groups → [4, 6],
    9 groups → [5, 7]): deep enough to be semantic, shallow enough to differ from the top."""
    cuts = {round(n_groups * 0.6), round(n_groups * 0.8)}
    return sorted(c for c in cuts if 2 <= c < n_groups)


@dataclass
class LoadedModel:
    """One loaded candidate model; all its cut points share one encoding pass."""

    ref: str
    modality: str
    encoder: Any  # a transferkit Backbone, or an ExternalEncoder (features only)
    head: Any = None  # source classification head on the full features, or None
    features_only: bool = False
    labels: list[str] | None = None  # the source head's labels (None without a head)
    built_on: str | None = None  # a zoo classifier's zoo body ("minilm-l6"), else None
    source: Any = None  # the loaded classifier (its config says how its body was tuned)

    @property
    def body_tuned(self) -> bool:
        """True when a zoo classifier's body differs from its base's (a LoRA adapter or
        tuned body weights ship with it): its body is then a candidate of its own."""
        config = getattr(self.source, "config", None) or {}
        return bool(config.get("lora") or config.get("body"))

    @property
    def n_groups(self) -> int:
        return 0 if self.features_only else len(self.encoder.layer_groups())

    @property
    def embedding_dim(self) -> int:
        return int(self.encoder.embedding_dim)


def describe_cut(model: LoadedModel, cut: int | None) -> str:
    """Human words for a cut point: 'full', 'encoder layer 3 of 6', 'stage 4 of 7'."""
    if cut is None:
        return "full"
    n = model.n_groups
    if model.modality == "text":
        return f"encoder layer {cut - 1} of {n - 1}" if cut > 1 else "embeddings only"
    return f"stage {cut - 1} of {n - 2}" if cut > 1 else "stem only"


def load_candidate(ref: str, modality: str) -> LoadedModel:
    """Load `ref` as a candidate of `modality`; raises (with the reason) if it cannot.

    Image zoo models come with their ImageNet head (for LEEP/NCE); text models are
    loaded as feature extractors (a text zoo classifier keeps its head).
    """
    from transferkit.select.external import is_external, load_external

    if is_external(ref):
        enc = load_external(ref)
        if enc.modality != modality:
            raise InputError(f"{ref!r} is a {enc.modality} model but the data is {modality}")
        return LoadedModel(ref, enc.modality, enc, None, features_only=True)

    from transferkit.models.factory import load_backbone, load_model, resolve
    from transferkit.zoo.registry import get_card

    spec = resolve(ref)
    head = labels = built_on = clf = None
    if spec["kind"] == "zoo" and get_card(spec["name"]).source_head:
        clf = load_model(spec)
        backbone, head = clf.backbone, clf.head  # type: ignore[union-attr]
        labels = [str(lab) for lab in clf.labels]  # type: ignore[union-attr]
        built_on = get_card(spec["name"]).base
    else:
        backbone = load_backbone(spec)
    if backbone.modality != modality:
        raise InputError(
            f"{ref!r} is a {backbone.modality} model but the data is {modality}; "
            f"pass {modality} candidates"
        )
    backbone.eval()
    if head is not None:
        head.eval()
    return LoadedModel(
        ref, backbone.modality, backbone, head, labels=labels, built_on=built_on, source=clf
    )


# ----------------------------------------------------------------------- cut features


class _EarlyExit(Exception):
    """Raised by a hook to stop the forward pass once the deepest needed group has run."""


def _hook_target(group: Any) -> Any:
    """The module whose output is the group's output. A Sequential/ModuleList slice is not
    called itself (its parent iterates the children), so hook its last child instead."""
    from torch import nn

    target = group
    while isinstance(target, nn.Sequential | nn.ModuleList) and len(target) > 0:
        target = target[-1]
    return target


def _pool(out: Any, batch: dict[str, Any]) -> Any:
    """Group output → (B, D) features: masked token mean for text, spatial mean for images."""

    x = out[0] if isinstance(out, tuple) else out
    if x.dim() == 4:  # (B, C, H, W)
        return x.mean(dim=(2, 3))
    if x.dim() == 3:  # (B, T, H), mean over real tokens as the full model pools
        mask = batch["attention_mask"].unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        return (x * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    if x.dim() == 2:
        return x
    raise InputError(f"cannot pool a layer output of shape {tuple(x.shape)}")  # pragma: no cover


def forward_cuts(
    model: LoadedModel, batch: dict[str, Any], cuts: Sequence[int | None], *, stop_early: bool
) -> dict[int | None, Any]:
    """One forward pass of `batch` → {cut: (B, D) float tensor} for every requested cut.

    With ``stop_early`` and no ``None`` in `cuts`, the pass stops after the deepest
    group needed (so timing a cut measures the truncated model).
    """
    import torch

    from transferkit.core.devices import current_device, move_model, to_device

    device = current_device()  # rank's `device=`; outputs come back to the CPU
    move_model(model.encoder, device)
    batch = to_device(batch, device)
    groups = model.encoder.layer_groups()
    wanted = sorted({c for c in cuts if c is not None})
    for c in wanted:
        if not 1 <= c < len(groups):
            raise InputError(
                f"cut {c} is out of range for {model.ref!r}: it has {len(groups)} layer groups; "
                f"a cut keeps 1..{len(groups) - 1} of them (or use the full model)"
            )
    found: dict[int | None, Any] = {}
    deepest = wanted[-1] if wanted and None not in cuts and stop_early else None
    handles = []

    def make_hook(c: int):  # noqa: ANN202 - torch hook signature
        def hook(_module: Any, _inputs: Any, out: Any) -> None:
            found[c] = _pool(out, batch).float()
            if deepest is not None and c == deepest:
                raise _EarlyExit

        return hook

    for c in wanted:
        handles.append(_hook_target(groups[c - 1]).register_forward_hook(make_hook(c)))
    try:
        with torch.inference_mode():
            try:
                full = model.encoder(batch)  # (B, embedding_dim)
                if None in cuts:
                    found[None] = full.float()
            except _EarlyExit:
                pass
    finally:
        for h in handles:
            h.remove()
    return {c: v.cpu() for c, v in found.items()}


def heap_reader() -> Any:
    """A function returning the C heap bytes in use (glibc ``mallinfo2``: in-use arena
    blocks + mmapped blocks, where torch's CPU tensors live), or None without glibc."""
    import ctypes

    class _MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks "
            "fordblks keepcost".split()
        ]

    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2

    def in_use() -> int:
        info = fn()
        return int(info.uordblks + info.hblkhd)

    return in_use


class _Probe:
    """Timing and memory hooks laid on one model for the encoding pass (no extra passes).

    Time: after each kept group's output, the seconds since the batch's forward began are
    added to that cut's total, so cut k's forward time is read off the same pass that
    computes its features. Memory (first batch only, the longest texts when text is
    length-sorted): the C heap is sampled after every leaf module; the running peak
    when group k's output appears is cut k's activation peak. Sampling at module
    boundaries misses temporaries inside one op, so it is a close lower bound.
    """

    def __init__(self, model: LoadedModel, cuts: Sequence[int | None]) -> None:
        self.cuts = sorted({c for c in cuts if c is not None})
        self.forward_s: dict[int | None, float] = {c: 0.0 for c in [*self.cuts, None]}
        self.preprocess_s = 0.0
        self.act_bytes: dict[int | None, int] | None = None
        self._t0 = 0.0
        self._in_use = None if model.features_only else heap_reader()
        self._base = 0
        self._peak = 0
        self._sampling = False
        self._handles: list[Any] = []
        if model.features_only:
            return
        groups = model.encoder.layer_groups()
        for c in self.cuts:
            if 1 <= c < len(groups):
                self._handles.append(
                    _hook_target(groups[c - 1]).register_forward_hook(self._cut_hook(c))
                )

    def _cut_hook(self, c: int):  # noqa: ANN202 - torch hook signature
        def hook(*_: Any) -> None:
            import time

            self.forward_s[c] += time.perf_counter() - self._t0
            if self._sampling and self.act_bytes is not None:
                self._sample()
                self.act_bytes[c] = self._peak

        return hook

    def _sample(self, *_: Any) -> None:
        assert self._in_use is not None
        self._peak = max(self._peak, self._in_use() - self._base)

    def forward(self, model: LoadedModel, batch: Any, need: list[int | None]) -> dict:
        """forward_cuts(model, batch, need), timed; the first call also samples memory."""
        import time

        leaf_handles = []
        if self._in_use is not None and self.act_bytes is None:
            self.act_bytes = {}
            self._sampling = True
            leaves = [m for m in model.encoder.modules() if not any(True for _ in m.children())]
            leaf_handles = [m.register_forward_hook(self._sample) for m in leaves]
            self._base, self._peak = self._in_use(), 0
        self._t0 = time.perf_counter()
        try:
            out = forward_cuts(model, batch, need, stop_early=False)
        finally:
            for h in leaf_handles:
                h.remove()
        self.forward_s[None] += time.perf_counter() - self._t0
        if self._sampling:
            self._sample()
            self.act_bytes[None] = self._peak  # type: ignore[index]
            self._sampling = False
        return out

    def close(self) -> None:
        for h in self._handles:
            h.remove()

    def result(self, n: int) -> dict[str, Any]:
        return {
            "n": n,
            "preprocess_s": self.preprocess_s,
            "forward_s": {("full" if c is None else str(c)): v for c, v in self.forward_s.items()},
            "activation_bytes": None
            if self.act_bytes is None
            else {("full" if c is None else str(c)): v for c, v in self.act_bytes.items()},
        }


def encode_all_cuts(
    model: LoadedModel,
    inputs: Sequence[Any],
    cuts: Sequence[int | None],
    *,
    batch_size: int = 32,
    progress: bool = False,
    stats: dict[str, Any] | None = None,
) -> tuple[dict[int | None, np.ndarray], np.ndarray | None]:
    """Encode `inputs` once → ``({cut: (N, D_cut) float32}, source probs (N, Z) or None)``.

    Text is processed longest first (less padding) and returned in input order.
    With a `stats` dict, the same pass also records what the candidate costs (no extra
    forward passes): ``n``, ``preprocess_s`` (tokenising / image decoding),
    ``forward_s`` (``{"full" | "<cut>": seconds}``: a cut's time is how long the
    forward pass took to reach that cut's output, summed over batches) and
    ``activation_bytes`` (same keys; peak activation heap on the first batch, None
    where not measurable). See :class:`_Probe`.
    """
    import time

    import torch

    from transferkit.core.inference import run_batched

    probe = _Probe(model, cuts)
    name = {c: f"cut:{c}" for c in cuts}  # output keys of one batch

    def run(items: list[Any]) -> dict[str, np.ndarray]:
        if model.features_only:
            t0 = time.perf_counter()
            feats = model.encoder.encode(items)
            probe.forward_s[None] += time.perf_counter() - t0
            return {name[None]: feats}
        t0 = time.perf_counter()
        batch = model.encoder.preprocess(items)
        probe.preprocess_s += time.perf_counter() - t0
        need = list(cuts) if model.head is None or None in cuts else [*cuts, None]
        out = probe.forward(model, batch, need)
        got = {name[c]: out[c].numpy() for c in cuts}
        if model.head is not None:
            with torch.inference_mode():
                logits = model.head(out[None])  # (B, Z)
            got["probs"] = torch.softmax(logits.double(), dim=-1).numpy()
        return got

    # text longest first (less padding); images keep their order
    key = None if model.modality == "text" else (lambda item: 0)
    try:
        outs = run_batched(
            run,
            list(inputs),
            batch_size=batch_size,
            key=key,
            progress=progress,
            description=f"encoding with {model.ref}",
        )
    finally:
        probe.close()
    if stats is not None:
        stats.update(probe.result(len(inputs)))
    assert isinstance(outs, dict)
    return {c: outs[name[c]] for c in cuts}, outs.get("probs")
