"""rank: candidates and cut points, cost, recommendation, bad input, JSON and CLI (tiny BERT)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from transferkit.errors import DataError, InputError

POS = [
    "a wonderful film",
    "great acting and a great story",
    "i loved it",
    "brilliant and moving",
    "a joy to watch",
    "superb",
    "funny and warm",
    "the best film this year",
]
NEG = [
    "a terrible film",
    "boring and far too long",
    "i hated it",
    "dull and lifeless",
    "a waste of time",
    "awful",
    "flat jokes and bad acting",
    "the worst film this year",
]


def _data() -> tuple[list[str], list[str]]:
    return POS + NEG, ["pos"] * len(POS) + ["neg"] * len(NEG)


def test_cut_features_equal_the_hidden_states_they_name(tiny_bert: Path) -> None:
    import torch

    from transferkit.select.candidates import encode_all_cuts, load_candidate

    model = load_candidate(str(tiny_bert), "text")
    assert model.n_groups == 3  # embeddings + 2 layers
    feats, probs = encode_all_cuts(model, POS[:5], [None, 2], batch_size=2)
    assert probs is None and feats[None].shape == (5, 32) and feats[2].shape == (5, 32)
    # Reference: hidden state after encoder layer 1, mean-pooled over real tokens.
    enc = model.encoder.tokenizer(POS[:5], padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model.encoder.model(**enc, output_hidden_states=True)
    mask = enc["attention_mask"].unsqueeze(-1).float()
    for cut, hidden in ((2, out.hidden_states[1]), (None, out.last_hidden_state)):
        ref = ((hidden * mask).sum(1) / mask.sum(1)).numpy()
        np.testing.assert_allclose(feats[cut], ref, rtol=1e-4, atol=1e-5)
    assert not np.allclose(feats[2], feats[None])


def test_cost_counts_the_kept_layers_and_measures_time(tiny_bert: Path) -> None:
    # the costs rank reports: read off the one encoding pass (the standalone measuring
    # path was removed as unused)
    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.select.cost import cost_from_stats

    model = load_candidate(str(tiny_bert), "text")
    stats: dict = {}
    encode_all_cuts(model, POS, [None, 2], batch_size=len(POS), stats=stats)
    full = cost_from_stats(model, None, stats, n_train=1000, batch_size=len(POS))
    cut = cost_from_stats(model, 2, stats, n_train=1000, batch_size=len(POS))
    layer = sum(p.numel() for p in model.encoder.layer_groups()[2].parameters())
    assert full["params"] - cut["params"] >= layer > 0
    assert full["latency_ms"] > 0 and full["batch_size"] == len(POS)
    assert full["peak_memory_mb"] >= full["weights_mb"] > 0
    # 3 forward-equivalents per training example, for the epochs fit runs at this size (8)
    assert full["finetune_epochs"] == 8
    assert full["finetune_s"] == pytest.approx(
        full["latency_ms"] / 1e3 * 3 * 1000 * 8, rel=0.01, abs=0.1
    )


def test_cost_is_read_off_the_encoding_pass(tiny_bert: Path) -> None:
    from transferkit.select.candidates import encode_all_cuts, load_candidate
    from transferkit.select.cost import cost_from_stats, count_params

    model = load_candidate(str(tiny_bert), "text")
    stats: dict = {}
    feats, _ = encode_all_cuts(model, POS + NEG, [None, 2], batch_size=4, stats=stats)
    assert stats["n"] == len(POS + NEG) and stats["preprocess_s"] > 0
    # Reaching cut 2 is part of the way to the full output, in the same pass.
    assert 0 < stats["forward_s"]["2"] < stats["forward_s"]["full"]
    full = cost_from_stats(model, None, stats, n_train=1000, batch_size=4)
    cut = cost_from_stats(model, 2, stats, n_train=1000, batch_size=4)
    expect = (stats["preprocess_s"] + stats["forward_s"]["full"]) / stats["n"] * 1e3
    assert full["latency_ms"] == pytest.approx(expect, rel=1e-3)
    assert cut["latency_ms"] < full["latency_ms"]
    assert cut["params"] == count_params(model, 2)[0] < full["params"]
    # Activations were sampled on the first batch (glibc here): a positive peak per cut.
    acts = stats["activation_bytes"]
    assert acts is not None and 0 < acts["2"] <= acts["full"]
    assert full["peak_memory_mb"] > full["weights_mb"]
    assert full["probe_s"] == pytest.approx(full["latency_ms"] / 1e3 * 1000, rel=0.01)


def test_rank_reports_a_bad_candidate_and_ranks_the_rest(tiny_bert: Path, tmp_path: Path) -> None:
    from transferkit.select.rank import rank

    missing = str(tmp_path / "no-such-model")
    result = rank(_data(), candidates=[str(tiny_bert), missing], use_cache=False)
    rows = result.to_dict()["candidates"]
    good = [r for r in rows if r["rank"] is not None]
    bad = [r for r in rows if r["rank"] is None]
    assert [r["cut"] for r in good] and {r["cut"] for r in good} == {None, 2}
    assert sorted(r["rank"] for r in good) == list(range(1, len(good) + 1))
    assert len(bad) == 1 and bad[0]["model"] == missing
    assert "no-such-model" in bad[0]["why"] and "does not exist" in bad[0]["why"]
    assert rows[-1] is bad[0]  # failed candidates come last
    for r in good:
        assert set(r["scores"]) == {"logme", "hscore", "knn"}
        assert 0.0 <= r["scores"]["knn"] <= 1.0
        assert r["why"].endswith(".") and r["strategy"] == "contrastive"  # 8 per class, text
    reco = result.recommendation
    assert reco is not None and reco["model"] == good[0]["model"] and reco["cut"] == good[0]["cut"]


def test_rank_json_shape(tiny_bert: Path) -> None:
    from transferkit.select.rank import rank

    d = rank(_data(), candidates=[f"{tiny_bert}@2"], budget=60, use_cache=False).to_dict()
    json.dumps(d)  # JSON-ready
    assert set(d) >= {"candidates", "recommendation"}
    (row,) = d["candidates"]
    assert set(row) >= {"model", "cut", "scores", "cost", "rank", "why"} and row["cut"] == 2
    assert set(row["cost"]) >= {"params", "latency_ms", "peak_memory_mb", "finetune_s"}
    assert set(d["recommendation"]) == {
        "model",
        "cut",
        "strategy",
        "why",
        "head",
        "head_reason",
        "strategy_reason",
        "zero_shot",
        "expected_accuracy",
        "estimated_seconds",
        "noise",
        "preferred_to",
    }
    assert d["recommendation"]["head"] == "new" and d["recommendation"]["zero_shot"] is None
    assert d["ranked_by"] == "knn"


def test_rank_refuses_a_class_with_one_example() -> None:
    from transferkit.select.rank import rank

    texts, labels = _data()
    with pytest.raises(DataError, match=r"'rare' \(1\).*at least 2"):
        rank((texts + ["odd one"], labels + ["rare"]), candidates=["minilm-l6"])


def test_rank_refuses_a_string_of_candidates() -> None:
    from transferkit.select.rank import rank

    with pytest.raises(InputError, match="is a string; pass a list"):
        rank(_data(), candidates="minilm-l6")


def test_rank_subsamples_large_data_and_says_so(tiny_bert: Path) -> None:
    from transferkit.select.rank import rank

    texts, labels = _data()
    result = rank(
        (texts * 3, labels * 3),
        candidates=[str(tiny_bert)],
        cuts=None,
        max_examples=20,
        use_cache=False,
    )
    assert result.n_scored == 20 and result.n_examples == 48
    assert any("stratified subsample of 20 of 48" in n for n in result.notes)
    # default: 100 per class, at least 300 -> 2 classes x 160 examples are cut to 300
    result = rank((texts * 20, labels * 20), candidates=[str(tiny_bert)], cuts=None)
    assert result.n_scored == 300 and result.n_examples == 320
    assert any("(max_examples=300)" in n for n in result.notes)


def test_rank_uses_the_feature_cache(tiny_bert: Path) -> None:
    from transferkit.select.rank import rank

    first = rank(_data(), candidates=[str(tiny_bert)])
    second = rank(_data(), candidates=[str(tiny_bert)])
    for a, b in zip(first.candidates, second.candidates, strict=True):
        assert a["error"] is None
        assert a["scores"] == b["scores"]
        # Cost was read off the first encoding pass and kept with the features.
        assert a["cost"] == b["cost"] and a["cost"]["latency_ms"] > 0


def test_recommend_rules_prefer_cheap_models_on_little_data_and_respect_budget() -> None:
    from transferkit.select.recommend import recommend, strategy_for

    def row(name: str, s: float, ms: float, finetune: float | None = 100.0) -> dict:
        return {
            "model": name,
            "cut": None,
            "features_only": finetune is None,
            "error": None,
            "scores": {"logme": s, "hscore": s, "knn": s},
            "cost": {"latency_ms": ms, "params": 1e6, "probe_s": ms, "finetune_s": finetune},
        }

    # Slightly better but 100x slower loses on 10 examples per class.
    rows = [row("big", 1.0, 100.0), row("small", 0.97, 1.0), row("bad", 0.0, 1.0)]
    ranked, reco, _ = recommend(rows, modality="image", counts={"a": 10, "b": 10})
    assert reco is not None and reco["model"] == "small" and reco["strategy"] == "probe"
    assert [r["model"] for r in ranked] == ["small", "big", "bad"]
    # A probe that exceeds the budget ranks after those that fit, and says why.
    rows = [row("slow", 1.0, 500.0), row("fast", 0.5, 1.0)]
    ranked, reco, _ = recommend(rows, modality="text", counts={"a": 5000, "b": 5000}, budget=50)
    assert reco is not None and reco["model"] == "fast"
    assert "exceeds the 50 s budget" in ranked[1]["why"]

    # Many examples: a features-only model (even the best-scored) ranks after a model that
    # can be fine-tuned; few examples: frozen features are what either gets, score wins.
    rows = [row("frozen", 1.0, 2.0, finetune=None), row("tunable", 0.6, 2.0)]
    rows[1]["cost"]["params"] = 22_700_000
    ranked, reco, _ = recommend(rows, modality="text", counts={"a": 5000, "b": 5000})
    assert reco is not None and reco["model"] == "tunable" and reco["strategy"] == "full"
    assert "ranked after the models that can be fine-tuned" in ranked[1]["why"]
    rows = [row("frozen", 1.0, 2.0, finetune=None), row("tunable", 0.6, 2.0)]
    ranked, reco, _ = recommend(rows, modality="text", counts={"a": 8, "b": 8})
    assert reco is not None and reco["model"] == "frozen" and reco["strategy"] == "probe"

    # rank's strategy is fit's own auto rule on that base (one rule, not two).
    def strat(counts: dict, *, budget: float | None = None, features_only: bool = False) -> str:
        return strategy_for(
            modality="text",
            counts=counts,
            features_only=features_only,
            params=22_700_000,
            budget=budget,
        )[0]

    assert strat({"a": 5000, "b": 5000}) == "full"
    assert strat({"a": 64, "b": 64}) == "contrastive"  # what fit --strategy auto does there
    assert strat({"a": 300, "b": 300}, budget=5) == "probe"  # no fine-tuning fits 5 s
    # rank's measured fine-tuning estimate overrides fit's rough one
    assert strat({"a": 300, "b": 300}, budget=1000) == "full"
    assert (
        strategy_for(
            modality="text",
            counts={"a": 300, "b": 300},
            features_only=False,
            params=22_700_000,
            budget=100,
            finetune_s=900.0,
        )[0]
        == "probe"
    )
    assert strat({"a": 300, "b": 300}, features_only=True) == "probe"
    assert strat({"a": 300, "b": 300}, budget=0.01) == "probe"  # below even a probe


def test_recommend_ranks_by_the_headline_score_only() -> None:
    from transferkit.select.recommend import RANKED_BY, recommend

    def row(name: str, logme: float, knn: float) -> dict:
        return {
            "model": name,
            "cut": None,
            "features_only": False,
            "error": None,
            "scores": {"logme": logme, "hscore": logme, "knn": knn},
            "cost": {"latency_ms": 1.0, "params": 1e6, "probe_s": 1.0, "finetune_s": 10.0},
        }

    # LogME and H-score prefer "a", kNN prefers "b"; equal cost, so the driver decides.
    rows = lambda: [row("a", 1.0, 0.6), row("b", 0.0, 0.9), row("c", 0.4, 0.1)]  # noqa: E731
    counts = {"x": 500, "y": 500}
    ranked, reco, summary = recommend(rows(), modality="text", counts=counts)
    assert RANKED_BY == "knn" and summary["ranked_by"] == "knn"
    assert [r["model"] for r in ranked] == ["b", "a", "c"] and "kNN" in reco["why"]
    ranked, _, summary = recommend(rows(), modality="text", counts=counts, ranked_by="logme")
    assert [r["model"] for r in ranked] == ["a", "c", "b"] and summary["ranked_by"] == "logme"
    # The old rule (mean of the scaled scores) stays available.
    ranked, _, summary = recommend(rows(), modality="text", counts=counts, ranked_by="mean")
    assert [r["model"] for r in ranked] == ["a", "b", "c"] and summary["ranked_by"] == "mean"


def test_recommend_scores_a_candidate_to_fine_tune_by_its_best_prefix() -> None:
    """trec's case (benchmarks/results/rank.md): the whole model's top layer probes worse
    than its cut at 5, but fine-tuning starts from all its layers, so when the strategy
    tunes the body the whole model is scored by its best prefix; when it probes, by its
    own features."""
    from transferkit.select.recommend import best_prefix, recommend

    def row(cut: int | None, knn: float, ms: float, model: str = "m") -> dict:
        return {
            "model": model,
            "cut": cut,
            "features_only": model == "frozen",
            "error": None,
            "scores": {"logme": knn, "hscore": knn, "knn": knn},
            "cost": {"latency_ms": ms, "params": 22e6, "probe_s": 1.0, "finetune_s": 10.0},
        }

    rows = lambda: [  # noqa: E731
        row(None, 0.60, 6.0),
        row(5, 0.68, 5.0),
        row(3, 0.61, 3.0),
        row(2, 0.55, 2.0),
        row(None, 0.62, 2.0, model="frozen"),
    ]
    assert best_prefix(rows(), "knn") == [1, 1, 2, 3, 4]
    # 5,000 per class: fit would fine-tune (full) -> the whole model scores as its cut at 5
    ranked, reco, _ = recommend(rows(), modality="text", counts={"a": 5000, "b": 5000})
    whole = next(r for r in ranked if r["model"] == "m" and r["cut"] is None)
    assert whole["strategy"] == "full" and whole["scored_by_prefix"] == {"cut": 5, "knn": 0.68}
    assert "scored by its cut at 5" in whole["why"]
    assert whole["transferability"] == next(r for r in ranked if r["cut"] == 5)["transferability"]
    assert reco is not None and (reco["model"], reco["cut"]) == ("m", 5)  # tie: cheaper wins
    # 3 per class: fit would probe -> own features only; the whole model ranks below cut 3
    ranked, _, _ = recommend(rows(), modality="text", counts={"a": 3, "b": 3})
    order = [(r["model"], r["cut"]) for r in ranked]
    assert order.index(("m", None)) > order.index(("m", 3))
    assert all("scored_by_prefix" not in r for r in ranked)


def test_recommend_flags_candidates_the_scores_disagree_on() -> None:
    from transferkit.select.recommend import recommend

    def row(name: str, logme: float, knn: float) -> dict:
        return {
            "model": name,
            "cut": None,
            "error": None,
            "features_only": False,
            "scores": {"logme": logme, "hscore": logme, "knn": knn},
            "cost": {"latency_ms": 1.0, "params": 1e6, "probe_s": 1.0, "finetune_s": 1.0},
        }

    rows = [row("a", 4, 1), row("b", 3, 2), row("c", 2, 3), row("d", 1, 4)]
    ranked, _, summary = recommend(rows, modality="text", counts={"x": 50, "y": 50})
    flagged = {r["model"] for r in ranked if r["scores_disagree"]}
    assert flagged == {"a", "d"}
    assert "scores disagree" in next(r for r in ranked if r["model"] == "a")["why"]
    assert summary["agreement"]["logme~knn"] == pytest.approx(-1.0)


def test_parse_candidate_and_default_cuts() -> None:
    from transferkit.select.candidates import default_cuts, parse_candidate

    assert parse_candidate("mobilenet-v2@5") == ("mobilenet-v2", 5)
    assert parse_candidate("org/model") == ("org/model", None)
    with pytest.raises(InputError, match="must be >= 1"):
        parse_candidate("minilm-l6@0")
    assert default_cuts(7) == [4, 6] and default_cuts(9) == [5, 7] and default_cuts(1) == []


def test_cli_rank_json(tiny_bert: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from transferkit.cli.rank import register

    texts, labels = _data()
    csv = tmp_path / "train.csv"
    csv.write_text(
        "sentence,y\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, labels, strict=True))
    )
    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a second command keeps `rank` a named subcommand
    res = CliRunner().invoke(
        app,
        [
            "rank",
            str(csv),
            "--candidates",
            str(tiny_bert),
            "--label-column",
            "y",
            "--no-cuts",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["recommendation"]["model"] == str(tiny_bert)
    assert out["data"]["classes"] == {"neg": 8, "pos": 8}


def test_rank_refuses_a_subsample_too_small_for_every_class(tiny_bert: Path) -> None:
    from transferkit.select.rank import rank

    texts, labels = _data()
    with pytest.raises(InputError, match=r"max_examples=3 is too small.*--max-examples 4"):
        rank((texts, labels), candidates=[str(tiny_bert)], cuts=None, max_examples=3)
