"""Tests of `transferkit compare`: learning-curve planning, the warning rules, bad input,
the reference sample of the domain-gap check, frozen-feature reuse, and a whole
comparison on a tiny BERT (run once per module, checked by several tests) whose report
must render in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from transferkit.errors import DataError, FileMissingError, InputError
from transferkit.evaluation.curves import curve_point, parse_sizes, plan_sizes, subsample_per_class
from transferkit.evaluation.stats import mean_ci
from transferkit.evaluation.warnings import decision_ci, transfer_warnings


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """One thread for torch and for BLAS/OpenMP: these models are tiny, and on a shared
    2-core machine spinning thread pools made the tiny-BERT comparison 5x slower (82 s ->
    16 s wall, 33 -> 8 s CPU, measured at load 10). Results do not depend on it."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


# --- learning-curve planning ------------------------------------------------------------


def test_parse_sizes():
    assert parse_sizes("128, 8,all,32,8") == [8, 32, 128, "all"]
    assert parse_sizes(None) == [] and parse_sizes("") == []
    with pytest.raises(InputError, match=r"'-3'.*8,32,128,all"):
        parse_sizes("8,-3")
    with pytest.raises(InputError, match="'many'"):
        parse_sizes("many")


def test_plan_sizes_says_what_cannot_be_measured():
    ok, skipped = plan_sizes({"a": 40, "b": 12}, [1, 8, 12, 32, "all"])
    assert ok == [8, "all"]
    whys = {s["what"]: s["why"] for s in skipped}
    assert "fewer than 2" in whys["learning_curve size 1 per class"]
    assert "('b') has only 12" in whys["learning_curve size 12 per class"]
    assert "('b') has only 12" in whys["learning_curve size 32 per class"]


def test_subsample_per_class_is_stratified_and_seeded():
    from transferkit.data.datasets import load_labelled

    data = load_labelled(([f"t{i}" for i in range(30)], ["a"] * 20 + ["b"] * 10))
    one = subsample_per_class(data, 4, seed=1)
    assert one.counts() == {"a": 4, "b": 4}
    assert subsample_per_class(data, 4, seed=1).items == one.items
    assert subsample_per_class(data, 4, seed=2).items != one.items
    with pytest.raises(InputError, match="'b' has only 10"):
        subsample_per_class(data, 11, seed=0)


def test_curve_point():
    p = curve_point(8, 16, 2, {"transfer": [0.8, 0.9], "scratch": []})
    assert p["size"] == 16 and p["per_class"] == 8 and p["scratch"] is None
    assert p["transfer"]["mean"] == pytest.approx(0.85) and p["transfer"]["values"] == [0.8, 0.9]


# --- the warning rules ------------------------------------------------------------------


def test_decision_ci_covers_evaluation_noise():
    ci = decision_ci([0.80, 0.80, 0.80], n_eval=100)  # deterministic across seeds
    assert ci["seed_half_width"] == pytest.approx(0.0, abs=1e-12)
    assert ci["eval_half_width"] == pytest.approx(1.96 * (0.8 * 0.2 / 100) ** 0.5)
    assert ci["low"] == pytest.approx(0.8 - ci["eval_half_width"])
    spread = decision_ci([0.5, 0.7, 0.9], n_eval=10_000)  # seeds dominate
    assert spread["high"] - spread["low"] == pytest.approx(
        mean_ci([0.5, 0.7, 0.9])["high"] - mean_ci([0.5, 0.7, 0.9])["low"]
    )
    assert decision_ci([0.8], 100)["interval_defined"] is False


def _result(transfer, scratch, classical, n_eval=500, **extra):
    def method(accs, **kw):
        return {"accuracy": sum(accs) / len(accs), "ci": decision_ci(accs, n_eval), **kw}

    return {
        "task": {"head": "new"},
        "transfer": method(transfer, strategy="full"),
        "scratch": method(scratch),
        "classical": method(classical),
        **extra,
    }


def test_warning_fires_for_negative_transfer_and_stays_quiet_when_transfer_wins():
    bad = transfer_warnings(_result([0.60, 0.61, 0.62], [0.40, 0.41, 0.42], [0.90, 0.91, 0.90]))
    assert [w["kind"] for w in bad] == ["negative_transfer"]
    assert bad[0]["against"] == "classical" and "worse than the classical" in bad[0]["message"]
    assert "keep the classical model" in bad[0]["advice"] and "another base" in bad[0]["advice"]
    good = transfer_warnings(_result([0.90, 0.91, 0.92], [0.50, 0.52, 0.51], [0.70, 0.71, 0.70]))
    assert good == []


def test_warning_for_no_clear_gain_and_for_one_seed():
    close = transfer_warnings(_result([0.80, 0.81, 0.80], [0.50] * 3, [0.79, 0.80, 0.80]))
    assert [(w["kind"], w["against"]) for w in close] == [("no_clear_gain", "classical")]
    assert "beyond noise" in close[0]["message"]
    one = transfer_warnings(_result([0.9], [0.5], [0.6]))
    assert [w["kind"] for w in one] == ["too_few_seeds"] and "--seeds 3" in one[0]["advice"]


def test_warning_cause_uses_the_domain_gap_and_flags_overfitting():
    r = _result(
        [0.60, 0.61, 0.62],
        [0.40] * 3,
        [0.90] * 3,
        domain_gap={"a_distance": 1.8, "reference": "ImageNet sample"},
    )
    r["transfer"].update(train_accuracy=1.0, overfit_gap=0.39)
    kinds = [w["kind"] for w in transfer_warnings(r)]
    assert kinds == ["negative_transfer", "overfitting", "domain_gap"]
    assert "proxy A-distance 1.80" in transfer_warnings(r)[0]["cause"]


# --- bad input --------------------------------------------------------------------------

TEXTS = [f"good thing {i}" for i in range(12)] + [f"bad thing {i}" for i in range(12)]
LABELS = ["pos"] * 12 + ["neg"] * 12


def test_report_in_missing_folder_fails_before_any_training(tmp_path):
    from transferkit.workflows.compare import compare

    t0 = time.time()
    with pytest.raises(FileMissingError, match=r"mkdir -p .*nope"):
        compare((TEXTS, LABELS), base="minilm-l6", report=tmp_path / "nope" / "r.html")
    with pytest.raises(FileMissingError, match="JSON result"):
        compare((TEXTS, LABELS), json_path=tmp_path / "nope" / "r.json")
    with pytest.raises(InputError, match="is a folder"):
        compare((TEXTS, LABELS), report=tmp_path)
    assert time.time() - t0 < 5  # nothing was loaded or trained


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"seeds": 0}, InputError, "seeds=0"),
        ({"budget": -1.0}, InputError, "budget=-1.0"),
        ({"sizes": "8,x"}, InputError, "'x'"),
    ],
)
def test_compare_rejects_bad_arguments(kwargs, error, match):
    from transferkit.workflows.compare import compare

    with pytest.raises(error, match=match):
        compare((TEXTS, LABELS), **kwargs)


def test_compare_without_eval_needs_enough_data(tiny_bert):
    from transferkit.workflows.compare import compare

    with pytest.raises(DataError, match="--eval"):
        compare((TEXTS[:4] + TEXTS[12:16], LABELS[:4] + LABELS[12:16]), base=str(tiny_bert))


def test_a_budget_is_shared_so_every_method_has_a_figure(tiny_bert):
    """The first transfer run may not take the whole budget: the classical baseline runs
    first (seconds) and transfer gets at most TRANSFER_SHARE of what is left, so scratch
    keeps a share too and every column has a figure."""
    from transferkit.workflows.compare import TRANSFER_SHARE, compare

    words = {"pos": ["good", "great", "fine", "superb"], "neg": ["bad", "awful", "dull", "poor"]}
    rows = [
        (f"{w} film number {i}", lab) for lab, ws in words.items() for i in range(20) for w in ws
    ]
    texts, labels = [t for t, _ in rows], [lab for _, lab in rows]
    budget = 600.0
    r = compare(
        (texts, labels), eval=(texts[::4], labels[::4]), base=str(tiny_bert), strategy="full",
        epochs=2, seeds=1, sizes=None, budget=budget,
    )  # fmt: skip
    skipped = {s["what"]: s["why"] for s in r["skipped"]}
    assert r["classical"] is not None and r["scratch"] is not None, skipped
    run = r["transfer"]["runs"][0]
    assert 0 < run["budget_seconds"] <= TRANSFER_SHARE * budget


# --- the reference sample of the domain-gap check (no labels needed) --------------------


def _png(path: Path, value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path)


def test_reference_text_needs_no_label_column(tmp_path):
    from transferkit.evaluation.reference import load_reference

    csv = tmp_path / "ref.csv"
    pd.DataFrame({"sentence": ["a film", "", "a song", "a book"]}).to_csv(csv, index=False)
    items, name = load_reference(csv, "text")
    assert items == ["a film", "a song", "a book"] and name == f"{csv} (3 texts)"
    txt = tmp_path / "ref.txt"
    txt.write_text("first line\n\nsecond line\n", encoding="utf-8")
    assert load_reference(txt, "text")[0] == ["first line", "second line"]
    frame = pd.DataFrame({"body": ["x", "y"], "stars": [1, 5]})
    assert load_reference(frame, "text", text_column="body") == (
        ["x", "y"],
        "the reference DataFrame (2 texts)",
    )
    assert load_reference((["t1", "t2"], ["a", "b"]), "text")[0] == ["t1", "t2"]
    items, name = load_reference(None, "text")
    assert len(items) >= 100 and "generic English" in name
    with pytest.raises(DataError, match=r"no text column found.*columns are: stars"):
        load_reference(pd.DataFrame({"stars": [1, 2], "votes": [3, 4]}), "text")
    with pytest.raises(InputError, match="is a folder; for a text base"):
        load_reference(tmp_path, "text")
    with pytest.raises(FileMissingError, match="does not exist"):
        load_reference(tmp_path / "nope.csv", "text")


def test_reference_images_with_or_without_class_folders(tmp_path):
    from transferkit.evaluation.reference import load_reference

    for i in range(3):
        _png(tmp_path / "flat" / f"{i}.png", 10 * i)
        _png(tmp_path / "nested" / "a" / f"{i}.png", 10 * i)
        _png(tmp_path / "nested" / "b" / "deeper" / f"{i}.jpg", 10 * i)
    (tmp_path / "flat" / "broken.png").write_bytes(b"not an image")
    (tmp_path / "flat" / "notes.txt").write_text("ignored")
    _png(tmp_path / "flat" / ".hidden" / "x.png", 0)
    items, name = load_reference(tmp_path / "flat", "image")
    assert [Path(p).name for p in items] == ["0.png", "1.png", "2.png"]
    assert name.endswith("(3 images)")
    assert len(load_reference(tmp_path / "nested", "image")[0]) == 6
    assert load_reference(None, "image")[0] is None
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.md").write_text("no images here")
    with pytest.raises(DataError, match="no readable images"):
        load_reference(tmp_path / "empty", "image")
    with pytest.raises(InputError, match="is a file; for an image base"):
        load_reference(tmp_path / "flat" / "0.png", "image")


def test_frozen_features_give_the_full_forward_logits_and_encode_once(tiny_bert_dir):
    import numpy as np

    from transferkit.core.inference import predict_logits
    from transferkit.evaluation.methods import FrozenFeatures
    from transferkit.models.classifier import Classifier
    from transferkit.models.factory import load_backbone

    clf = Classifier(load_backbone(str(tiny_bert_dir)), ["a", "b", "c"])
    frozen = FrozenFeatures()
    texts = [f"question number {i} about {'cats ' * (i % 4)}" for i in range(10)]
    got = frozen.logits(clf, texts)
    np.testing.assert_allclose(got, predict_logits(clf, texts), atol=1e-5)
    assert frozen.logits(clf, list(texts)) is not None and frozen.encoded == 10
    frozen.logits(clf, texts[:3])
    assert frozen.encoded == 13  # other items: encoded


# --- a whole comparison on a tiny BERT, run once for the checks below -------------------


def _trec(shared_data: Path, per_class: int, n_test: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.read_csv(shared_data / "text" / "trec" / "train.csv")
    keep = ["DESC", "HUM", "LOC"]
    train = train[train.label.isin(keep)].groupby("label").head(per_class)
    test = pd.read_csv(shared_data / "text" / "trec" / "test.csv")
    test = test[test.label.isin(keep)].sample(n_test, random_state=0)
    return train, test


@pytest.fixture(scope="module")
def e2e(tiny_bert_dir, shared_data, tmp_path_factory):
    """One comparison on a randomly initialised "pretrained" tiny BERT (nothing to
    transfer): full fine-tuning vs scratch vs TF-IDF, 2 seeds, a 2-point learning curve,
    report and JSON written. Runs in ~16 s wall at load 10 (8 s CPU)."""
    from transferkit.workflows.compare import compare

    out = tmp_path_factory.mktemp("e2e")
    train, test = _trec(shared_data, 20, 60)
    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is per test
        mp.setenv("TRANSFERKIT_CACHE", str(out / "tk-cache"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        r = compare(
            train, eval=test, base=str(tiny_bert_dir), strategy="full", seeds=2,
            sizes="4,all", epochs=2, scratch_epochs=2, report=out / "report.html",
            json_path=out / "r.json",
        )  # fmt: skip
    return r, out


@pytest.mark.integration
def test_compare_measures_every_section(e2e):
    r, _ = e2e
    task = r["task"]
    assert task["head"] == "new" and task["n_fit"] + task["n_val"] == 60 and task["n_eval"] == 60
    for key in ("transfer", "scratch", "classical"):
        m = r[key]
        assert len(m["runs"]) == 2 and 0 <= m["accuracy"] <= 1
        assert m["train_seconds"] > 0 and m["cpu_seconds"] > 0
        assert m["ci"]["interval_defined"] and m["confusion"]["labels"] == ["DESC", "HUM", "LOC"]
        assert m["overfit_gap"] == pytest.approx(m["train_accuracy"] - m["accuracy"])
    for key in ("transfer", "scratch"):
        curves = r[key]["curves"]
        assert curves["epoch"] == [1, 2] and len(curves["val_acc"]) == 2
    assert len(r["scratch"]["curves"]["train_acc"]) == 2 and len(r["scratch"]["epoch_seconds"]) == 2
    assert r["time_to_reach"]["scratch_best_val_accuracy"] == max(r["scratch"]["curves"]["val_acc"])
    assert [p["label"] for p in r["learning_curve"]] == ["4 per class", "all"]
    assert r["learning_curve"][0]["size"] == 12
    assert r["learning_curve"][0]["transfer"]["n"] == 2
    gap = r["domain_gap"]
    assert "generic English sample" in gap["reference"] and 0 <= gap["a_distance"] <= 2
    assert "zero_shot_accuracy" not in gap  # a bare encoder has no head to reuse


@pytest.mark.integration
def test_compare_warns_when_nothing_transfers(e2e):
    """TF-IDF reaches ~0.8 on these question types; the random tiny model stays near
    chance: the warning must say transfer did not beat the classical baseline."""
    r, _ = e2e
    assert r["classical"]["accuracy"] > 0.6
    assert any(
        w["kind"] in ("negative_transfer", "no_clear_gain") and w["against"] == "classical"
        for w in r["warnings"]
    ), r["warnings"]


@pytest.mark.integration
def test_compare_json_is_the_result(e2e):
    from transferkit.evaluation.report import to_jsonable

    r, out = e2e
    saved = json.loads((out / "r.json").read_text())
    assert saved == json.loads(json.dumps(to_jsonable(r), allow_nan=False))
    assert set(saved) >= {"transfer", "scratch", "classical", "learning_curve", "warnings"}


def chromium_plot_counts(chromium: Path, path: Path, profile: Path) -> tuple[int, int]:
    cmd = [
        str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--dump-dom", path.resolve().as_uri(),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    body = re.search(r"<body[^>]*>", done.stdout)
    assert body, f"no <body> in chromium output (rc={done.returncode}): {done.stderr[-2000:]}"
    ok = re.search(r'data-plots-ok="(\d+)"', body.group(0))
    total = re.search(r'data-plots-total="(\d+)"', body.group(0))
    assert ok and total, f"the inline check did not run: {body.group(0)}"
    shutil.rmtree(profile, ignore_errors=True)
    return int(ok.group(1)), int(total.group(1))


@pytest.mark.integration
def test_compare_report_renders_in_chromium(e2e, chromium, tmp_path):
    r, out = e2e
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "negative transfer" in text or "not better than" in text
    ok, total = chromium_plot_counts(chromium, out / "report.html", tmp_path / "profile")
    # comparison bars, learning curve, 2 train/validation curves, 3 confusion matrices
    assert total == 7 and ok == total


@pytest.mark.integration
def test_compare_small_data_and_budget_say_what_was_skipped(tiny_bert, shared_data):
    """6 examples a class: no validation split and no 8-per-class point; budget too small
    for further seeds; every omission listed with its reason."""
    from transferkit.workflows.compare import compare

    train, test = _trec(shared_data, 6, 30)
    r = compare(
        train, eval=test, base=str(tiny_bert), strategy="probe", seeds=40, sizes="8,32,all",
        scratch=False, budget=1.0,  # 40 seeds never fit in 1 s, however fast the machine
    )  # fmt: skip
    skipped = {s["what"]: s["why"] for s in r["skipped"]}
    assert "only 6" in skipped["learning_curve size 8 per class"]
    assert "only 6" in skipped["learning_curve size 32 per class"]
    assert "fewer than 2 sizes" in skipped["learning_curve"]
    assert "turned off" in skipped["scratch"]
    assert any(k.startswith("transfer seed") and "budget" in v for k, v in skipped.items())
    assert r["transfer"] is not None and r["learning_curve"] == []
    assert "no validation split" in " ".join(r["notes"])


@pytest.mark.integration
def test_cli_compare_json_with_a_text_only_reference(tiny_bert, shared_data, tmp_path):
    import typer
    from typer.testing import CliRunner

    from transferkit.cli.compare import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer in sub-command mode
        pass

    train, test = _trec(shared_data, 12, 30)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    (tmp_path / "ref.txt").write_text("\n".join(f"A sentence about topic {i}." for i in range(20)))
    args = ["compare", str(tmp_path / "train.csv"), "--eval", str(tmp_path / "test.csv")]
    args += ["--base", str(tiny_bert), "--strategy", "probe", "--seeds", "2", "--sizes", ""]
    args += ["--no-scratch", "--reference", str(tmp_path / "ref.txt"), "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["domain_gap"]["reference"] == f"{tmp_path / 'ref.txt'} (20 texts)"
    assert 0 <= out["domain_gap"]["a_distance"] <= 2 and out["scratch"] is None
    assert out["transfer"]["ci"]["n"] == 2 and out["classical"]["accuracy"] > 0
