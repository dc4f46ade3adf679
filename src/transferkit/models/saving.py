"""Save a `Classifier` as a transferkit folder and load it back.

Only what differs from the base is written: the head always; the body when it was
trained (`body="full"`, or a list of parameter names for partial fine-tuning); a LoRA
adapter when the backbone carries one (peft). The base itself is referenced by its spec
(zoo name, folder or hub id) and rebuilt on load.

>>> # save_classifier(clf, "out/model", meta={"strategy": "probe"})
>>> # clf2 = load_classifier("out/model")
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from transferkit.errors import ModelNotFoundError
from transferkit.models.classifier import Classifier
from transferkit.models.io import (
    head_config,
    load_state_strict,
    read_folder,
    resolve_in,
    save_folder,
)
from transferkit.models.problems import Problem


def _peft_model(clf: Classifier) -> Any | None:
    model = getattr(clf.backbone, "model", None)
    return model if model is not None and hasattr(model, "peft_config") else None


def save_classifier(
    clf: Classifier,
    target: str | os.PathLike[str],
    *,
    body: str | Iterable[str] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """Write `clf` to folder `target` atomically.

    body: None (head only; the body is the base's), "full" (all backbone tensors), or an
    iterable of backbone state-dict keys (e.g. the unfrozen layers of partial fine-tuning).
    """
    tensors: dict[str, torch.Tensor] = {f"head.{k}": v for k, v in clf.head.state_dict().items()}
    config: dict[str, Any] = {
        "task": clf.task,
        "modality": clf.modality,
        "base": clf.backbone.spec,
        "labels": clf.labels,
        "problem": clf.problem.to_config(),
        "head": head_config(clf.head),
        "embedding_dim": clf.backbone.embedding_dim,
    }
    peft_model = _peft_model(clf)
    if peft_model is not None:
        from peft import get_peft_model_state_dict

        lora = get_peft_model_state_dict(peft_model)
        tensors.update({f"lora.{k}": v for k, v in lora.items()})
        cfg = peft_model.peft_config["default"].to_dict()
        # peft records where the base was loaded from (an absolute site-packages path on
        # this machine); the base is already in config["base"], by name.
        cfg.pop("base_model_name_or_path", None)
        config["lora"] = {k: (sorted(v) if isinstance(v, set) else v) for k, v in cfg.items()}
    if body is not None:
        state = clf.backbone.state_dict()
        keys = list(state) if body == "full" else list(body)
        if peft_model is not None:
            raise ValueError("save either a LoRA adapter or body weights, not both")
        tensors.update({f"backbone.{k}": state[k] for k in keys})
        config["body"] = "full" if body == "full" else "partial"
    bb: Any = clf.backbone
    if hasattr(bb, "max_length"):
        config.setdefault("preprocessing", {"max_length": bb.max_length})
    elif hasattr(bb, "transform"):
        config.setdefault("preprocessing", bb.transform.to_dict())
    config.update(meta or {})
    return save_folder(target, config, tensors)


def _apply_lora(backbone: Any, lora_cfg: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    known = set(LoraConfig.__dataclass_fields__) - {"peft_type", "base_model_name_or_path"}
    cfg = LoraConfig(**{k: v for k, v in lora_cfg.items() if k in known})
    backbone.model = get_peft_model(backbone.model, cfg)
    result = set_peft_model_state_dict(backbone.model, tensors)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ModelNotFoundError(f"LoRA adapter has tensors the model lacks: {unexpected[:5]}")


def load_classifier(path: str | os.PathLike[str]) -> Classifier:
    """Rebuild a Classifier from a transferkit folder (base + saved tensors), in eval mode."""
    from transferkit.models.factory import load_backbone

    config, tensors = read_folder(path)
    backbone: Any = load_backbone(resolve_in(config["base"], path))
    if hasattr(backbone, "max_length") and "max_length" in config.get("preprocessing", {}):
        backbone.max_length = int(config["preprocessing"]["max_length"])
    groups: dict[str, dict[str, torch.Tensor]] = {"head": {}, "backbone": {}, "lora": {}}
    for key, value in tensors.items():
        prefix, _, rest = key.partition(".")
        if prefix not in groups:
            raise ModelNotFoundError(f"{path}: unexpected tensor {key!r} in the weights file")
        groups[prefix][rest] = value
    if config.get("lora"):
        _apply_lora(backbone, config["lora"], groups["lora"])
    if groups["backbone"]:
        load_state_strict(backbone, groups["backbone"], f"{path} (body)")
    if config.get("lora") or groups["backbone"]:
        # the body is no longer its base's: a classifier later built on it (a new head)
        # must not share the base's cached features (`core.cache.model_identity`)
        backbone.tuned_identity = [config.get("created"), config.get("tensors")]
    head_cfg = config.get("head", {})
    clf = Classifier(
        backbone,
        config["labels"],
        dropout=float(head_cfg.get("dropout", 0.0)),
        problem=Problem.from_config(config),  # absent (older folders): single-label
    )
    if not groups["head"]:
        raise ModelNotFoundError(f"{path}: the weights file has no head; the folder is damaged")
    missing = set(clf.head.state_dict()) - set(groups["head"])
    if missing:
        raise ModelNotFoundError(f"{path}: head tensors {sorted(missing)} are missing")
    load_state_strict(clf.head, groups["head"], f"{path} (head)")
    clf.config = config  # how the model was made, for cards and reports
    return clf.eval()
