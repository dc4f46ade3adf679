"""Issue 16, adapt: fit for multi-label and regression on a tiny 2-layer BERT — heads,
losses, thresholds, strategies, saving, the CLI options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from transferkit import fit
from transferkit.core.strategies import choose_strategy
from transferkit.errors import InputError

AUDIO = ["mp3", "sound", "music", "audio", "volume", "speaker"]
GAME = ["chess", "puzzle", "arcade", "game", "score", "level"]
FILLER = ["tool", "program", "simple", "small", "fast", "free"]


@pytest.fixture()
def tiny_bert(tiny_bert_dir: Path) -> str:
    return str(tiny_bert_dir)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))


def tags(n: int = 60, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts carrying audio words, game words, both, or neither; labels joined with '|'."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        kind = i % 4
        words = [str(rng.choice(FILLER))]
        if kind in (0, 2):
            words += [str(rng.choice(AUDIO)), str(rng.choice(AUDIO))]
        if kind in (1, 2):
            words += [str(rng.choice(GAME)), str(rng.choice(GAME))]
        texts.append(" ".join(words) + f" {i}")
        labels.append(["audio", "game", "audio|game", ""][kind])
    return texts, labels


def scores(n: int = 60, seed: int = 0) -> tuple[list[str], list[float]]:
    """Texts whose number of audio words (0-3) plus noise is the target."""
    rng = np.random.default_rng(seed)
    texts, ys = [], []
    for i in range(n):
        k = i % 4
        words = [str(rng.choice(AUDIO)) for _ in range(k)] + [str(rng.choice(FILLER))] * (3 - k)
        texts.append(" ".join(words) + f" {i}")
        ys.append(float(k) + float(rng.normal(0, 0.1)))
    return texts, ys


def _same_outputs(folder: Path, model: torch.nn.Module, texts: list[str]) -> None:
    from transferkit.models.factory import load_model

    clf = load_model(folder)
    assert clf.problem == model.problem  # type: ignore[attr-defined]
    batch = clf.preprocess(texts)
    with torch.no_grad():
        np.testing.assert_allclose(clf(batch).numpy(), model(batch).numpy(), atol=1e-5)


def test_multi_label_probe_tunes_thresholds_and_round_trips(tiny_bert: str, tmp_path: Path) -> None:
    data, held = tags(80), tags(40, seed=1)
    r = fit(data, eval=held, base=tiny_bert, strategy="probe", out=tmp_path / "m", progress=False)
    assert r.task == "multi-label" and r.task_how == "inferred"
    assert r.model.labels == ["audio", "game"] and r.model.head_linear().out_features == 2
    th = r.model.problem.thresholds
    assert th is not None and len(th) == 2 and all(0.0 < t < 1.0 for t in th)
    assert any("thresholds tuned for F1 on the --eval data" in s for s in r.summary)
    assert any(s.startswith("task multi-label (inferred)") for s in r.summary)
    assert any("empty label set" in s for s in r.summary)  # the "neither" rows, counted
    assert r.eval is not None and r.eval["micro_f1"] > 0.7, r.eval
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    assert cfg["problem"]["kind"] == "multi-label" and cfg["problem"]["thresholds"] == list(th)
    assert set(cfg["metrics"]["eval"]) >= {"micro_f1", "macro_f1", "n"}
    assert r.to_json()["task"]["kind"] == "multi-label"
    _same_outputs(tmp_path / "m", r.model, held[0][:6])


def test_multi_label_full_with_balanced_weights(tiny_bert: str, tmp_path: Path) -> None:
    data = tags(60)
    r = fit(
        data, base=tiny_bert, strategy="full", epochs=3, lr=3e-3, batch_size=8,
        class_weight="balanced", out=tmp_path / "f", progress=False, patience=None,
    )  # fmt: skip
    assert len(r.history) == 3 and "val_micro_f1" in r.history[0]
    assert r.history[-1]["loss"] < r.history[0]["loss"], r.history
    assert r.hyperparameters["class_weight"] == "balanced"
    assert any("held out of train" in s for s in r.summary)  # thresholds' validation data
    _same_outputs(tmp_path / "f", r.model, data[0][:4])


def test_regression_probe_and_gradient_learn_in_target_units(
    tiny_bert: str, tmp_path: Path
) -> None:
    data, held = scores(80), scores(40, seed=1)
    r = fit(data, eval=held, base=tiny_bert, strategy="probe", out=tmp_path / "p", progress=False)
    p = r.model.problem
    assert r.task == "regression" and p.kind == "regression" and r.model.labels == ["score"]
    assert r.model.head_linear().out_features == 1
    assert p.target_mean == pytest.approx(np.mean(data[1]), rel=1e-5)
    assert p.target_std == pytest.approx(np.std(data[1]), rel=1e-5)
    assert r.eval is not None and r.eval["spearman"] > 0.6, r.eval
    assert "alpha" in r.hyperparameters
    _same_outputs(tmp_path / "p", r.model, held[0][:5])
    # decoded values are in the target's units (0-3), not standardised ones
    from transferkit.core.inference import predict_logits

    values = p.scores(predict_logits(r.model, held[0]))
    assert 0.5 < float(np.mean(values)) < 2.5 and float(np.std(values)) > 0.3
    for loss in ("mse", "huber"):
        g = fit(
            data, eval=held, base=tiny_bert, strategy="partial", epochs=3, lr=3e-3,
            batch_size=8, regression_loss=loss, progress=False, patience=None,
        )  # fmt: skip
        assert "val_neg_mae" in g.history[0] and g.history[-1]["loss"] < g.history[0]["loss"]
        assert g.hyperparameters["loss"].startswith(loss)


def test_lora_on_both_kinds(tiny_bert: str) -> None:
    for data in (tags(32), scores(32)):
        r = fit(data, base=tiny_bert, strategy="lora", epochs=2, lr=3e-3, batch_size=8,
                progress=False, patience=None)  # fmt: skip
        lora_b = [p for n, p in r.model.named_parameters() if "lora_B" in n]
        assert lora_b and any(float(p.detach().abs().sum()) > 0 for p in lora_b)


def test_contrastive_pairs_share_a_label_and_not_for_regression(tiny_bert: str) -> None:
    r = fit(tags(40), base=tiny_bert, strategy="contrastive", progress=False)
    assert r.hyperparameters["pairs"] > 0 and r.model.problem.kind == "multi-label"
    with pytest.raises(InputError, match="no classes to pair"):
        fit(scores(40), base=tiny_bert, strategy="contrastive", progress=False)


def test_pairs_sharing_a_label_are_positive() -> None:
    from transferkit.adapt.contrastive import rarest_label_keys, same_pairs

    y = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0]])
    s = same_pairs(y)
    assert s[0, 1] == 1 and s[0, 2] == 0 and s[1, 2] == 0 and s[3].sum() == 0
    keys = rarest_label_keys(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.float32))
    assert keys.tolist() == [1, 0, 3]  # label 1 is rarer than label 0; empty row → 3


def test_auto_says_why_per_kind() -> None:
    reg = choose_strategy("auto", modality="text", counts={"score": 60}, budget=None,
                          params=22_700_000, kind="regression", n=60)  # fmt: skip
    assert reg.strategy == "probe" and "contrastive pairs need classes" in reg.reason
    big = choose_strategy("auto", modality="text", counts={"score": 900}, budget=None,
                          params=22_700_000, kind="regression", n=900)  # fmt: skip
    assert big.strategy == "full" and "900 targets" in big.reason
    ml = choose_strategy("auto", modality="text", counts={"a": 30, "b": 12}, budget=None,
                         params=22_700_000, kind="multi-label", n=35)  # fmt: skip
    assert ml.strategy == "contrastive" and "pairs share a label" in ml.reason
    # n is the number of rows, not the sum of label counts
    assert (
        ml.estimated_seconds
        == choose_strategy(
            "contrastive", modality="text", counts={"x": 35}, budget=None, params=22_700_000
        ).estimated_seconds
    )


def test_auto_base_falls_back_on_a_task_rank_does_not_score(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from transferkit.data.datasets import load_labelled
    from transferkit.select import rank
    from transferkit.workflows.autobase import choose_base

    monkeypatch.setattr(rank, "SUPPORTED_TASKS", ("single-label",))  # a rank before issue 16
    choice = choose_base(load_labelled(tags(20)))
    assert choice.chosen_by == "default" and choice.ref == "minilm-l6"
    assert "does not score multi-label data yet" in choice.reason


def test_bad_options_name_the_fix(tiny_bert: str) -> None:
    with pytest.raises(InputError, match="class_weight='heavy'"):
        fit(tags(20), base=tiny_bert, strategy="probe", class_weight="heavy", progress=False)
    with pytest.raises(InputError, match="a regression target has none"):
        fit(scores(20), base=tiny_bert, strategy="probe", class_weight="balanced",
            progress=False)  # fmt: skip
    with pytest.raises(InputError, match="regression_loss='l1'"):
        fit(scores(20), base=tiny_bert, strategy="probe", regression_loss="l1", progress=False)


def test_old_folders_load_as_single_label(tiny_bert: str, tmp_path: Path) -> None:
    from transferkit.models.factory import load_model

    texts = ["good film", "bad film", "great film", "awful film"] * 3
    labels = ["pos", "neg", "pos", "neg"] * 3
    fit((texts, labels), base=tiny_bert, strategy="probe", out=tmp_path / "m", progress=False)
    cfg_path = tmp_path / "m" / "transferkit.json"
    cfg = json.loads(cfg_path.read_text())
    assert cfg["problem"] == {"kind": "single-label"}
    del cfg["problem"]
    cfg_path.write_text(json.dumps(cfg))
    clf = load_model(tmp_path / "m")
    assert clf.problem.kind == "single-label" and clf.head_linear().out_features == 2


def test_balanced_weights_match_scikit_learn() -> None:
    from sklearn.utils.class_weight import compute_class_weight

    from transferkit.core.objectives import objective_for

    y = np.array([0, 0, 0, 1, 2, 2])
    o = objective_for("single-label", y, n_classes=3, class_weight="balanced")
    want = compute_class_weight("balanced", classes=np.arange(3), y=y)
    np.testing.assert_allclose(o.class_weight, want, rtol=1e-6)
    m = objective_for("multi-label", np.array([[1, 0], [0, 0], [0, 0], [0, 1]], "f4"),
                      class_weight="balanced")  # fmt: skip
    assert m.pos_weight.tolist() == [3.0, 3.0]
    # the weighted BCE matches torch's own formula on a hand-made batch
    logits, t = torch.tensor([[0.3, -1.0]]), torch.tensor([[1.0, 0.0]])
    manual = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, t, pos_weight=torch.tensor([3.0, 3.0])
    )
    assert float(m.loss(logits, t)) == pytest.approx(float(manual))


def test_cli_task_options(tiny_bert: str, tmp_path: Path) -> None:
    import pandas as pd
    import typer
    from typer.testing import CliRunner

    from transferkit.cli.fit import register

    app = typer.Typer()
    register(app)
    texts, ys = scores(60)  # >= 50 rows: a validation part is held out
    ints = [int(round(y)) for y in ys]
    pd.DataFrame({"text": texts, "score": ints}).to_csv(tmp_path / "r.csv", index=False)
    runner = CliRunner()
    args = ["fit", str(tmp_path / "r.csv"), "--base", tiny_bert, "--strategy", "probe", "--json"]
    res = runner.invoke(app, [*args, "--task", "regression", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["task"] == {
        "kind": "regression",
        "how": "given",
        "reason": "task 'regression' given for column 'score'",
    }
    assert set(out["eval"]) == {"spearman", "pearson", "mae", "rmse", "r2", "n"}
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "c")])  # integers: classes
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["task"]["kind"] == "single-label" and "--task regression" in out["task"]["reason"]
    t2, labs = tags(40)
    pd.DataFrame({"text": t2, "labels": [x.replace("|", ";") for x in labs]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    res = runner.invoke(
        app,
        ["fit", str(tmp_path / "m.csv"), "--base", tiny_bert, "--strategy", "probe",
         "--label-sep", ";", "--class-weight", "balanced", "--out", str(tmp_path / "m")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "task multi-label (inferred)" in res.output and "joined with ';'" in res.output
    res = runner.invoke(app, [*args, "--task", "ranking", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "not one of single-label, multi-label, regression" in res.output
    assert "Traceback" not in res.output
