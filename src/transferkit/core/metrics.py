"""Classification metrics as plain, JSON-ready dictionaries, and a rich table for the terminal.

Example:
    >>> from transferkit.core.metrics import classification_report
    >>> r = classification_report(["pos", "neg", "pos"], ["pos", "pos", "pos"])
    >>> r["accuracy"], r["per_class"]["neg"]["recall"]
    (0.6666666666666666, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from transferkit.errors import InputError

Label = str | int


def _plain_labels(values: Sequence[Any], name: str) -> list[Label]:
    """Turn a 1-D sequence of labels into Python str/int values (numpy scalars unwrapped)."""
    import numpy as np

    arr = np.asarray(values, dtype=object)
    if arr.ndim != 1:
        raise InputError(
            f"{name} must be a 1-D sequence of labels; got an array of shape {arr.shape}. "
            "Pass one label per example (class names or integer class indices)."
        )
    out: list[Label] = []
    for i, v in enumerate(arr.tolist()):
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, bool) or not isinstance(v, str | int):
            raise InputError(
                f"{name}[{i}] is {v!r} of type {type(v).__name__}; labels must be strings or "
                "integers. Convert them first, e.g. [str(x) for x in labels] or an int array."
            )
        out.append(v)
    return out


def classification_report(
    y_true: Sequence[Label],
    y_pred: Sequence[Label],
    labels: Sequence[Label] | None = None,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Args:
        y_true: the true label of each example (class names or integer indices).
        y_pred: the predicted label of each example, same kind and length as `y_true`.
        labels: the classes, in the order the report should list them. Default: the
            sorted union of `y_true` and `y_pred`. Listing a class that occurs nowhere
            keeps it in `per_class` and in the confusion matrix (support 0).

    Returns:
        ``{"accuracy", "macro_f1", "n", "per_class", "confusion"}`` with plain Python
        floats and ints only, so `json.dumps` round-trips it exactly:

        - ``per_class[str(label)] = {"precision", "recall", "f1", "support"}``; a class
          that is never predicted has precision 0.0 (scikit-learn's ``zero_division=0``).
        - ``macro_f1`` is the unweighted mean F1 over the classes that occur in `y_true`
          or `y_pred` (a listed class that occurs in neither would only add a 0).
        - ``confusion = {"labels": [str(label), ...], "matrix": [[...], ...]}``, rows are
          true classes and columns predicted classes, in `labels` order.

    Raises:
        InputError: lengths differ, no examples, labels are neither strings nor ints,
            labels mix strings and ints, or a label is missing from `labels`.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    yt = _plain_labels(y_true, "y_true")
    yp = _plain_labels(y_pred, "y_pred")
    if len(yt) != len(yp):
        raise InputError(
            f"y_true has {len(yt)} labels but y_pred has {len(yp)}; pass one prediction "
            "per example, in the same order."
        )
    if not yt:
        raise InputError("y_true is empty; a report needs at least one labelled example.")
    kinds = {type(v) for v in yt + yp}
    if len(kinds) > 1:
        raise InputError(
            "y_true and y_pred mix strings and integers (e.g. 'positive' and 1); use class "
            "names everywhere or integer indices everywhere."
        )
    if labels is None:
        label_list: list[Label] = sorted(set(yt) | set(yp))  # type: ignore[type-var]
    else:
        label_list = _plain_labels(labels, "labels")
        if len(set(label_list)) != len(label_list):
            raise InputError(f"labels {label_list!r} contain duplicates; list each class once.")
        missing = [v for v in dict.fromkeys(yt + yp) if v not in set(label_list)]
        if missing:
            raise InputError(
                f"labels {label_list!r} do not list {missing!r}, found in y_true/y_pred; "
                "pass labels=None to use every class found, or add the missing ones "
                "(strings and integers never match: 1 is not '1')."
            )

    # (n_classes, n_classes); rows = true class, columns = predicted class.
    cm = confusion_matrix(yt, yp, labels=label_list)
    precision, recall, f1, support = precision_recall_fscore_support(
        yt, yp, labels=label_list, zero_division=0
    )
    predicted = cm.sum(axis=0)
    present = [i for i in range(len(label_list)) if support[i] > 0 or predicted[i] > 0]
    per_class = {
        str(lab): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, lab in enumerate(label_list)
    }
    n = len(yt)
    return {
        "accuracy": float(cm.trace()) / n,
        "macro_f1": float(sum(float(f1[i]) for i in present) / len(present)),
        "n": n,
        "per_class": per_class,
        "confusion": {
            "labels": [str(lab) for lab in label_list],
            "matrix": [[int(x) for x in row] for row in cm.tolist()],
        },
    }


def format_report(report: dict[str, Any], title: str | None = None) -> Any:
    """A rich renderable: summary line, per-class table and confusion matrix (for a
    multi-label or regression report: its figures and, multi-label, the per-label table).

    Print it with ``rich.console.Console().print(format_report(r))``.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if "micro_f1" in report:
        return _format_multilabel(report, title)
    if "mae" in report:
        return Text(
            f"{title + ': ' if title else ''}"
            + " · ".join(
                f"{name} {_num(report.get(key))}"
                for key, name in (
                    ("spearman", "Spearman"),
                    ("pearson", "Pearson"),
                    ("mae", "MAE"),
                    ("rmse", "RMSE"),
                    ("r2", "R²"),
                )
            )
            + f" · n = {report['n']}",
            style="bold",
        )

    for key in ("accuracy", "macro_f1", "n", "per_class", "confusion"):
        if key not in report:
            raise InputError(
                f"report has no {key!r} entry (keys: {sorted(report)}); pass the dict "
                "returned by classification_report()."
            )
    head = Text(
        f"{title + ': ' if title else ''}accuracy {report['accuracy']:.3f} · "
        f"macro-F1 {report['macro_f1']:.3f} · n = {report['n']}",
        style="bold",
    )
    # Class names go in as Text so that a name like "[b]" is shown, not read as markup.
    per = _per_table("Per class", "class", report["per_class"])

    labs = report["confusion"]["labels"]
    conf = Table(title="Confusion matrix (rows = true, columns = predicted)", title_justify="left")
    conf.add_column("true \\ pred")
    for lab in labs:
        conf.add_column(Text(lab), justify="right")
    for i, (lab, row) in enumerate(zip(labs, report["confusion"]["matrix"], strict=True)):
        # Bold the diagonal: the correctly classified counts.
        conf.add_row(
            Text(lab), *(Text(str(v), style="bold" if j == i else "") for j, v in enumerate(row))
        )
    return Group(head, per, conf)


def _per_table(title: str, first: str, rows: dict[str, Any], *, threshold: bool = False) -> Any:
    """A rich table of precision/recall/F1/support per class or label (and its threshold)."""
    from rich.table import Table
    from rich.text import Text

    per = Table(title=title, title_justify="left")
    per.add_column(first)
    cols = ("precision", "recall", "f1", "support") + (("threshold",) if threshold else ())
    for col in cols:
        per.add_column(col, justify="right")
    for lab, m in rows.items():
        cells = [f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])]
        if threshold:
            cells.append(_num(m.get("threshold")))
        per.add_row(Text(lab), *cells)  # Text: a name like "[b]" is shown, not read as markup
    return per


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


def _format_multilabel(report: dict[str, Any], title: str | None) -> Any:
    from rich.console import Group
    from rich.text import Text

    head = Text(
        f"{title + ': ' if title else ''}micro-F1 {report['micro_f1']:.3f} · macro-F1 "
        f"{report['macro_f1']:.3f} · sample-F1 {report['samples_f1']:.3f} · subset accuracy "
        f"{report['subset_accuracy']:.3f} · Hamming loss {report['hamming_loss']:.3f} · "
        f"n = {report['n']}",
        style="bold",
    )
    per = _per_table("Per label", "label", report["per_label"], threshold=True)
    return Group(head, per)


def _matrix01(values: Any, name: str, n_labels: int) -> Any:
    """A (n, n_labels) 0/1 int matrix from `values`, or one clear InputError."""
    import numpy as np

    arr = np.asarray(values)
    if arr.ndim != 2 or arr.shape[1] != n_labels:
        raise InputError(
            f"{name} must be a 0/1 matrix with one column per label ({n_labels} labels); got "
            f"shape {arr.shape}. Pass one row per example, columns in `labels` order."
        )
    if arr.dtype == object or not np.isin(arr, (0, 1)).all():
        raise InputError(
            f"{name} holds values other than 0 and 1; pass label indicators (1 = the label "
            "applies), not probabilities — threshold them first (e.g. probs >= 0.5)."
        )
    return arr.astype(int)


def multilabel_report(
    y_true: Any,
    y_pred: Any,
    labels: Sequence[str],
    thresholds: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Multi-label metrics from 0/1 indicator matrices, as plain JSON-ready values.

    Args:
        y_true: (n, len(labels)) 0/1 matrix, 1 where the label applies.
        y_pred: the predicted 0/1 matrix, same shape.
        labels: the label names, in column order.
        thresholds: the per-label probability thresholds that made `y_pred` (reported
            as they are; ``None`` when the caller did not threshold probabilities).

    Returns:
        ``{"micro_f1", "macro_f1", "samples_f1", "subset_accuracy", "hamming_loss", "n",
        "labels", "per_label", "thresholds"}``. ``per_label[name] = {"precision",
        "recall", "f1", "support", "threshold"}``. Zero divisions count as 0.0
        (scikit-learn's ``zero_division=0``); ``macro_f1`` averages over every label;
        ``samples_f1`` averages the F1 of each example's label set (an example with no
        true and no predicted label scores 0, as in scikit-learn).

    Example:
        >>> r = multilabel_report([[1, 0], [1, 1]], [[1, 0], [0, 1]], ["a", "b"])
        >>> r["subset_accuracy"], r["hamming_loss"], r["per_label"]["a"]["recall"]
        (0.5, 0.25, 0.5)
    """
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        hamming_loss,
        precision_recall_fscore_support,
    )

    names = [str(x) for x in labels]
    if not names or len(set(names)) != len(names):
        raise InputError(f"labels {names!r} must be non-empty and list each label once.")
    yt = _matrix01(y_true, "y_true", len(names))
    yp = _matrix01(y_pred, "y_pred", len(names))
    if yt.shape[0] != yp.shape[0]:
        raise InputError(
            f"y_true has {yt.shape[0]} rows but y_pred has {yp.shape[0]}; pass one prediction "
            "per example, in the same order."
        )
    if yt.shape[0] == 0:
        raise InputError("y_true is empty; a report needs at least one labelled example.")
    if thresholds is not None and len(thresholds) != len(names):
        raise InputError(
            f"{len(thresholds)} thresholds for {len(names)} labels; pass one per label."
        )
    th = [float(t) for t in thresholds] if thresholds is not None else None
    precision, recall, f1, support = precision_recall_fscore_support(
        yt, yp, average=None, zero_division=0
    )
    per_label = {
        name: {
            "precision": float(precision[j]),
            "recall": float(recall[j]),
            "f1": float(f1[j]),
            "support": int(support[j]),
            "threshold": th[j] if th is not None else None,
        }
        for j, name in enumerate(names)
    }
    return {
        "micro_f1": float(f1_score(yt, yp, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(yt, yp, average="macro", zero_division=0)),
        "samples_f1": float(f1_score(yt, yp, average="samples", zero_division=0)),
        "subset_accuracy": float(accuracy_score(yt, yp)),
        "hamming_loss": float(hamming_loss(yt, yp)),
        "n": int(yt.shape[0]),
        "labels": names,
        "per_label": per_label,
        "thresholds": th,
    }


def regression_report(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """Regression metrics as plain JSON-ready floats: MAE, RMSE, R², Spearman, Pearson, n.

    Correlations are ``None`` when either side is constant (they are undefined there;
    JSON has no NaN).

    Example:
        >>> r = regression_report([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 5.0])
        >>> r["mae"], r["rmse"], r["spearman"]
        (0.5, 1.0, 1.0)
    """
    import numpy as np
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    arrays = []
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"{name} must hold numbers (one target value per example); convert it first, "
                "e.g. with pandas.to_numeric."
            ) from None
        if arr.ndim != 1:
            raise InputError(f"{name} must be 1-D (one value per example); got shape {arr.shape}.")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise InputError(
                f"{name} has {bad.size} NaN/inf value(s) (first at index {int(bad[0])}); "
                "drop or fix those rows first."
            )
        arrays.append(arr)
    yt, yp = arrays
    if yt.shape != yp.shape:
        raise InputError(
            f"y_true has {yt.size} values but y_pred has {yp.size}; pass one prediction per "
            "example, in the same order."
        )
    if yt.size < 2:
        raise InputError(f"a regression report needs at least 2 examples; got {yt.size}.")
    constant = np.ptp(yt) == 0 or np.ptp(yp) == 0
    return {
        "mae": float(mean_absolute_error(yt, yp)),
        "rmse": float(np.sqrt(mean_squared_error(yt, yp))),
        "r2": float(r2_score(yt, yp)) if np.ptp(yt) > 0 else None,
        "spearman": None if constant else float(spearmanr(yt, yp).statistic),
        "pearson": None if constant else float(pearsonr(yt, yp).statistic),
        "n": int(yt.size),
    }
