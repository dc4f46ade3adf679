"""`Predictor`: a transferkit pipeline as a Ray Data batch function.

It has no Ray import: Ray Data builds one per actor (``fn_constructor_kwargs``), the
pipeline is loaded once there, and each pandas batch goes through the same pipeline
call as ``transferkit predict`` (length bucketing, the model's batch size, bad inputs
reported in an ``error`` column instead of failing the batch).

>>> # p = Predictor("sentiment-analysis", device="cpu")
>>> # p(pandas.DataFrame({"text": ["great", "awful"]}))  # -> input, label, score, error
"""

from __future__ import annotations

from typing import Any

PREDICTION_COLUMNS = ("label", "score", "top_k", "labels", "scores", "embedding", "error")


def output_schema(task: str, top_k: int | None, kind: str = "single-label") -> Any:
    """The pyarrow schema of every output batch (one schema, so that any number of
    batches and files concatenate). kind: the model's problem — multi-label rows carry
    `labels` ("a|b") and `scores` (JSON {label: probability}), regression rows `score`."""
    import pyarrow as pa

    fields = [pa.field("input", pa.string())]
    if task == "feature-extraction":
        fields.append(pa.field("embedding", pa.list_(pa.float32())))
    elif kind == "multi-label":
        fields += [pa.field("labels", pa.string()), pa.field("scores", pa.string())]
    elif kind == "regression":
        fields.append(pa.field("score", pa.float64()))
    else:
        fields += [pa.field("label", pa.string()), pa.field("score", pa.float64())]
        if top_k is not None:
            fields.append(pa.field("top_k", pa.string()))  # JSON, as `predict --out x.csv`
    fields.append(pa.field("error", pa.string()))
    return pa.schema(fields)


class Predictor:
    """Callable on a pandas batch → a pyarrow table of predictions, one row per input row.

    model: a task name (its default model), a zoo name or a model folder; task: the
    pipeline task (default: the task named by `model`, else text-classification, or
    image-classification when `column` holds image paths). column: the input column
    (default "text", or "path" for images). top_k: the k best labels as JSON (image
    tasks default to 5, as `transferkit predict`). device: where each actor runs the model.
    threshold: multi-label models only, one probability for every label.
    """

    def __init__(
        self,
        model: str,
        *,
        task: str | None = None,
        column: str = "text",
        top_k: int | None = None,
        batch_size: int = 32,
        device: str = "cpu",
        threshold: float | None = None,
    ) -> None:
        from transferkit.errors import InputError
        from transferkit.models.problems import problem_of
        from transferkit.pipelines import TASKS, pipeline

        if task is None:
            task = model if model in TASKS else "text-classification"
        ref = None if model in TASKS else model
        self.task, self.column = task, column
        self.top_k = 5 if task == "image-classification" and top_k is None else top_k
        self.pipe = pipeline(task, model=ref, batch_size=batch_size, device=device)
        self.kind = "features" if task == "feature-extraction" else problem_of(self.pipe.model).kind
        if self.kind == "regression":
            self.top_k = None  # one score per input: no labels to rank
        if threshold is not None and self.kind != "multi-label":
            raise InputError(
                f"threshold applies to multi-label models; {model!r} is {self.kind} — leave "
                "--threshold out."
            )
        self.threshold = threshold
        self.schema = output_schema(task, self.top_k, self.kind)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        if self.column not in batch:
            raise KeyError(f"input column {self.column!r} is not in the batch: {list(batch)}")
        items = [None if _missing(v) else v for v in batch[self.column].tolist()]
        kw: dict[str, Any] = (
            {} if self.kind in ("features", "regression") else {"top_k": self.top_k}
        )
        if self.threshold is not None:
            kw["threshold"] = self.threshold
        results = self.pipe(items, errors="report", **kw)
        rows = [
            _flatten(item, r, self.top_k, self.kind) for item, r in zip(items, results, strict=True)
        ]
        return pa.Table.from_pylist(rows, schema=self.schema)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _flatten(
    item: Any, result: Any, top_k: int | None, kind: str = "single-label"
) -> dict[str, Any]:
    """One input's row: the same label / score (6 decimals) / top_k JSON — or labels +
    scores (multi-label), or score (regression) — as `transferkit predict --out preds.csv`,
    or its error."""
    import json

    row: dict[str, Any] = {"input": None if item is None else str(item)}
    if isinstance(result, dict) and "error" in result:
        row["error"] = str(result["error"])
        return row
    if hasattr(result, "tolist"):  # feature-extraction
        row["embedding"] = [round(float(x), 6) for x in result.tolist()]
        return row
    if kind == "multi-label":
        row["labels"] = "|".join(r["label"] for r in result)
        row["scores"] = json.dumps({r["label"]: round(r["score"], 6) for r in result})
        return row
    if kind == "regression":
        row["score"] = round(result["score"], 6)
        return row
    ranked = result if isinstance(result, list) else [result]
    row["label"], row["score"] = ranked[0]["label"], round(ranked[0]["score"], 6)
    if top_k is not None:
        top = [{"label": r["label"], "score": round(r["score"], 6)} for r in ranked]
        row["top_k"] = json.dumps(top)
    return row
