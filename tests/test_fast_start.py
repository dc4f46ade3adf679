"""Issue 19: transformer fusions at export, and the torch-free fast start of `predict`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

TEXTS = ["a good film", "a bad , boring film", "it was fine i guess", "great acting, weak plot"]
SRC = str(Path(__file__).resolve().parents[1] / "src")


@pytest.fixture(scope="module")
def saved_clf(tiny_bert_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved transferkit classifier folder (full body) on the tiny BERT."""
    import torch

    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone
    from transferkit.models.saving import save_classifier

    torch.manual_seed(3)
    clf = Classifier(load_backbone(tiny_bert_dir), ["NEGATIVE", "POSITIVE"]).eval()
    return save_classifier(clf, tmp_path_factory.mktemp("clf") / "clf", body="full")


def _child(code: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": SRC, "TRANSFERKIT_CACHE": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


def test_export_fuses_bert_graphs_and_keeps_parity(saved_clf: Path, tmp_path: Path) -> None:
    import onnx

    from transferkit.export import export_onnx

    fused = export_onnx(str(saved_clf), tmp_path / "fused")
    plain = export_onnx(str(saved_clf), tmp_path / "plain", fuse=False)
    assert fused["fusions"]["SkipLayerNormalization"] == 2 * 2  # 2 per layer, 2 layers
    assert fused["fusions"].get("BiasGelu", 0) + fused["fusions"].get("Gelu", 0) == 2
    assert plain["fusions"] is None
    ops = {n.op_type for n in onnx.load(str(tmp_path / "fused" / "model.onnx")).graph.node}
    assert "SkipLayerNormalization" in ops
    assert fused["parity"]["max_logit_diff"] < 1e-4 and fused["parity"]["agreement"] == 1.0
    int8 = export_onnx(str(saved_clf), tmp_path / "int8", int8=True)
    assert int8["fusions"] is None  # measured slower fused (export_onnx's docstring)
    assert int8["quantisation"]["quantised_matmuls"] == 2 * 6  # q, k, v, o, ff1, ff2 per layer
    assert int8["parity"]["agreement"] == 1.0


def test_ready_model_answers_like_the_pipeline(saved_clf: Path) -> None:
    from transferkit.export.cache import cached_export, find_cached
    from transferkit.models.ready import ReadyTextModel
    from transferkit.pipelines import pipeline

    assert find_cached(str(saved_clf), "onnx") is None  # nothing is built by looking
    folder = cached_export(str(saved_clf), "onnx")
    assert find_cached(str(saved_clf), "onnx") == folder
    ready = ReadyTextModel(folder)
    ref = pipeline("text-classification", str(saved_clf))(TEXTS, top_k=2)
    got = ready.classify(TEXTS, top_k=2)
    assert [[r["label"] for r in row] for row in got] == [[r["label"] for r in row] for row in ref]
    for a, b in zip(got, ref, strict=True):
        assert [r["score"] for r in a] == pytest.approx([r["score"] for r in b], abs=1e-5)
    feats = np.stack(ready.features(TEXTS))
    ref_feats = np.stack(pipeline("feature-extraction", str(saved_clf))(TEXTS))
    assert np.abs(feats - ref_feats).max() < 1e-4
    assert np.linalg.norm(feats, axis=1) == pytest.approx(1.0, abs=1e-5)
    # many batches: two at a time on a one-thread session, same vectors, same order
    many = [f"{t} {i}" for i in range(12) for t in TEXTS]
    two = ReadyTextModel(folder, threads=2)
    parallel = np.stack(two.features(many, batch_size=4))
    assert 1 in two._sessions._by_threads  # its batches ran on one-thread sessions
    serial = np.stack(ReadyTextModel(folder, threads=1).features(many, batch_size=4))
    np.testing.assert_allclose(parallel, serial, atol=1e-5)


def test_cache_lookup_and_fast_predict_import_no_torch(
    saved_clf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    code = (
        "import sys\n"
        "from transferkit.export.cache import find_cached\n"
        f"print(find_cached({str(saved_clf)!r}, 'onnx'))\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = _child(code, cache)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "False", "False"]
    # build the copy (as pipeline(..., runtime="onnx") does), then predict in a new process
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(cache))
    from transferkit.export.cache import cached_export
    from transferkit.pipelines import pipeline

    cached_export(str(saved_clf), "onnx")
    predict = (
        "import sys\n"
        f"sys.argv = ['transferkit', 'predict', 'text-classification', {TEXTS[0]!r}, {TEXTS[1]!r},"
        f" '-m', {str(saved_clf)!r}, '--json']\n"
        "from transferkit.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = _child(predict, cache)
    assert out.returncode == 0, out.stderr
    body, flags = out.stdout.rsplit("]", 1)
    assert flags.split() == ["False", "False"]
    rows = json.loads(body + "]")
    ref = pipeline("text-classification", str(saved_clf))(TEXTS[:2])
    assert [r["label"] for r in rows] == [r["label"] for r in ref]
    assert [r["score"] for r in rows] == pytest.approx([r["score"] for r in ref], abs=1e-5)


def test_fast_start_off_or_bad_input_takes_the_torch_path(
    saved_clf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transferkit.cli.ready import fast_start_allowed, ready_pipe

    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))
    from transferkit.export.cache import cached_export

    cached_export(str(saved_clf), "onnx")
    assert ready_pipe("text-classification", str(saved_clf), TEXTS, 32) is not None
    assert ready_pipe("text-classification", str(saved_clf), ["ok", "  "], 32) is None
    assert ready_pipe("text-classification", str(saved_clf), ["ok", 3], 32) is None
    assert not fast_start_allowed("image-classification", "cpu", "local")
    assert not fast_start_allowed("sentiment-analysis", "cpu", "ray")
    assert not fast_start_allowed("sentiment-analysis", "cuda", "local")
    monkeypatch.setenv("TRANSFERKIT_FAST_START", "0")
    assert not fast_start_allowed("sentiment-analysis", "cpu", "local")


def test_help_imports_neither_torch_nor_transformers(tmp_path: Path) -> None:
    code = (
        "import sys\nsys.argv = ['transferkit', '--help']\nfrom transferkit.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    out = _child(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == ["False", "False"]


def test_text_pipelines_bucket_by_tokens_not_characters(saved_clf: Path) -> None:
    from transferkit.pipelines import pipeline

    pipe = pipeline("text-classification", str(saved_clf), batch_size=2)
    # characters and tokens disagree: a long word is few tokens, short words many
    texts = ["extraordinarily", "a b c d e f", "good", "no , it is not ."]
    tok = pipe.model.backbone.tokenizer
    assert pipe.sort_keys(texts) == [len(tok(t)["input_ids"]) for t in texts]
    assert pipe.sort_keys(texts) != [len(t) for t in texts]
    together = pipe(texts)
    alone = [pipe(t) for t in texts]
    assert [r["label"] for r in together] == [r["label"] for r in alone]
    assert [r["score"] for r in together] == pytest.approx([r["score"] for r in alone], abs=1e-5)
    feats = pipeline("feature-extraction", str(saved_clf), batch_size=2)
    assert feats.sort_keys(texts) == pipe.sort_keys(texts)
