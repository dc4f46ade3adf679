"""Multi-label and regression reports: values checked by hand, JSON-ready, bad inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from transferkit.core.metrics import multilabel_report, regression_report
from transferkit.errors import InputError

# Columns a, b, c. Per label (true / pred):
#   a: [1,0,1,0] / [1,0,1,0] → P 1, R 1, F1 1, support 2
#   b: [0,1,1,0] / [0,1,0,0] → P 1, R 1/2, F1 2/3, support 2
#   c: [1,0,0,0] / [0,1,0,0] → P 0, R 0, F1 0, support 1
# micro: TP 3, FP 1, FN 2 → F1 = 6 / 9. Rows 0-2 each have F1 2/3, row 3 is empty/empty
# (0 with zero_division=0) → samples F1 = 2/4. Only row 3 matches exactly; 3 of 12 cells differ.
Y_TRUE = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]]
Y_PRED = [[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]]


def test_multilabel_report_hand_checked():
    r = multilabel_report(Y_TRUE, Y_PRED, ["a", "b", "c"], thresholds=[0.5, 0.4, 0.7])
    assert r["micro_f1"] == pytest.approx(2 / 3)
    assert r["macro_f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert r["samples_f1"] == pytest.approx(0.5)
    assert r["subset_accuracy"] == pytest.approx(0.25)
    assert r["hamming_loss"] == pytest.approx(0.25)
    assert r["n"] == 4
    assert r["per_label"]["a"] == {
        "precision": 1.0,
        "recall": 1.0,
        "f1": 1.0,
        "support": 2,
        "threshold": 0.5,
    }
    assert r["per_label"]["b"]["recall"] == pytest.approx(0.5)
    assert r["per_label"]["b"]["f1"] == pytest.approx(2 / 3)
    assert r["per_label"]["c"]["f1"] == 0.0 and r["per_label"]["c"]["support"] == 1
    assert r["thresholds"] == [0.5, 0.4, 0.7]
    assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_multilabel_report_without_thresholds_and_numpy_input():
    r = multilabel_report(np.array(Y_TRUE, dtype=np.float32), np.array(Y_PRED), ["a", "b", "c"])
    assert r["thresholds"] is None and r["per_label"]["a"]["threshold"] is None
    assert r["micro_f1"] == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "labels", "match"),
    [
        (Y_TRUE, [[0.9, 0, 0]] * 4, ["a", "b", "c"], "other than 0 and 1"),
        (Y_TRUE, Y_PRED[:3], ["a", "b", "c"], "4 rows but y_pred has 3"),
        (Y_TRUE, Y_PRED, ["a", "b"], "one column per label"),
        (Y_TRUE, Y_PRED, ["a", "a", "c"], "each label once"),
        ([], [], ["a"], "shape"),
    ],
)
def test_multilabel_report_bad_inputs(y_true, y_pred, labels, match):
    with pytest.raises(InputError, match=match):
        multilabel_report(y_true, y_pred, labels)


def test_multilabel_report_wrong_threshold_count():
    with pytest.raises(InputError, match="2 thresholds for 3 labels"):
        multilabel_report(Y_TRUE, Y_PRED, ["a", "b", "c"], thresholds=[0.5, 0.5])


def test_regression_report_hand_checked():
    # errors 1, 1, 0, 2 → MAE 1, MSE 6/4; SS_tot 5, SS_res 6 → R² -0.2.
    # ranks of y_pred 2,1,3,4 → d² sum 2 → Spearman 1 - 6·2/(4·15) = 0.8.
    # centred: [-1.5,-.5,.5,1.5]·[-1,-2,0,3] = 7; norms² 5 and 14 → Pearson 7/√70.
    r = regression_report([1, 2, 3, 4], np.array([2.0, 1.0, 3.0, 6.0]))
    assert r["mae"] == pytest.approx(1.0)
    assert r["rmse"] == pytest.approx(math.sqrt(1.5))
    assert r["r2"] == pytest.approx(-0.2)
    assert r["spearman"] == pytest.approx(0.8)
    assert r["pearson"] == pytest.approx(7 / math.sqrt(70))
    assert r["n"] == 4
    assert all(type(v) in (float, int) for v in r.values())
    assert json.loads(json.dumps(r, allow_nan=False)) == r


def test_regression_report_constant_prediction_has_no_correlation():
    r = regression_report([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])
    assert r["spearman"] is None and r["pearson"] is None
    assert r["r2"] == pytest.approx(0.0)
    json.dumps(r, allow_nan=False)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        (["1", "x"], [1.0, 2.0], "must hold numbers"),
        ([1.0, float("nan")], [1.0, 2.0], "NaN/inf value.*index 1"),
        ([1.0, 2.0, 3.0], [1.0, 2.0], "3 values but y_pred has 2"),
        ([1.0], [1.0], "at least 2"),
        ([[1.0, 2.0]], [[1.0, 2.0]], "1-D"),
    ],
)
def test_regression_report_bad_inputs(y_true, y_pred, match):
    with pytest.raises(InputError, match=match):
        regression_report(y_true, y_pred)


def test_thresholds_shrink_towards_the_shared_one_by_the_positives():
    """A label's own F1-optimal threshold weighs n / (n + prior): a rare label mostly takes
    the threshold shared by all labels, a frequent one mostly keeps its own."""
    import numpy as np

    from transferkit.core.linear_heads import tune_thresholds

    rng = np.random.default_rng(0)
    n = 400
    y = np.zeros((n, 2), dtype=int)
    y[:200, 0] = 1  # frequent label: positives score 0.3-0.5, negatives below 0.25
    y[:3, 1] = 1  # rare label: 3 positives at 0.9, negatives up to 0.6
    p = np.column_stack(
        [
            np.where(y[:, 0] == 1, rng.uniform(0.3, 0.5, n), rng.uniform(0.0, 0.25, n)),
            np.where(y[:, 1] == 1, 0.9, rng.uniform(0.0, 0.6, n)),
        ]  # fmt: skip
    )
    own = tune_thresholds(p, y, prior=0)
    assert own[0] <= 0.3 and own[1] >= 0.6, own  # each label's own optimum
    shrunk = tune_thresholds(p, y, prior=50)
    shared = 0.3  # micro-F1 is dominated by the frequent label
    assert abs(shrunk[0] - own[0]) < 0.05  # 200 positives: its own threshold holds
    assert abs(shrunk[1] - shared) < abs(shrunk[1] - own[1]), shrunk  # 3 positives: shared
    w = 3 / 53
    assert shrunk[1] == pytest.approx(
        w * own[1] + (1 - w) * tune_thresholds(p, y, prior=1e9)[1], abs=1e-3
    )


def test_thresholds_without_any_positive_or_prediction_fall_back_to_one_half():
    """Validation rows with empty label sets only (no positive anywhere) or a model that
    predicts nothing: no F1 above 0 to tune on, so every label keeps 0.5 (no crash)."""
    import numpy as np

    from transferkit.core.linear_heads import tune_thresholds

    assert tune_thresholds(np.array([[0.2, 0.3], [0.4, 0.1]]), np.zeros((2, 2))) == (0.5, 0.5)
    assert tune_thresholds(np.zeros((3, 2)), np.array([[1, 0], [0, 0], [0, 1]])) == (0.5, 0.5)
