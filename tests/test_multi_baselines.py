"""The classical baselines for multi-label data (TF-IDF one-vs-rest) and numeric targets
(TF-IDF ridge): they learn, tune what they say they tune, and refuse bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.errors import DataError, InputError, NotFittedError


def _multilabel_texts(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    """Texts whose labels are the topic words they contain (plus filler words)."""
    rng = np.random.default_rng(seed)
    topics = {"game": "arcade", "audio": "sound", "net": "network"}
    filler = ["tool", "simple", "fast", "for", "the", "a", "small", "program", "linux"]
    texts, labels = [], []
    for _ in range(n):
        have = [t for t in topics if rng.random() < 0.4]
        words = list(rng.choice(filler, size=4)) + [topics[t] for t in have]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(have)
    return texts, labels


def test_one_vs_rest_learns_label_sets_and_tunes_thresholds():
    from transferkit.core.metrics import multilabel_report
    from transferkit.evaluation.baselines import TfidfOneVsRest

    texts, labels = _multilabel_texts(120, 0)
    clf = TfidfOneVsRest(char_ngrams=None, cv_Cs=(1.0, 10.0))
    assert clf.fit(texts, labels) is clf
    assert clf.classes_.tolist() == ["audio", "game", "net"]
    assert clf.C_ in (1.0, 10.0)
    assert clf.thresholds_.shape == (3,) and ((clf.thresholds_ > 0) & (clf.thresholds_ < 1)).all()
    test_texts, test_labels = _multilabel_texts(60, 1)
    truth = np.array([[c in row for c in clf.classes_] for row in test_labels], dtype=int)
    pred = clf.predict(test_texts)
    assert pred.shape == (60, 3) and set(np.unique(pred)) <= {0, 1}
    assert multilabel_report(truth, pred, list(clf.classes_))["micro_f1"] >= 0.95
    proba = clf.predict_proba(test_texts)
    assert proba.shape == (60, 3) and ((proba >= 0) & (proba <= 1)).all()
    assert np.array_equal(pred, (proba >= clf.thresholds_).astype(int))


def test_one_vs_rest_takes_a_matrix_with_names_and_a_fixed_threshold():
    from transferkit.evaluation.baselines import TfidfOneVsRest

    texts, labels = _multilabel_texts(60, 2)
    names = ["game", "audio", "net"]
    y = np.array([[n in row for n in names] for row in labels], dtype=int)
    clf = TfidfOneVsRest(C=10.0, thresholds=0.5, char_ngrams=None).fit(texts, y, classes=names)
    assert clf.classes_.tolist() == names and clf.thresholds_.tolist() == [0.5] * 3
    assert clf.predict(["arcade sound tool"]).tolist() == [[1, 1, 0]]


def test_ridge_learns_a_numeric_target_and_picks_alpha():
    from scipy.stats import spearmanr

    from transferkit.evaluation.baselines import TfidfRidge

    rng = np.random.default_rng(0)
    words = ["awful", "bad", "fine", "good", "great"]

    def make(n):
        y = rng.integers(0, 5, size=n)
        filler = ["the", "film", "was", "plot", "cast"]
        return [f"{rng.choice(filler)} {words[v]} {rng.choice(filler)}" for v in y], y

    texts, y = make(150)
    reg = TfidfRidge(char_ngrams=None, cv_alphas=(0.01, 100.0)).fit(texts, y.astype(float))
    assert reg.alpha_ == 0.01  # a noise-free target: strong shrinkage only costs
    test_texts, y_test = make(50)
    pred = reg.predict(test_texts)
    assert pred.dtype == np.float64 and pred.shape == (50,)
    assert spearmanr(pred, y_test).statistic > 0.95
    assert np.abs(pred - y_test).mean() < 0.3


@pytest.mark.parametrize(
    ("kwargs", "labels", "error", "match"),
    [
        ({}, [["a"], ["b"], "a"], InputError, r"labels\[2\]"),
        ({}, np.array([[1, 0], [0, 0], [1, 0]]), DataError, "appear in no training example"),
        ({}, np.array([[1, 2], [0, 1], [1, 0]]), InputError, "0/1 matrix"),
        ({"thresholds": 1.5}, [["a"], ["b"], ["a"]], InputError, "thresholds=1.5"),
        ({"C": 0}, [["a"], ["b"], ["a"]], InputError, "positive"),
    ],
)
def test_one_vs_rest_rejects_bad_input(kwargs, labels, error, match):
    from transferkit.evaluation.baselines import TfidfOneVsRest

    with pytest.raises(error, match=match):
        TfidfOneVsRest(**kwargs).fit(["x y", "z w", "x w"], labels)


@pytest.mark.parametrize(
    ("targets", "error", "match"),
    [
        ([1.0, float("nan"), 2.0], DataError, "first at row 1"),
        ([1.0, "high", 2.0], InputError, "must be numbers"),
        ([2.0, 2.0, 2.0], DataError, "vary"),
        ([1.0, 2.0], InputError, "one per text"),
    ],
)
def test_ridge_rejects_bad_targets(targets, error, match):
    from transferkit.evaluation.baselines import TfidfRidge

    with pytest.raises(error, match=match):
        TfidfRidge(alpha=1.0).fit(["x y", "z w", "x w"], targets)


def test_new_baselines_raise_not_fitted_and_clone():
    from sklearn.base import clone

    from transferkit.evaluation.baselines import TfidfOneVsRest, TfidfRidge

    with pytest.raises(NotFittedError, match="TfidfOneVsRest"):
        TfidfOneVsRest().predict(["x"])
    with pytest.raises(NotFittedError, match="TfidfRidge"):
        TfidfRidge().predict(["x"])
    est = TfidfRidge(alpha="cv", cv_alphas=(1.0, 2.0))
    assert clone(est).get_params() == est.get_params()
