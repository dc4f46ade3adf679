"""One decision for `rank` and `fit --base auto`: source heads as candidates, reuse / refit /
new head, cheaper within noise, label maps (rows built by hand; real data in
test_choose_integration.py)."""

from __future__ import annotations

import math

import pytest

from transferkit.errors import InputError


def _row(
    name: str,
    knn: float,
    *,
    ms: float = 2.0,
    cut: int | None = None,
    zero_shot: dict | None = None,
    probe_s: float = 5.0,
    finetune_s: float = 200.0,
    contrastive_s: float = 150.0,
) -> dict:
    row = {
        "model": name,
        "cut": cut,
        "features_only": False,
        "error": None,
        "scores": {"logme": knn, "hscore": knn, "knn": knn},
        "cost": {
            "latency_ms": ms,
            "params": 22.7e6,
            "probe_s": probe_s,
            "finetune_s": finetune_s,
            "contrastive_s": contrastive_s,
        },
    }
    if zero_shot is not None:
        row["zero_shot"] = zero_shot
    return row


def _zs(acc: float, refit: float, n: int = 300) -> dict:
    return {"accuracy": acc, "macro_f1": acc - 0.01, "refit_accuracy": refit, "n": n}


FEW = {"negative": 150, "positive": 150}  # fit's rule: contrastive for a new head


def test_a_matching_head_as_it_is_when_a_refit_is_within_noise() -> None:
    from transferkit.core.results import Recommendation
    from transferkit.select.recommend import recommend

    rows = [_row("body", 0.78), _row("body-sst2", 0.80, zero_shot=_zs(0.86, 0.87))]
    ranked, reco, _ = recommend(rows, modality="text", counts=FEW, n_scored=300)
    assert isinstance(reco, Recommendation)
    assert (reco.model, reco.cut, reco.strategy, reco.head) == ("body-sst2", None, "none", "reuse")
    assert reco.estimated_seconds == 0.0 and reco.expected_accuracy == pytest.approx(0.86)
    assert reco.zero_shot["accuracy"] == 0.86
    # the reason is one sentence that names the zero-shot figure and the refit's
    assert "0.860 accuracy" in reco.head_reason and "0.870" in reco.head_reason
    assert "." not in reco.head_reason.rstrip(".").replace("0.", "")
    assert ranked[0]["head"] == "reuse" and ranked[1]["head"] == "new"
    assert ranked[1]["strategy"] == "contrastive"  # fit's own rule for the new-head body
    assert reco.to_dict()["head"] == "reuse" and reco["model"] == "body-sst2"


def test_a_matching_head_is_refitted_when_the_refit_beats_it_beyond_noise() -> None:
    from transferkit.select.recommend import noise, recommend

    rows = [_row("body", 0.78), _row("body-sst2", 0.80, zero_shot=_zs(0.80, 0.875))]
    _, reco, _ = recommend(rows, modality="text", counts=FEW, n_scored=300)
    assert reco is not None and (reco.strategy, reco.head) == ("probe", "tune")
    assert reco.expected_accuracy == pytest.approx(0.875) and reco.estimated_seconds == 5.0
    assert "0.800 accuracy" in reco.head_reason and "0.875" in reco.head_reason
    assert reco.noise == pytest.approx(noise(0.875, 300), abs=1e-4)
    assert noise(0.8, 300) == pytest.approx(2 * math.sqrt(0.8 * 0.2 / 300))
    # a refit that does not fit the budget: the head as it is
    _, reco, _ = recommend(
        [_row("body-sst2", 0.80, zero_shot=_zs(0.80, 0.875), probe_s=50.0)],
        modality="text",
        counts=FEW,
        budget=20,
        n_scored=300,
    )
    assert reco is not None and reco.strategy == "none" and "20 s budget" in reco.head_reason


def test_a_new_head_when_a_body_is_better_beyond_noise_and_says_so_with_figures() -> None:
    from transferkit.select.recommend import recommend

    rows = [_row("body", 0.95), _row("body-sst2", 0.60, zero_shot=_zs(0.55, 0.62))]
    ranked, reco, _ = recommend(rows, modality="text", counts=FEW, n_scored=300)
    assert reco is not None and (reco.model, reco.head) == ("body", "new")
    assert "body-sst2 scores 0.550 zero-shot" in reco.head_reason
    assert "0.620 refitted" in reco.head_reason and "0.950" in reco.head_reason
    # no candidate with a matching head: the reason says so, naming the data's labels
    _, reco, _ = recommend(
        [_row("body", 0.9)], modality="text", counts={"ABBR": 50, "DESC": 50}, n_scored=100
    )
    assert reco is not None and reco.head == "new"
    assert "no candidate has a source head whose labels match" in reco.head_reason
    assert "ABBR, DESC" in reco.head_reason


def test_the_cheaper_of_two_candidates_within_noise_is_preferred_and_said() -> None:
    from transferkit.select.recommend import recommend

    # The case: a 5-second probe at 0.875 vs 177 s of tuning at 0.88.
    rows = [
        _row("big", 0.880, ms=2.0, contrastive_s=177.0),
        _row("body-sst2", 0.70, ms=2.0, zero_shot=_zs(0.80, 0.875)),
    ]
    ranked, reco, _ = recommend(rows, modality="text", counts=FEW, n_scored=300)
    assert reco is not None and reco.model == "body-sst2" and reco.strategy == "probe"
    assert reco.preferred_to == {
        "model": "big",
        "cut": None,
        "expected_accuracy": 0.88,
        "estimated_seconds": 177.0,
    }
    assert reco.why.startswith("preferred as the cheaper of two candidates within noise")
    assert "est. 5 s" in reco.why and "est. 177 s" in reco.why
    assert [r["model"] for r in ranked] == ["body-sst2", "big"] and ranked[0]["rank"] == 1
    # Beyond the noise the better one stays, cost notwithstanding.
    rows = [
        _row("big", 0.95, ms=2.0, contrastive_s=177.0),
        _row("body-sst2", 0.70, ms=2.0, zero_shot=_zs(0.80, 0.875)),
    ]
    _, reco, _ = recommend(rows, modality="text", counts=FEW, n_scored=300)
    assert reco is not None and reco.model == "big" and reco.preferred_to is None
    # More examples, less noise: 0.875 vs 0.88 on 20,000 is no longer a tie.
    rows = [
        _row("big", 0.90, ms=2.0, contrastive_s=177.0),
        _row("body-sst2", 0.70, ms=2.0, zero_shot=_zs(0.80, 0.875, n=20000)),
    ]
    _, reco, _ = recommend(rows, modality="text", counts=FEW, n_scored=20000)
    assert reco is not None and reco.model == "big"


def test_label_maps_match_heads_named_differently() -> None:
    from transferkit.models.classifier import match_head, parse_label_map

    assert match_head(["NEGATIVE", "POSITIVE"], ["positive", "negative"]) == [1, 0]
    assert match_head(["NEGATIVE", "POSITIVE"], ["bad", "good"]) is None
    mapping = parse_label_map(["good=POSITIVE", "bad=negative"])
    assert mapping == {"good": "POSITIVE", "bad": "negative"}
    assert match_head(["NEGATIVE", "POSITIVE"], ["bad", "good"], mapping) == [0, 1]
    # two data labels mapped onto one source label is no match
    assert match_head(["NEGATIVE", "POSITIVE"], ["bad", "good"], {"good": "bad"}) is None
    assert parse_label_map(None) is None
    with pytest.raises(InputError, match=r"'good' is not DATA=SOURCE.*--label-map neg=NEGATIVE"):
        parse_label_map(["good"])


def test_default_candidates_are_what_fit_can_adapt() -> None:
    from transferkit.select.rank import default_candidates
    from transferkit.zoo.registry import get_card

    names = default_candidates("text")
    assert all(get_card(n).installed and not get_card(n).features_only for n in names)
    assert "multilingual-e5-small" not in names  # features only: fit cannot put a head on it
    if get_card("minilm-l6").installed:
        assert {"minilm-l6", "minilm-l6-sst2"} <= set(names)


def test_strategy_none_needs_a_kept_head(tiny_bert) -> None:
    import numpy as np

    from transferkit.core.strategies import choose_strategy
    from transferkit.workflows.fit import fit

    plan = choose_strategy(
        "none", modality="text", counts={"a": 5, "b": 5}, budget=1.0, params=1_000_000
    )
    assert plan.strategy == "none" and plan.estimated_seconds == 0.0
    texts = ["good film", "bad film", "great", "awful"] * 3
    labels = ["pos", "neg", "pos", "neg"] * 3
    with pytest.raises(InputError, match=r"strategy 'none' uses a source head as it is"):
        fit((texts, labels), base=str(tiny_bert), strategy="none", progress=False)
    assert np.unique(labels).size == 2
