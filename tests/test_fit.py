"""Unit tests of `transferkit.adapt.fit` / `evaluate` and the CLI, on a tiny 2-layer BERT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from transferkit import evaluate, fit
from transferkit.core.strategies import choose_strategy
from transferkit.errors import DataError, FileMissingError, InputError

POS = ["good", "great", "lovely", "superb", "wonderful", "fine", "nice", "excellent"]
NEG = ["bad", "awful", "boring", "dull", "terrible", "poor", "ugly", "horrible"]


@pytest.fixture()
def tiny_bert(tiny_bert_dir: Path) -> str:
    """The session's 2-layer, 32-wide BERT (conftest) with the MiniLM tokenizer; fit
    only reads the base folder, so no per-test copy is needed."""
    return str(tiny_bert_dir)


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "cache"))


def toy(n: int = 24, seed: int = 0) -> tuple[list[str], list[str]]:
    """Separable sentiment-like texts: n per class."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        texts.append(f"{rng.choice(POS)} {rng.choice(POS)} film {i}")
        labels.append("pos")
        texts.append(f"{rng.choice(NEG)} {rng.choice(NEG)} film {i}")
        labels.append("neg")
    return texts, labels


def test_probe_learns_saves_and_caches(tiny_bert: str, tmp_path: Path) -> None:
    from transferkit.models.factory import load_model
    from transferkit.pipelines import pipeline

    data, held_out = toy(20), toy(10, seed=1)
    r = fit(
        data, eval=held_out, base=tiny_bert, strategy="probe", out=tmp_path / "m", progress=False
    )
    assert r.strategy == "probe" and r.feature_cache == "miss"
    assert r.eval is not None and r.eval["accuracy"] >= 0.8
    cfg = json.loads((tmp_path / "m" / "transferkit.json").read_text())
    for key in (
        "base",
        "strategy",
        "reason",
        "labels",
        "hyperparameters",
        "metrics",
        "data",
        "versions",
    ):
        assert key in cfg, key
    assert cfg["labels"] == ["neg", "pos"] and "C" in cfg["hyperparameters"]
    # the saved folder answers like the fitted model
    clf = load_model(tmp_path / "m")
    batch = clf.preprocess(data[0][:5])
    with torch.no_grad():
        np.testing.assert_allclose(clf(batch).numpy(), r.model(batch).numpy(), atol=1e-5)
    out = pipeline("text-classification", model=str(tmp_path / "m"))(
        ["good great film", "awful bad film"]
    )
    assert [o["label"] for o in out] == ["pos", "neg"]
    # second fit on the same data reads the features from the cache
    r2 = fit(data, eval=held_out, base=tiny_bert, strategy="probe", progress=False)
    assert r2.feature_cache == "hit"
    assert r2.eval["accuracy"] == r.eval["accuracy"]


def test_gradient_strategies_train_and_round_trip(tiny_bert: str, tmp_path: Path) -> None:
    from transferkit.models.factory import load_model

    data = toy(12)
    for strategy in ("partial", "full", "lora"):
        r = fit(
            data,
            base=tiny_bert,
            strategy=strategy,
            epochs=3,
            lr=3e-3,
            batch_size=8,
            out=tmp_path / strategy,
            progress=False,
            patience=None,
        )
        assert r.strategy == strategy and len(r.history) == 3
        if strategy == "lora":  # adapters start at B = 0; training must move them
            lora_b = [p for n, p in r.model.named_parameters() if "lora_B" in n]
            assert lora_b and any(float(p.detach().abs().sum()) > 0 for p in lora_b)
        else:
            assert r.history[-1]["loss"] < r.history[0]["loss"], (strategy, r.history)
        clf = load_model(tmp_path / strategy)
        batch = clf.preprocess(data[0][:4])
        with torch.no_grad():
            np.testing.assert_allclose(clf(batch).numpy(), r.model(batch).numpy(), atol=1e-5)
    cfg = json.loads((tmp_path / "lora" / "transferkit.json").read_text())
    assert "lora" in cfg and not any(t.startswith("backbone.") for t in cfg["tensors"])
    assert json.loads((tmp_path / "partial" / "transferkit.json").read_text())["body"] == "partial"


def test_a_new_head_on_a_tuned_body_does_not_reuse_the_base_features(
    tiny_bert: str, tmp_path: Path
) -> None:
    """A probe on a LoRA-tuned folder whose head does not fit the data (a new head) must
    encode through the tuned body: the plain base's cached features of the same texts
    are other features (they once were reused, and a regression probe on them was off
    in scale)."""
    from transferkit.adapt.base import attach_head, load_base
    from transferkit.core.cache import model_identity

    fit(toy(12), base=tiny_bert, strategy="lora", epochs=2, lr=3e-3, batch_size=8,
        out=tmp_path / "tuned", progress=False, patience=None)  # fmt: skip
    texts, labels = toy(10, seed=1)
    other = (texts, ["a" if lab == "pos" else "b" for lab in labels])  # not the head's labels
    plain = fit(other, base=tiny_bert, strategy="probe", progress=False)
    assert plain.feature_cache == "miss"
    tuned = fit(other, base=str(tmp_path / "tuned"), strategy="probe", progress=False)
    assert tuned.feature_cache == "miss"  # the base's entry is not the tuned body's
    again = fit(other, base=str(tmp_path / "tuned"), strategy="probe", progress=False)
    assert again.feature_cache == "hit"  # but the tuned body's own entry is reused
    base = load_base(str(tmp_path / "tuned"))
    start = attach_head(base, ["a", "b"], None)
    assert model_identity(start.clf) == model_identity(base.source)
    assert model_identity(start.clf) != model_identity(load_base(tiny_bert).backbone)


def test_contrastive_and_auto(tiny_bert: str, tmp_path: Path) -> None:
    from transferkit.models.factory import load_model

    data = toy(8)
    r = fit(data, base=tiny_bert, out=tmp_path / "c", progress=False)
    assert r.strategy == "contrastive" and "few labels" in r.reason
    assert r.hyperparameters["contrastive_steps"] >= 1 and r.hyperparameters["pairs"] > 100
    # the tiny BERT has 2 layers: both tuned from cached embeddings, which stay frozen
    assert r.hyperparameters["top_layers"] == 2
    cfg = json.loads((tmp_path / "c" / "transferkit.json").read_text())
    assert cfg["body"] == "partial" and not any("embeddings" in t for t in cfg["tensors"])
    clf = load_model(tmp_path / "c")
    batch = clf.preprocess(data[0][:4])
    with torch.no_grad():
        np.testing.assert_allclose(clf(batch).numpy(), r.model(batch).numpy(), atol=1e-5)
    r = fit(toy(2), base=tiny_bert, progress=False)
    assert r.strategy == "probe" and "too few" in r.reason


def test_same_seed_same_model(tiny_bert: str) -> None:
    data = toy(6)
    a = fit(data, base=tiny_bert, strategy="full", epochs=2, lr=1e-3, seed=3, progress=False)
    b = fit(data, base=tiny_bert, strategy="full", epochs=2, lr=1e-3, seed=3, progress=False)
    wa, wb = a.model.head_linear().weight, b.model.head_linear().weight
    assert torch.equal(wa, wb)


def test_source_head_kept_or_dropped(tiny_bert: str, tmp_path: Path) -> None:
    texts, labels = toy(8)
    fit(
        (texts, [x.upper() for x in labels]),
        base=tiny_bert,
        strategy="probe",
        out=tmp_path / "src",
        progress=False,
    )
    r = fit(
        (texts, labels),
        eval=toy(6, seed=1),
        base=str(tmp_path / "src"),
        strategy="probe",
        progress=False,
    )
    # the kept head, reordered to the data's labels, scores as the source model does
    assert r.zero_shot is not None and r.zero_shot["accuracy"] > 0.6
    assert r.zero_shot["accuracy"] == evaluate(tmp_path / "src", toy(6, seed=1))["accuracy"]
    assert any("kept the source head" in s for s in r.summary)
    three = (texts + ["neutral film"] * 4, labels + ["mid"] * 4)
    r = fit(three, base=str(tmp_path / "src"), strategy="probe", progress=False)
    assert r.zero_shot is None and any("dropped the source head" in s for s in r.summary)


def test_cli_fit_and_evaluate_json(tiny_bert: str, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from transferkit.cli.fit import register

    app = typer.Typer()
    register(app)
    texts, labels = toy(12)
    pd.DataFrame({"sentence": texts, "target": labels}).to_csv(tmp_path / "tr.csv", index=False)
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "fit",
            str(tmp_path / "tr.csv"),
            "--base",
            tiny_bert,
            "--strategy",
            "probe",
            "--out",
            str(tmp_path / "m"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(out) == {
        "model_dir",
        "base",
        "task",
        "strategy",
        "reason",
        "base_reason",
        "train_seconds",
        "eval",
        "device",
        "engine",
        "workers",
    }
    assert (out["device"], out["engine"], out["workers"]) == ("cpu", "local", 1)
    assert set(out["eval"]) == {"accuracy", "macro_f1", "n"}
    assert out["task"]["kind"] == "single-label" and out["task"]["how"] == "inferred"
    res = runner.invoke(app, ["evaluate", out["model_dir"], str(tmp_path / "tr.csv"), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(rep) == {"accuracy", "macro_f1", "n", "per_class", "confusion"} and rep["n"] == 24
    res = runner.invoke(app, ["fit", str(tmp_path / "tr.csv"), "--label-column", "stars"])
    assert res.exit_code == 2 and "columns are: sentence, target" in res.output


# ---------------------------------------------------------------- bad input


def test_bad_inputs(tiny_bert: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(DataError, match="2 classes"):
        fit((["a", "b", "c"], ["x", "x", "x"]), base=tiny_bert, progress=False)
    with pytest.raises(DataError, match="single example"):
        fit((["a", "b", "c"], ["x", "x", "y"]), base=tiny_bert, progress=False)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        fit(tmp_path / "empty.csv", base=tiny_bert, progress=False)
    with pytest.raises(FileMissingError):
        fit(tmp_path / "nope.csv", base=tiny_bert, progress=False)
    (tmp_path / "latin.csv").write_bytes("text,label\ncaf\xe9 ok,pos\nbad,neg\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        fit(tmp_path / "latin.csv", base=tiny_bert, progress=False)
    texts, labels = toy(6)
    with pytest.raises(DataError, match="never occur in training"):
        fit((texts, labels), eval=(["x", "y"], ["pos", "meh"]), base=tiny_bert, progress=False)
    with pytest.raises(InputError, match="budget"):
        fit((texts, labels), base=tiny_bert, budget=0.001, progress=False)
    with pytest.raises(InputError, match="strategy="):
        fit((texts, labels), base=tiny_bert, strategy="magic", progress=False)
    # NaN labels and duplicate rows: dropped / kept with a warning giving the count
    df = pd.DataFrame(
        {
            "text": texts + ["no label", "no label 2"] + texts[:3],
            "label": labels + [None, float("nan")] + labels[:3],
        }
    )
    with caplog.at_level("WARNING"):
        r = fit(df, base=tiny_bert, strategy="probe", progress=False)
    assert any("dropped 2 row(s) with an empty or NaN label" in s for s in r.summary)
    assert any("3 duplicate row(s)" in s for s in r.summary)


def test_bad_image_inputs(tmp_path: Path) -> None:
    from transferkit.data.datasets import load_labelled

    (tmp_path / "imgs" / "cats").mkdir(parents=True)
    (tmp_path / "imgs" / "cats" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="no image files"):
        load_labelled(tmp_path / "imgs")
    from PIL import Image

    for c in ("cats", "dogs"):
        (tmp_path / "imgs" / c).mkdir(exist_ok=True)
        for i in range(2):
            Image.new("RGB", (8, 8), (i * 90, 0, 0)).save(tmp_path / "imgs" / c / f"{i}.jpg")
    (tmp_path / "imgs" / "dogs" / "broken.jpg").write_bytes(b"not a jpeg")
    d = load_labelled(tmp_path / "imgs")
    assert len(d) == 4 and any("skipped 1 unreadable image(s): broken.jpg" in n for n in d.notes)
    with pytest.raises(InputError, match="partial"):
        choose_strategy("lora", modality="image", counts={"a": 5, "b": 5}, budget=None, params=10)


# ---------------------------------------------------------------- resume


RUNNER = """
import os, signal, sys, time, typer
# Ctrl-C as a terminal gives it: Python's handler, even if the parent (the test runner, after
# some earlier test) had SIGINT ignored — an ignored SIGINT is inherited and Python keeps it
signal.signal(signal.SIGINT, signal.default_int_handler)
from transferkit.core import loop
from transferkit.cli.fit import register
if os.environ.get("TK_TEST_PAUSE"):  # hold still after the first checkpoint, to be interrupted
    save = loop.Checkpoint.on_epoch_end
    def paused(self, state):
        save(self, state)
        # short sleeps: a SIGINT the kernel hands to one of torch's worker threads only
        # sets Python's flag, which the main thread checks between sleeps (one long
        # sleep would run to its end first, and the test would time out)
        for _ in range(1200):
            time.sleep(0.1)
    loop.Checkpoint.on_epoch_end = paused
app = typer.Typer()
register(app)
@app.command("noop")
def noop() -> None: ...
app(sys.argv[1:])
"""


def test_interrupt_keeps_model_and_rerun_resumes(tiny_bert: str, tmp_path: Path) -> None:
    """Ctrl-C after the first epoch's checkpoint: exit 130, the old model folder is
    untouched, and the same command run again resumes from the checkpoint."""
    texts, labels = toy(20)
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "tr.csv", index=False)
    out = tmp_path / "model"
    fit((texts, labels), base=tiny_bert, strategy="probe", out=out, progress=False)
    assert json.loads((out / "transferkit.json").read_text())["strategy"] == "probe"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    script = tmp_path / "cli.py"
    script.write_text(RUNNER)
    cmd = [
        sys.executable,
        str(script),
        "fit",
        str(tmp_path / "tr.csv"),
        "--base",
        tiny_bert,
        "--out",
        str(out),
        "--overwrite",  # out holds the probe model fitted above
        "--json",
        "--no-progress",
        "--strategy",
        "full",
        "--epochs",
        "2",
        "--lr",
        "1e-3",
        "--batch-size",
        "8",
    ]
    proc = subprocess.Popen(
        cmd,
        env={**env, "TK_TEST_PAUSE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    state = Path(f"{out}.checkpoint") / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert state.exists(), proc.communicate()[1][-2000:]
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:  # a hung child must not outlive the test (its open pipes would warn later)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err[-2000:]
    assert "resume" in err
    # the model folder that was there is untouched
    assert json.loads((out / "transferkit.json").read_text())["strategy"] == "probe"
    assert json.loads(state.read_text())["state"]["epoch"] == 1
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "resuming from checkpoint" in res.stderr and "after epoch 1" in res.stderr
    cfg = json.loads((out / "transferkit.json").read_text())
    assert cfg["strategy"] == "full" and not Path(f"{out}.checkpoint").exists()


def _digit_images(n_per_class: int, classes: int = 10) -> Any:
    from PIL import Image
    from sklearn.datasets import load_digits

    from transferkit.data.datasets import LabelledData

    d = load_digits()
    keep = [i for c in range(classes) for i in np.flatnonzero(d.target == c)[:n_per_class]]
    imgs = [Image.fromarray((d.images[i] / 16 * 255).astype(np.uint8)).convert("RGB") for i in keep]
    return LabelledData(imgs, [str(d.target[i]) for i in keep], "image", "digits")


@pytest.mark.integration
def test_fit_and_fingerprint_in_memory_images(tmp_path: Path) -> None:
    """PIL images held in memory (here sklearn's bundled digits) are fit data like files:
    the feature-cache fingerprint reads their pixels (it used to treat them as paths)."""
    from transferkit.data.datasets import LabelledData
    from transferkit.workflows.fit import fit

    data = _digit_images(12, classes=3)
    imgs, labels = data.items, data.labels
    other = LabelledData([imgs[1], *imgs[1:]], labels, "image", "digits")
    assert data.fingerprint() == LabelledData(list(imgs), labels, "image", "x").fingerprint()
    assert data.fingerprint() != other.fingerprint()  # one image differs
    r = fit(data, base="mobilenet-v2", strategy="probe", out=tmp_path / "m", progress=False)
    assert r.feature_cache == "miss" and r.eval is not None and r.eval["n"] > 0
    assert fit(data, base="mobilenet-v2", strategy="probe", progress=False).feature_cache == "hit"


@pytest.mark.integration
def test_fine_tune_moves_batchnorm_statistics_to_the_new_data() -> None:
    """EfficientNet-Lite ships BatchNorm momentum 0.01 (TF's decay 0.99): over a small
    fine-tune its running statistics stayed ImageNet's while the weights moved on, and
    validation collapsed (lite0 on 200 sklearn digits: 0.20, now 0.83; BENCHMARKS.md). After fit,
    the stem's running mean must be the digits' own batch mean under the final weights."""
    from transferkit.models.factory import load_backbone
    from transferkit.workflows.fit import fit

    data = _digit_images(6, classes=4)
    r = fit(
        data,
        base="efficientnet-lite0",
        strategy="full",
        epochs=2,
        batch_size=4,
        patience=None,
        val_fraction=0.25,
        progress=False,
    )
    clf = r.model
    stem_bn = next(m for m in clf.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert stem_bn.momentum == pytest.approx(0.01)  # the model's own setting is restored
    seen: list[torch.Tensor] = []
    hook = stem_bn.register_forward_hook(lambda m, i, o: seen.append(i[0].mean((0, 2, 3))))
    with torch.no_grad():
        clf.backbone(clf.backbone.preprocess(data.items))
    hook.remove()
    true_mean, running = seen[0], stem_bn.running_mean
    source = load_backbone("efficientnet-lite0")
    pretrained = next(
        m for m in source.modules() if isinstance(m, torch.nn.BatchNorm2d)
    ).running_mean
    err_now = float((running - true_mean).norm() / true_mean.norm())
    err_pretrained = float((pretrained - true_mean).norm() / true_mean.norm())
    assert err_now < 0.35 * err_pretrained, (err_now, err_pretrained)


def test_best_epoch_restores_batchnorm_buffers_with_the_weights() -> None:
    """run_loop keeps the best epoch's weights; BatchNorm running statistics belong to
    them and must come back too (they used to stay the last epoch's)."""
    from transferkit.core.loop import LoopConfig, run_loop

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2))
    x, yv = torch.randn(32, 3) * 5 + 2, torch.randint(0, 2, (32,))
    scores = iter([0.9, 0.1, 0.2])  # epoch 1 is best
    snaps: list[torch.Tensor] = []

    def validate() -> float:
        snaps.append(net[1].running_mean.clone())
        return next(scores)

    run_loop(
        net,
        lambda e: [list(range(0, 16)), list(range(16, 32))],
        lambda idx: torch.nn.functional.cross_entropy(net(x[idx]), yv[idx]),
        [{"params": list(net.parameters()), "lr": 0.1}],
        LoopConfig(epochs=3, seed=0),
        validate=validate,
    )
    assert not torch.equal(snaps[0], snaps[2])
    assert torch.equal(net[1].running_mean, snaps[0])


def test_supcon_term_penalises_a_nearest_neighbour_from_the_other_class() -> None:
    from transferkit.adapt.contrastive import cosine_pair_loss, pair_loss, supcon_loss

    y = torch.tensor([0, 0, 1, 1])
    clean = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    # example 1 is now nearer to class 1 than to its own class mate
    mixed = torch.tensor([[1.0, 0.0], [0.3, 1.0], [0.0, 1.0], [0.1, 0.9]])
    assert supcon_loss(mixed, y, 0.1) > supcon_loss(clean, y, 0.1) + 1.0
    assert pair_loss(mixed, y) > pair_loss(clean, y)
    # the combined loss is the cosine loss plus a tenth of SupCon
    want = cosine_pair_loss(mixed, y) + 0.1 * supcon_loss(mixed, y, 0.1)
    assert torch.allclose(pair_loss(mixed, y), want)
    # an example alone in its class has no positive: skipped, not NaN
    lone = supcon_loss(torch.randn(3, 2, requires_grad=True), torch.tensor([0, 0, 1]), 0.1)
    lone.backward()
    assert torch.isfinite(lone)


def test_partial_on_a_lora_folder_saves_the_merged_adapter_of_frozen_layers(
    tiny_bert: str, tmp_path: Path
) -> None:
    """partial / contrastive merge a LoRA base's adapter into every layer, then tune only
    the top: the frozen lower layers hold adapter deltas too, so the folder must carry
    the whole body (it once saved only the tuned layers and reloaded a different model)."""
    from transferkit.models.factory import load_model

    fit(toy(12), base=tiny_bert, strategy="lora", epochs=2, lr=3e-2, batch_size=8,
        out=tmp_path / "tuned", progress=False, patience=None)  # fmt: skip
    texts, labels = toy(10, seed=1)
    other = (texts, ["a" if lab == "pos" else "b" for lab in labels])  # a new head
    r = fit(other, base=str(tmp_path / "tuned"), strategy="partial", freeze_groups=2,
            epochs=1, batch_size=8, out=tmp_path / "p", progress=False, patience=None)  # fmt: skip
    saved = load_model(tmp_path / "p")
    batch = saved.preprocess(texts[:6])
    with torch.no_grad():
        np.testing.assert_allclose(saved(batch).numpy(), r.model(batch).numpy(), atol=1e-5)
    assert json.loads((tmp_path / "p" / "transferkit.json").read_text())["body"] == "full"


def test_contrastive_tunes_every_layer_only_for_many_classes_with_many_examples() -> None:
    from transferkit.core.strategies import contrastive_top_layers

    assert contrastive_top_layers(5, 64, 6) == 6  # sst5 at 64/class
    assert contrastive_top_layers(6, 32, 6) == 6
    assert contrastive_top_layers(6, 8, 6) == 3  # trec at 8/class
    assert contrastive_top_layers(2, 64, 6) == 3  # sst2 / cr at 64/class
    assert contrastive_top_layers(5, 64, 2) == 2 and contrastive_top_layers(2, 8, 2) == 2
