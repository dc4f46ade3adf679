"""Issue 16, data: the task read from the label column (or given), label sets and numeric
targets, and one clear error for each kind of bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transferkit.data import targets
from transferkit.data.datasets import (
    check_eval_labels,
    check_trainable,
    load_labelled,
    stratified_split,
)
from transferkit.errors import DataError, InputError
from transferkit.models import problems


def test_kinds_agree_with_the_problem_module() -> None:
    assert targets.KINDS == problems.PROBLEMS


def test_separator_strings_infer_multi_label_and_targets_follow_classes(tmp_path: Path) -> None:
    f = tmp_path / "tags.csv"
    f.write_text("text,labels\nan mp3 player,works-with:audio|use:playing\nchess,use:gameplaying\n")
    d = load_labelled(f)
    assert d.task == "multi-label" and d.task_how == "inferred"
    assert "joined with '|'" in d.task_reason
    assert d.classes == ["use:gameplaying", "use:playing", "works-with:audio"]
    assert d.labels == [("use:playing", "works-with:audio"), ("use:gameplaying",)]
    y = d.targets()
    assert y.dtype == np.float32 and y.tolist() == [[0, 1, 1], [1, 0, 0]]
    assert d.counts() == {"use:gameplaying": 1, "use:playing": 1, "works-with:audio": 1}


def test_jsonl_lists_infer_multi_label_and_empty_sets_are_counted(tmp_path: Path) -> None:
    f = tmp_path / "t.jsonl"
    rows = [("a", ["x", "y"]), ("b", ["y"]), ("c", []), ("d", [])]
    f.write_text("\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows))
    d = load_labelled(f)
    assert d.task == "multi-label" and "lists of labels" in d.task_reason
    assert d.labels[2] == () and len(d) == 4
    assert any("2 of 4 row(s) have an empty label set" in n for n in d.notes)


def test_every_label_set_empty_is_an_error() -> None:
    with pytest.raises(DataError, match="every one of the 2 rows has an empty label set"):
        load_labelled((["a", "b"], [[], []]))


def test_custom_separator_and_given_task() -> None:
    d = load_labelled((["a", "b"], ["x,y", "y"]), label_sep=",")
    assert d.task == "multi-label" and d.classes == ["x", "y"]
    d = load_labelled((["a", "b"], ["x", "y"]), task="multi-label")
    assert d.task_how == "given" and d.labels == [("x",), ("y",)]
    with pytest.raises(InputError, match="label_sep"):
        load_labelled((["a", "b"], ["x", "y"]), label_sep="")
    with pytest.raises(InputError, match="not one of single-label, multi-label, regression"):
        load_labelled((["a", "b"], ["x", "y"]), task="ranking")
    with pytest.raises(InputError, match="holds lists of labels"):
        load_labelled((["a", "b"], [["x"], ["y"]]), task="single-label")


def test_float_target_infers_regression_and_integers_stay_classes() -> None:
    df = pd.DataFrame({"text": ["a", "b", "c"], "score": [0.5, 1.25, 3.0]})
    d = load_labelled(df)
    assert d.task == "regression" and d.classes == ["score"] and d.target_name == "score"
    assert d.targets().dtype == np.float32 and d.targets().tolist() == [0.5, 1.25, 3.0]
    ints = pd.DataFrame({"text": ["a", "b", "c"], "score": [0, 1, 4]})
    d = load_labelled(ints)
    assert d.task == "single-label" and d.classes == ["0", "1", "4"]
    assert "--task regression" in d.task_reason  # the summary says it could be either
    assert d.targets().tolist() == [0, 1, 2]
    d = load_labelled(ints, task="regression")
    assert d.task == "regression" and d.targets().tolist() == [0.0, 1.0, 4.0]


def test_non_numeric_regression_values_are_named_with_rows() -> None:
    df = pd.DataFrame({"text": list("abcd"), "score": ["1.5", "oops", "2", "n/a"]})
    with pytest.raises(DataError, match=r"row 2 \('oops'\), row 4 \('n/a'\)") as e:
        load_labelled(df, task="regression")
    assert "--task single-label" in str(e.value)
    # inferred: a numeric column with a typo is refused rather than read as classes
    df = pd.DataFrame({"text": list("abcde"), "score": [1.5, 2.25, "x", 3.5, 0.5]})
    with pytest.raises(DataError, match=r"row 3 \('x'\)"):
        load_labelled(df)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, None])
def test_nan_and_inf_targets_are_refused(bad: float | None) -> None:
    df = pd.DataFrame({"text": list("abc"), "score": [1.5, bad, 2.5]})
    with pytest.raises(DataError, match=r"missing, NaN or infinite values at row 2"):
        load_labelled(df, task="regression")


def test_nan_text_in_csv_regression(tmp_path: Path) -> None:
    f = tmp_path / "r.csv"
    f.write_text("text,score\na,1.5\nb,nan\nc,2.5\n")
    with pytest.raises(DataError, match="row 2"):
        load_labelled(f)


def test_constant_regression_target_is_refused() -> None:
    d = load_labelled((["a", "b"], [1.5, 1.5]))
    with pytest.raises(DataError, match="targets that vary"):
        check_trainable(d)


def test_eval_label_unseen_in_training_is_named() -> None:
    tr = load_labelled((["a", "b", "c"], ["x|y", "y", "x"]))
    ev = load_labelled((["d"], ["x|z"]), task=tr.task)
    with pytest.raises(DataError, match=r"label\(s\) 'z' never occur in training"):
        check_eval_labels(tr, ev)
    with pytest.raises(DataError, match="reads as single-label data but the training data"):
        check_eval_labels(tr, load_labelled((["d"], ["x"])))


def test_rare_multi_labels_are_noted() -> None:
    d = load_labelled((["a", "b", "c"], ["x|y", "x", "x|z"]))
    check_trainable(d)
    joined = " ".join(d.notes)
    assert "'y', 'z'" in joined and "single row" in joined and "'x'" in joined


def test_splits_keep_the_task_and_cover_the_target() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=200).tolist()
    d = load_labelled(([f"t{i}" for i in range(200)], values))
    tr, va = stratified_split(d, 0.1, 0)
    assert va.task == "regression" and len(va) == 20 and len(tr) == 180
    assert set(tr.items).isdisjoint(va.items)
    assert abs(float(np.median(va.targets())) - float(np.median(d.targets()))) < 0.3
    labs = ["a|b" if i % 10 == 0 else "a" for i in range(100)]
    m = load_labelled(([f"t{i}" for i in range(100)], labs))
    tr, va = stratified_split(m, 0.2, 1)
    assert tr.classes == va.classes == ["a", "b"]
    assert va.counts()["b"] == 2 and tr.counts()["b"] == 8  # the rare label is spread


def test_fingerprint_depends_on_the_targets() -> None:
    a = load_labelled((["x", "y"], [1.5, 2.5]))
    b = load_labelled((["x", "y"], [1.5, 2.75]))
    assert a.fingerprint() != b.fingerprint()
    s = load_labelled((["x", "y"], ["p", "q"]))
    assert s.fingerprint() == s.subset([0, 1]).fingerprint()
