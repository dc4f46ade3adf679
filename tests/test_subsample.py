"""Stratified subsampling keeps every class, sums to max_n and is seeded."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import InputError
from transferkit.select.subsample import stratified_subsample


def _counts(labels: np.ndarray, idx: np.ndarray) -> dict:
    values, counts = np.unique(labels[idx], return_counts=True)
    return dict(zip(values.tolist(), counts.tolist(), strict=True))


def test_keeps_rare_classes_and_exact_size() -> None:
    labels = np.array([0] * 1000 + [1] * 2 + [2] + [3] * 50)
    idx = stratified_subsample(labels, max_n=40, seed=0)
    assert idx.size == 40
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0)  # sorted, distinct
    got = _counts(labels, idx)
    assert got[1] == 2 and got[2] == 1  # min(count, 2) kept
    assert got[3] >= 2
    assert got[0] + got[3] == 37


def test_proportional_shares() -> None:
    labels = np.repeat([0, 1, 2], [600, 300, 100])
    idx = stratified_subsample(labels, max_n=100, seed=1)
    assert _counts(labels, idx) == {0: 60, 1: 30, 2: 10}
    # max_n=7: shares (4.2, 2.1, 0.7) floor to (4, 2, 0); the floor of 2 lifts class 2 to 2,
    # one too many, taken back from the class furthest above its share that has room: class 0.
    idx = stratified_subsample(labels, max_n=7, seed=1)
    assert _counts(labels, idx) == {0: 3, 1: 2, 2: 2}


def test_seeded_and_string_labels() -> None:
    labels = np.array(["pos", "neg"] * 200 + ["neutral"] * 3)
    a = stratified_subsample(labels, max_n=50, seed=3)
    b = stratified_subsample(labels, max_n=50, seed=3)
    c = stratified_subsample(labels, max_n=50, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert _counts(labels, a)["neutral"] >= 2


def test_everything_when_max_n_covers_the_data() -> None:
    labels = np.array([1, 0, 1, 1])
    np.testing.assert_array_equal(stratified_subsample(labels, max_n=4, seed=0), np.arange(4))
    np.testing.assert_array_equal(stratified_subsample(labels, max_n=99, seed=0), np.arange(4))


def test_many_sizes_are_exact_and_keep_every_class() -> None:
    rng = np.random.default_rng(0)
    labels = rng.choice(12, size=500, p=np.r_[0.5, np.full(11, 0.5 / 11)])
    labels[:3] = 11  # make sure no class is empty
    for max_n in (24, 25, 37, 120, 499):
        idx = stratified_subsample(labels, max_n=max_n, seed=max_n)
        assert idx.size == max_n
        assert set(labels[idx].tolist()) == set(labels.tolist())


def test_bad_inputs_are_named() -> None:
    labels = np.repeat([0, 1, 2], 5)
    with pytest.raises(InputError, match="max_n=5 is too small.*3 classes.*6"):
        stratified_subsample(labels, max_n=5, seed=0)
    with pytest.raises(InputError, match="got 0"):
        stratified_subsample(labels, max_n=0, seed=0)
    with pytest.raises(InputError, match="2.5"):
        stratified_subsample(labels, max_n=2.5, seed=0)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"shape \(3, 5\)"):
        stratified_subsample(labels.reshape(3, 5), max_n=4, seed=0)


def test_default_max_examples_is_100_per_class_between_300_and_2000() -> None:
    from transferkit.select.subsample import default_max_examples

    assert [default_max_examples(k) for k in (2, 3, 6, 10, 50)] == [300, 300, 600, 1000, 2000]
