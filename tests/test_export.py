"""ONNX export on tiny models: parity with torch, the same pipeline API, int8, LoRA, images."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TEXTS = [
    "a good film",
    "a bad , boring film",
    "it was fine i guess",
    "great acting and a weak plot",
]


@pytest.fixture(scope="module")
def text_clf(tiny_bert_dir: Path):
    import torch

    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone

    torch.manual_seed(1)
    return Classifier(load_backbone(tiny_bert_dir), ["NEGATIVE", "POSITIVE"]).eval()


@pytest.fixture(scope="module")
def exported(text_clf, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    from transferkit.export import export_onnx

    out = tmp_path_factory.mktemp("onnx") / "tiny-fp32"
    return out, export_onnx(text_clf, out)


def test_export_writes_a_self_describing_folder(exported) -> None:
    out, config = exported
    assert (out / "model.onnx").is_file() and (out / "tokenizer.json").is_file()
    on_disk = json.loads((out / "transferkit.json").read_text())
    assert on_disk["format"] == "transferkit-onnx" and on_disk["precision"] == "fp32"
    assert on_disk["labels"] == ["NEGATIVE", "POSITIVE"]
    assert on_disk["outputs"] == ["logits", "features"]
    parity = on_disk["parity"]
    assert parity["max_logit_diff"] < 1e-4 and parity["agreement"] == 1.0
    assert parity["min_feature_cosine"] > 0.99999
    assert config["parity"] == parity


def test_exported_folder_runs_through_the_same_pipelines(exported, text_clf) -> None:
    from transferkit.models.factory import load_backbone, load_model, resolve
    from transferkit.models.onnx_runtime import OnnxModel
    from transferkit.pipelines import pipeline

    out, _ = exported
    assert resolve(out)["kind"] == "onnx"
    assert isinstance(load_model(out), OnnxModel)
    ours, ref = pipeline("text-classification", str(out)), pipeline("text-classification", text_clf)
    got, want = ours(TEXTS + ["x " * 1000]), ref(TEXTS + ["x " * 1000])  # long input truncated
    assert [g["label"] for g in got] == [w["label"] for w in want]
    assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-5)
    assert ours("a good film", top_k=2)[0]["score"] == pytest.approx(
        ref("a good film", top_k=2)[0]["score"], abs=1e-5
    )
    feats = pipeline("feature-extraction", str(out)).encode(TEXTS)
    feats_ref = pipeline("feature-extraction", text_clf.backbone).encode(TEXTS)
    np.testing.assert_allclose(feats, feats_ref, atol=1e-5)
    assert load_backbone(out).output == "features"
    with pytest.raises(ValueError, match="empty string"):
        ours("  ")


def test_int8_export_records_quantisation_and_parity(text_clf, tmp_path: Path) -> None:
    from transferkit.export import export_onnx
    from transferkit.pipelines import pipeline

    data = tmp_path / "parity.csv"
    data.write_text(
        "text,label\n"
        + "".join(f'"{t}",{"positive" if i % 2 else "negative"}\n' for i, t in enumerate(TEXTS * 3))
    )
    config = export_onnx(text_clf, tmp_path / "int8", int8=True, parity_data=data)
    q, parity = config["quantisation"], config["parity"]
    assert config["precision"] == "int8" and q["quantised_matmuls"] == 2 * 6  # 6 per layer
    assert parity["n"] == 12 and 0.0 <= parity["agreement"] <= 1.0
    assert {"accuracy_torch", "accuracy_onnx", "accuracy_change_points"} <= set(parity)
    assert parity["max_logit_diff"] < 0.5
    out = pipeline("text-classification", tmp_path / "int8")(TEXTS)
    assert len(out) == 4 and all(o["label"] in ("NEGATIVE", "POSITIVE") for o in out)


def test_lora_is_merged_before_export(tiny_bert_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model

    from transferkit.export import export_onnx
    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone
    from transferkit.pipelines import pipeline

    backbone = load_backbone(tiny_bert_dir)
    backbone.model = get_peft_model(
        backbone.model, LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"])
    )
    torch.manual_seed(2)
    with torch.no_grad():  # LoRA B starts at zero; make the adapter matter
        for name, p in backbone.model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    clf = Classifier(backbone, ["no", "yes"]).eval()
    config = export_onnx(clf, tmp_path / "lora")
    assert config["parity"]["max_logit_diff"] < 1e-4
    assert hasattr(clf.backbone.model, "peft_config")  # the caller's model is untouched
    got = pipeline("text-classification", tmp_path / "lora")(TEXTS, top_k=2)
    want = pipeline("text-classification", clf)(TEXTS, top_k=2)
    assert [g[0]["score"] for g in got] == pytest.approx([w[0]["score"] for w in want], abs=1e-5)


def test_image_model_export(tmp_path: Path) -> None:
    from PIL import Image
    from test_serve import tiny_image_classifier

    from transferkit.export import export_onnx
    from transferkit.pipelines import pipeline

    clf = tiny_image_classifier()
    config = export_onnx(clf, tmp_path / "img")
    assert config["modality"] == "image" and config["parity"]["max_logit_diff"] < 1e-4
    imgs = [Image.new("RGB", (50, 40), (i * 60, 100, 255 - i * 60)) for i in range(3)]
    got = pipeline("image-classification", tmp_path / "img")(imgs, top_k=3)
    want = pipeline("image-classification", clf)(imgs, top_k=3)
    assert [[d["label"] for d in g] for g in got] == [[d["label"] for d in w] for w in want]
    assert got[0][0]["score"] == pytest.approx(want[0][0]["score"], abs=1e-5)


def test_hf_sequence_classifier_export(tiny_bert_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from transferkit.errors import InputError
    from transferkit.export import export_onnx
    from transferkit.models.factory import load_backbone
    from transferkit.pipelines import pipeline

    src = tmp_path / "hf"
    cfg = BertConfig.from_pretrained(
        tiny_bert_dir,
        num_labels=3,
        id2label={0: "a", 1: "b", 2: "c"},
        label2id={"a": 0, "b": 1, "c": 2},
    )
    torch.manual_seed(3)
    BertForSequenceClassification(cfg).save_pretrained(src)
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        (src / f).write_bytes((tiny_bert_dir / f).read_bytes())
    config = export_onnx(str(src), tmp_path / "hf-onnx")
    assert config["outputs"] == ["logits"] and config["labels"] == ["a", "b", "c"]
    assert config["parity"]["max_logit_diff"] < 1e-4
    got = pipeline("text-classification", tmp_path / "hf-onnx")(TEXTS)
    want = pipeline("text-classification", str(src))(TEXTS)
    assert [g["label"] for g in got] == [w["label"] for w in want]
    with pytest.raises(InputError, match="without pooled features"):
        load_backbone(tmp_path / "hf-onnx")


def test_export_errors_are_clear(exported, tmp_path: Path) -> None:
    from transferkit.errors import InputError
    from transferkit.export import export_onnx

    out, _ = exported
    with pytest.raises(InputError, match="already an exported ONNX folder"):
        export_onnx(str(out), tmp_path / "again")
    with pytest.raises(InputError, match="cannot export"):
        export_onnx(object(), tmp_path / "x")


def test_cli_export(text_clf, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from transferkit.cli.export import register
    from transferkit.models.saving import save_classifier

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in sub-command mode
        pass

    folder = save_classifier(text_clf, tmp_path / "clf", body="full")
    data = tmp_path / "texts.txt"
    data.write_text("\n".join(TEXTS))
    r = CliRunner().invoke(
        app,
        ["export", str(folder), "--onnx", "--out", str(tmp_path / "o"), "--parity-data", str(data)],
    )
    assert r.exit_code == 0, r.output
    assert "max_logit_diff" in r.output and "agreement" in r.output
    assert json.loads((tmp_path / "o" / "transferkit.json").read_text())["parity"]["n"] == 4
    bad = CliRunner().invoke(app, ["export", str(folder), "--out", str(tmp_path / "p")])
    assert bad.exit_code != 0 and "--onnx" in bad.output


def test_pipeline_runtime_onnx_exports_once_into_the_cache(text_clf, tmp_path: Path) -> None:
    from transferkit.errors import InputError
    from transferkit.models.onnx_runtime import OnnxModel
    from transferkit.models.saving import save_classifier
    from transferkit.pipelines import pipeline

    folder = save_classifier(text_clf, tmp_path / "clf", body="full")
    fast = pipeline("text-classification", str(folder), runtime="onnx")
    assert isinstance(fast.model, OnnxModel)
    cached = fast.model.path
    assert cached.is_relative_to(Path(__import__("os").environ["TRANSFERKIT_CACHE"]))
    made = (cached / "model.onnx").stat().st_mtime_ns
    again = pipeline("feature-extraction", str(folder), runtime="onnx")
    assert again.model.path == cached and (cached / "model.onnx").stat().st_mtime_ns == made
    ref = pipeline("text-classification", text_clf)(TEXTS)
    assert [r["score"] for r in fast(TEXTS)] == pytest.approx([r["score"] for r in ref], abs=1e-5)
    with pytest.raises(InputError, match="runtime='tpu'"):
        pipeline("text-classification", str(folder), runtime="tpu")
    with pytest.raises(InputError, match="needs a model reference"):
        pipeline("text-classification", text_clf, runtime="onnx")
