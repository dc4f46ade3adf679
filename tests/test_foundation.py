"""Unit tests of the foundation on tiny models built in the session (fast, offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import transferkit
from transferkit.errors import FileMissingError, InputError, ModelNotFoundError
from transferkit.models.classifier import Classifier, HFTextClassifier
from transferkit.models.factory import load_backbone, load_model, resolve
from transferkit.models.io import atomic_write_dir
from transferkit.models.saving import load_classifier, save_classifier
from transferkit.zoo.registry import get_card, list_models


def test_import_is_cheap_and_quiet() -> None:
    code = (
        "import sys, logging, transferkit; "
        "heavy = [m for m in ('torch', 'transformers', 'sklearn', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy; assert not logging.getLogger().handlers; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
    assert sorted(transferkit.__all__) == dir(transferkit)


def test_registry_cards() -> None:
    names = [c.name for c in list_models()]
    for required in ("minilm-l6", "mobilenet-v2", "efficientnet-lite0"):
        assert required in names
    card = get_card("mobilenet-v2").to_dict()
    for key in (
        "modality",
        "params",
        "embedding_dim",
        "licence",
        "preprocessing",
        "source_head",
        "installed",
    ):
        assert key in card
    assert card["head_labels"] == 1000 and card["modality"] == "image"
    assert all(c.modality == "text" for c in list_models("text"))
    with pytest.raises(ModelNotFoundError, match="Did you mean 'minilm-l6'"):
        get_card("minilm-l7")


def test_resolve_kinds(tiny_bert: Path, tmp_path: Path) -> None:
    assert resolve("sentiment-analysis") == {"kind": "zoo", "name": "minilm-l6-sst2"}
    assert resolve("mobilenet-v2") == {"kind": "zoo", "name": "mobilenet-v2"}
    assert resolve(tiny_bert)["kind"] == "hf"
    assert resolve("someorg/some-model") == {"kind": "hub", "id": "someorg/some-model"}
    with pytest.raises(FileMissingError):
        resolve("./no/such/folder")
    with pytest.raises(ModelNotFoundError, match="neither transferkit.json nor config.json"):
        resolve(tmp_path)
    with pytest.raises(InputError):
        resolve("")


def test_unreachable_hub_id_names_installed_models() -> None:
    with pytest.raises(ModelNotFoundError) as err:
        load_model("someorg/not-downloadable-model")
    msg = str(err.value)
    assert "someorg/not-downloadable-model" in msg and "minilm-l6" in msg and "mobilenet-v2" in msg


def test_feature_extraction_shapes_and_bad_inputs(tiny_bert: Path) -> None:
    fx = transferkit.pipeline("feature-extraction", model=str(tiny_bert))
    one = fx("hello world")
    assert isinstance(one, np.ndarray) and one.shape == (32,)
    assert np.isclose(np.linalg.norm(one), 1.0, atol=1e-5)
    many = fx(["hello world", "a much longer sentence than the first one", "x"])
    assert isinstance(many, list) and len(many) == 3
    np.testing.assert_allclose(many[0], one, atol=1e-5)  # order restored after bucketing
    long = fx("word " * 20_000)  # truncated to the model's limit, not an error
    assert long.shape == (32,)
    with pytest.raises(InputError, match="empty string"):
        fx("")
    with pytest.raises(InputError, match="None"):
        fx([None])
    reported = fx(["fine", "", None], errors="report")
    assert isinstance(reported[0], np.ndarray)
    assert "input 1" in reported[1]["error"] and "input 2" in reported[2]["error"]
    with pytest.raises(InputError, match="empty list"):
        fx([])


def test_unknown_task_names_the_tasks() -> None:
    with pytest.raises(InputError, match="Did you mean 'sentiment-analysis'"):
        transferkit.pipeline("sentiment-analysys")


def _tiny_classifier(folder: Path) -> Classifier:
    torch.manual_seed(1)
    clf = Classifier(load_backbone(folder), ["neg", "pos", "neutral"])
    return clf.eval()


def test_save_load_round_trip_head_only_and_full(tiny_bert: Path, tmp_path: Path) -> None:
    clf = _tiny_classifier(tiny_bert)
    texts = ["good", "bad movie", "fine I guess"]
    with torch.no_grad():
        ref = clf(clf.preprocess(texts))
    head_dir = save_classifier(clf, tmp_path / "head", meta={"strategy": "probe"})
    cfg = json.loads((head_dir / "transferkit.json").read_text())
    assert cfg["labels"] == ["neg", "pos", "neutral"] and cfg["strategy"] == "probe"
    assert all(t.startswith("head.") for t in cfg["tensors"])
    back = load_classifier(head_dir)
    with torch.no_grad():
        torch.testing.assert_close(back(back.preprocess(texts)), ref)
    # change the body, save it in full, and check the change survives
    with torch.no_grad():
        clf.backbone.model.embeddings.word_embeddings.weight.mul_(1.5)
        ref_full = clf(clf.preprocess(texts))
    full_dir = save_classifier(clf, tmp_path / "full", body="full")
    back_full = load_model(full_dir)
    with torch.no_grad():
        torch.testing.assert_close(back_full(back_full.preprocess(texts)), ref_full)
    assert not torch.allclose(ref_full, ref)
    pipe = transferkit.pipeline("text-classification", model=full_dir)
    assert pipe("good")["label"] in {"neg", "pos", "neutral"}


def test_atomic_save_keeps_existing_model(tiny_bert: Path, tmp_path: Path) -> None:
    clf = _tiny_classifier(tiny_bert)
    target = save_classifier(clf, tmp_path / "out" / "model")
    before = (target / "model.safetensors").read_bytes()

    def crash(tmp: Path) -> None:
        (tmp / "model.safetensors").write_bytes(b"half written")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_dir(target, crash)
    assert (target / "model.safetensors").read_bytes() == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["model"]  # no temp left behind
    load_classifier(target)


def test_hf_sequence_classification_folder(tiny_bert_dir: Path, tmp_path: Path) -> None:
    import shutil

    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path / "hf-clf"
    shutil.copytree(tiny_bert_dir, folder)
    config = BertConfig.from_pretrained(folder)
    config.num_labels = 2
    config.id2label = {0: "bad", 1: "good"}
    config.label2id = {"bad": 0, "good": 1}
    torch.manual_seed(3)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    clf = load_model(folder)
    assert isinstance(clf, HFTextClassifier) and clf.labels == ["bad", "good"]
    pipe = transferkit.pipeline("text-classification", model=str(folder))
    out = pipe(["a fine day", "terrible"], top_k=2)
    with torch.no_grad():
        enc = clf.tokenizer(["a fine day", "terrible"], padding=True, return_tensors="pt")
        probs = model(**enc).logits.softmax(-1)
    for row, p in zip(out, probs, strict=True):
        got = {d["label"]: d["score"] for d in row}
        assert got["good"] == pytest.approx(float(p[1]), abs=1e-5)
    with pytest.raises(InputError, match="without a classification head"):
        load_model(tiny_bert_dir)
