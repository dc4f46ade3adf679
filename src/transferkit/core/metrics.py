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
    """A rich renderable: summary line, per-class table and confusion matrix.

    Print it with ``rich.console.Console().print(format_report(r))``.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

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
    per = Table(title="Per class", title_justify="left")
    per.add_column("class")
    for col in ("precision", "recall", "f1", "support"):
        per.add_column(col, justify="right")
    for lab, m in report["per_class"].items():
        per.add_row(
            Text(lab),
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            str(m["support"]),
        )

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
