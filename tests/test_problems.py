"""The Problem contract: config round trip, Hugging Face mapping, decoding."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from transferkit.errors import InputError
from transferkit.models.problems import MULTI, REGRESSION, SINGLE, Problem


def test_old_folders_are_single_label():
    assert Problem.from_config({"labels": ["a", "b"]}).kind == SINGLE


@pytest.mark.parametrize(
    "problem",
    [
        Problem(),
        Problem(MULTI, thresholds=(0.25, 0.75, 0.5)),
        Problem(REGRESSION, target_mean=2.1, target_std=1.3, target_name="stars"),
    ],
)
def test_config_round_trip_is_strict_json(problem):
    cfg = json.loads(json.dumps({"problem": problem.to_config()}, allow_nan=False))
    assert Problem.from_config(cfg) == problem


def test_hf_problem_types():
    hf = SimpleNamespace
    assert (
        Problem.from_hf_config(hf(problem_type="multi_label_classification", num_labels=5)).kind
        == MULTI
    )
    assert Problem.from_hf_config(hf(problem_type=None, num_labels=1)).kind == REGRESSION
    assert Problem.from_hf_config(hf(problem_type=None, num_labels=3)).kind == SINGLE


def test_decoding_each_kind():
    logits = np.array([[2.0, -1.0, 0.1], [-3.0, 0.5, -0.2]])
    labels = ["a", "b", "c"]
    assert Problem().decide(logits, labels) == ["a", "b"]
    np.testing.assert_allclose(Problem().scores(logits).sum(axis=1), 1.0)
    multi = Problem(MULTI, thresholds=(0.5, 0.5, 0.46))
    assert multi.decide(logits, labels) == [["a", "c"], ["b"]]
    assert multi.decide(logits, labels, thresholds=[0.99, 0.99, 0.99]) == [[], []]
    reg = Problem(REGRESSION, target_mean=10.0, target_std=2.0)
    assert reg.decide(np.array([[0.5], [-1.0]]), []) == [11.0, 8.0]


def test_bad_values_are_clear_errors():
    with pytest.raises(InputError, match="multi-class"):
        Problem("multi-class")
    with pytest.raises(InputError, match="not finite"):
        Problem(REGRESSION, target_std=float("nan"))
    with pytest.raises(InputError, match="3 labels but 2 thresholds"):
        Problem(MULTI, thresholds=(0.5, 0.5)).label_thresholds(3)
