"""`rank`: which pretrained model (and which cut point) to start from, in seconds.

`rank` and `fit --base auto` are one decision: fit calls this function with its defaults
(`default_candidates`, the default sample, seed and cuts) on the training data as given,
and takes its :class:`~transferkit.core.results.Recommendation`. A candidate whose source
head's labels match the data's (ignoring case, or through ``label_map``) is scored whole,
zero-shot, beside the transferability scores, and may be recommended as it is (strategy
``none``) or with its head refitted (``probe``); see :mod:`transferkit.select.recommend`.

For every candidate: encode a (stratified sub)sample of the user's training data once,
score the frozen features (LogME, H-score, kNN; LEEP and NCE from a source head),
read its cost on this machine off that same encoding pass (no extra forward passes), then rank by transferability and cost with a
strategy for the data size (see :mod:`transferkit.select.recommend`). No candidate
is fine-tuned. The order is driven by one score, leave-one-out kNN accuracy
(``RankResult.ranked_by``; chosen because it tracked reached accuracy best in
benchmarks/results/rank.md); the others are reported beside it. A candidate that would be
fine-tuned is scored by its best prefix (itself or one of its own cut points).

>>> from transferkit.select.rank import rank
>>> result = rank("train.csv", candidates=["minilm-l6"], budget=600)   # doctest: +SKIP
>>> result.recommendation.ref, result.recommendation.strategy          # doctest: +SKIP
('minilm-l6', 'partial')
>>> reco = rank("cr_train300.csv").recommendation                       # doctest: +SKIP
>>> reco.ref, reco.strategy, reco.head                                  # doctest: +SKIP
('minilm-l6-sst2', 'probe', 'tune')
>>> result.to_dict()["candidates"][0].keys()                           # doctest: +SKIP
dict_keys(['model', 'cut', 'scores', 'cost', 'rank', 'why', ...])
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from transferkit.core.devices import runs_on_device
from transferkit.core.results import CandidateRow, RankResult
from transferkit.errors import DataError, InputError
from transferkit.models.problems import MULTI, REGRESSION, SINGLE

logger = logging.getLogger(__name__)

__all__ = ["SUPPORTED_TASKS", "RankResult", "default_candidates", "rank", "score_model"]

SUPPORTED_TASKS = (SINGLE, MULTI, REGRESSION)  # what `rank` scores (fit's base auto asks)


def default_candidates(modality: str) -> list[str]:
    """The one candidate set of `rank` and `fit --base auto`: every installed zoo model of
    `modality` that `fit` can adapt. That is the bodies, and the classifiers built on one
    (a source head, e.g. ``minilm-l6-sst2``), which stay candidates when their head's
    labels match the data's, or — on multi-label and regression data, which no
    single-label head fits — when their body was tuned (a LoRA adapter or body weights),
    for a new head (checked once loaded, see `rank`). Features-only encoders
    (``multilingual-e5-small``) are left out, since `fit` cannot put a head on them; name
    them in ``candidates=`` to score them."""
    from transferkit.zoo.registry import list_models

    return [c.name for c in list_models(modality) if c.installed and not c.features_only]


def _expand(
    candidates: Sequence[str] | None, modality: str, cuts: str | Sequence[int] | None
) -> list[tuple[str, list[int | None] | None]]:
    """[(model ref, explicit cuts or None for 'decide once loaded')], keeping user order."""
    from transferkit.select.candidates import parse_candidate

    if isinstance(candidates, str):
        raise InputError(
            f"candidates={candidates!r} is a string; pass a list, e.g. [{candidates!r}]"
        )
    refs = list(candidates) if candidates else default_candidates(modality)
    order: list[str] = []
    bare: set[str] = set()
    explicit: dict[str, list[int | None]] = {}
    for text in refs:
        ref, cut = parse_candidate(str(text))
        if ref not in order:
            order.append(ref)
        if cut is None:
            bare.add(ref)
        elif cut not in explicit.setdefault(ref, []):
            explicit[ref].append(cut)
    out: list[tuple[str, list[int | None] | None]] = []
    for ref in order:
        if ref in explicit:  # "m@4" alone: that cut; with "m" too: the full model as well
            out.append((ref, ([None] if ref in bare else []) + explicit[ref]))
        elif cuts is not None and not isinstance(cuts, str):
            out.append((ref, [None, *[int(c) for c in cuts]]))
        else:
            out.append((ref, None))  # decided once loaded ("auto" needs the depth)
    return out


def _cuts_for(model: Any, explicit: list[int | None] | None, cuts: Any) -> list[int | None]:
    from transferkit.select.candidates import default_cuts

    if model.features_only:
        if explicit and any(c is not None for c in explicit):
            raise InputError(f"{model.ref!r} gives features only; it has no cut points")
        return [None]
    if explicit is not None:
        return explicit
    if cuts == "auto":
        return [None, *default_cuts(model.n_groups)]
    if cuts in (None, "none"):
        return [None]
    raise InputError(f"cuts={cuts!r}; use 'auto', 'none' or a list of ints")


def zero_shot(
    probs: np.ndarray, rows: list[int], y: np.ndarray, feats: np.ndarray
) -> dict[str, Any]:
    """A source head as it is, on the labelled sample: ``accuracy`` and ``macro_f1`` of
    its predictions (`rows` maps the data's classes, in `y`'s order, to the head's rows),
    and ``refit_accuracy``: 5-fold cross-validated accuracy of a logistic head refitted on
    the same frozen features (what the probe strategy reaches when it retunes the head).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    pred = probs[:, rows].argmax(axis=1)  # (N,) index into the data's classes
    per_class = int(np.bincount(y).min())
    with _one_blas_thread():
        cv = StratifiedKFold(min(5, per_class), shuffle=True, random_state=0)
        refit = cross_val_score(LogisticRegression(C=1.0, max_iter=2000), feats, y, cv=cv)
    return {
        "accuracy": round(float((pred == y).mean()), 4),
        "macro_f1": round(float(f1_score(y, pred, average="macro")), 4),
        "refit_accuracy": round(float(refit.mean()), 4),
        "n": int(len(y)),
    }


def _score(
    feats: np.ndarray, y: np.ndarray, probs: np.ndarray | None, kind: str = SINGLE
) -> dict[str, float]:
    """The scores of one candidate's features: for single-label classes (`y` class ids)
    LogME, H-score, kNN accuracy (+ LEEP, NCE from a source head's `probs`); for
    multi-label data (`y` a 0/1 matrix) the mean over labels of each binary score; for a
    numeric target (`y` floats) LogME on the target itself and leave-one-out kNN R²."""
    from transferkit.select.scores import (
        hscore,
        knn_accuracy,
        knn_regression,
        leep,
        logme,
        logme_regression,
        multilabel_mean,
        nce,
    )

    k = min(5, len(y) - 1)
    # One BLAS thread: the matrices are small (D <= ~1.3k) and a multi-threaded eigh on a
    # busy machine was measured 150x slower (4.5 s vs 0.03 s for a 384x384 Gram matrix).
    with _one_blas_thread():
        if kind == REGRESSION:
            out = {"logme": logme_regression(feats, y), "knn": knn_regression(feats, y, k=k)}
            return {name: round(float(v), 6) for name, v in out.items()}
        if kind == MULTI:
            out = {
                "logme": multilabel_mean(logme, feats, y)[0],
                "hscore": multilabel_mean(hscore, feats, y)[0],
                "knn": multilabel_mean(knn_accuracy, feats, y, k=k)[0],
            }
            return {name: round(float(v), 6) for name, v in out.items()}
        out = {
            "logme": logme(feats, y),
            "hscore": hscore(feats, y),
            "knn": knn_accuracy(feats, y, k=k),
        }
        if probs is not None:
            out["leep"] = leep(probs, y)
            out["nce"] = nce(probs.argmax(axis=1), y)
    return {name: round(float(v), 6) for name, v in out.items()}


def _one_blas_thread() -> Any:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _cached_encode(
    model: Any,
    data: Any,
    cuts: list[int | None],
    *,
    use_cache: bool,
    progress: bool,
    batch_size: int,
) -> tuple[dict[int | None, np.ndarray], np.ndarray | None, dict[str, Any]]:
    """encode_all_cuts through fit's feature cache (one entry per cut, one for the source
    probs, one for the cost stats measured during the encoding pass).

    Returns ``(features per cut, source probs or None, stats)``; on a cache hit the
    stats are those of the pass that filled the cache (same machine, same data).
    """
    import json

    from transferkit.select.candidates import encode_all_cuts

    keys: dict[Any, str] = {}
    if use_cache and not model.features_only and all(isinstance(x, str) for x in data.items):
        from transferkit.core.cache import load_features, model_identity, rank_cut_key

        # the classifier's identity when there is one: a body tuned with it (a LoRA
        # adapter) gives other features than the plain body of the same spec
        identity = model_identity(model.source if model.source is not None else model.encoder)
        fp = data.fingerprint()
        for c in [*cuts, "probs", "stats"]:
            keys[c] = rank_cut_key(identity, fp, c, batch_size)
        hits = {c: load_features(k) for c, k in keys.items()}
        stats_hit = hits["stats"]
        if (
            all(hits[c] is not None for c in cuts)
            and (model.head is None or hits["probs"] is not None)
            and stats_hit is not None
        ):
            stats = json.loads(stats_hit.astype(np.uint8).tobytes().decode())
            if all(("full" if c is None else str(c)) in stats["forward_s"] for c in cuts):
                probs = hits["probs"] if model.head is not None else None
                return {c: hits[c] for c in cuts}, probs, stats
    stats: dict[str, Any] = {}
    feats, probs = encode_all_cuts(
        model, data.items, cuts, batch_size=batch_size, progress=progress, stats=stats
    )
    if keys:
        from transferkit.core.cache import save_features

        for c in cuts:
            save_features(keys[c], feats[c])
        if probs is not None:
            save_features(keys["probs"], probs)
        # The cache stores float32 arrays: the stats JSON goes in as one byte per float.
        raw = np.frombuffer(json.dumps(stats).encode(), dtype=np.uint8).astype(np.float32)
        save_features(keys["stats"], raw)
    return feats, probs, stats


def score_model(
    model: Any,
    sample: Any,
    y: np.ndarray,
    cuts: list[int | None],
    *,
    n_train: int,
    use_cache: bool = True,
    progress: bool = False,
    batch_size: int = 32,
    head_rows: list[int] | None = None,
    kind: str = SINGLE,
) -> tuple[list[dict[str, Any]], dict[int | None, np.ndarray]]:
    """Encode `sample` once with `model` (every cut in one pass), score each cut and read
    its cost off the same pass. Returns ``(one row per cut, features per cut)``; a cut
    that fails to score is a row with its ``error``. Raises if encoding fails.
    With `head_rows` (the source head's rows for the data's classes: its labels match),
    the whole model's row also carries the head's `zero_shot` figures. `kind` is the
    task ("single-label": `y` class ids; "multi-label": a 0/1 matrix; "regression":
    floats; see `_score`)."""
    from transferkit.select.candidates import describe_cut
    from transferkit.select.cost import cost_from_stats

    feats, probs, stats = _cached_encode(
        model, sample, cuts, use_cache=use_cache, progress=progress, batch_size=batch_size
    )
    rows: list[dict[str, Any]] = []
    for c in cuts:
        try:
            scores = _score(feats[c], y, probs if c is None else None, kind)
            cost = cost_from_stats(model, c, stats, n_train=n_train, batch_size=batch_size)
        except Exception as e:  # noqa: BLE001 - reported in the table, others still ranked
            rows.append(_failed(model.ref, c, e))
            continue
        rows.append(
            {
                "model": model.ref,
                "cut": c,
                "cut_desc": describe_cut(model, c),
                "features_only": model.features_only,
                "dim": int(feats[c].shape[1]),
                "scores": scores,
                "cost": cost,
                "error": None,
            }
        )
        if c is None and head_rows is not None and probs is not None:
            rows[-1]["zero_shot"] = zero_shot(probs, head_rows, y, feats[c])
    return rows, feats


@runs_on_device
def rank(
    train: Any,
    *,
    candidates: Sequence[str] | None = None,
    budget: float | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    cuts: str | Sequence[int] | None = "auto",
    max_examples: int | None = None,
    batch_size: int = 32,
    use_cache: bool = True,
    progress: bool = False,
    seed: int = 0,
    device: str = "auto",
    label_map: dict[str, str] | None = None,
    task: str | None = None,
    label_sep: str = "|",
) -> RankResult:
    """Rank candidate starting models for the labelled data `train`.

    Args:
        train: a table file (CSV/TSV/JSONL/Parquet), an image folder (``root/<class>/``),
            a DataFrame, a ``(texts, labels)`` pair, or a ``LabelledData``.
        candidates: model references: zoo names, local folders, hub ids,
            ``multilingual-e5-small``; ``"name@k"`` asks for cut point k only. Default:
            `default_candidates` (the set `fit --base auto` uses): the installed zoo
            bodies of the data's modality, and the zoo classifiers whose head's labels
            match the data's (case-insensitive, or through `label_map`).
        budget: seconds available to adapt the chosen model (None: no limit).
        cuts: cut points for candidates named without ``@k``: ``"auto"`` (two
            intermediate ones, see ``default_cuts``), ``None``/``"none"``, or a list. A
            candidate whose source head is reused is scored whole (the head fits only
            the whole model's features).
        max_examples: larger data is scored on a stratified subsample of this size
            (said in ``notes``); costs are still estimated for the full size. None:
            `default_max_examples` (text: 100 per class, between 300 and 2000; images 100).
        use_cache: reuse features encoded before (fit's feature cache).
        device: "auto" (a CUDA GPU when torch sees one, else the CPU), "cpu", "cuda",
            "cuda:N" or "mps" (`core.devices`); latencies are measured on that device.
        label_map: {data label: source-head label} for labels named differently
            (``{"neg": "NEGATIVE", "pos": "POSITIVE"}``); others are matched as they are,
            ignoring case.
        task: "single-label", "multi-label" or "regression" (None: inferred from the
            data, as `fit` does); label_sep: the separator of label sets in a string
            column ("|"). Multi-label data is scored per label (each score the mean of
            its binary per-label score over the labels), a numeric target with LogME on
            the target itself and leave-one-out kNN R²; the score that drives the
            ranking is `recommend.RANKED_BY_TASK`'s (kNN for multi-label, LogME for a
            numeric target; ``ranked_by`` and a note say it). Source heads are not
            reused for them.

    Returns:
        A :class:`RankResult`. A candidate that cannot be loaded or scored stays in it
        with its reason (``error``) while the others are ranked. A candidate whose head
        matches the data's labels is scored zero-shot (``zero_shot`` in its row) and may
        be recommended as it is (strategy ``none``) or with its head refitted (``probe``).

    Raises:
        DataError: a class with fewer than 2 examples (the scores need two per class),
            or a single class.
    """
    from transferkit.data.datasets import load_labelled
    from transferkit.select.recommend import recommend
    from transferkit.utils.checks import check_number

    t0 = time.perf_counter()
    check_number(budget, "budget", low=0, low_open=True, what="budget in seconds", example=600)
    check_number(max_examples, "max_examples", low=1, integer=True, example=300)
    data = load_labelled(
        train, text_column=text_column, label_column=label_column, task=task, label_sep=label_sep
    )
    kind = data.task
    if kind == SINGLE:
        sample, notes = _sample(data, max_examples, seed)
        y_labels, y = np.unique(np.asarray(sample.labels), return_inverse=True)
        classes, y = [str(c) for c in y_labels], y.astype(np.int64)
    else:
        sample, notes = _sample_targets(data, kind, max_examples, seed)
        y, classes = np.asarray(sample.targets()), [str(c) for c in data.classes]
    counts = data.counts()
    scoring = _Scoring(
        sample, y, classes, len(data), label_map, use_cache, progress, batch_size, kind
    )
    rows: list[dict[str, Any]] = []
    for ref, explicit in _expand(candidates, data.modality, cuts):
        rows.extend(scoring.candidate(ref, explicit, cuts, data.modality, candidates is None))
    notes += scoring.notes
    ranked, reco, summary = recommend(
        rows,
        modality=data.modality,
        counts=counts,
        budget=budget,
        n_scored=len(sample),
        kind=kind,
        n_rows=len(data),
    )
    if kind != SINGLE:
        notes.append(_scores_note(kind, len(classes), summary["ranked_by"]))
    return RankResult(
        candidates=[CandidateRow.from_dict(r) for r in ranked],
        recommendation=reco,
        modality=data.modality,
        n_examples=len(data),
        n_scored=len(sample),
        counts=counts,
        notes=notes,
        agreement=summary["agreement"],
        seconds=time.perf_counter() - t0,
        ranked_by=summary["ranked_by"],
        task=kind,
    )


def _scores_note(kind: str, n_labels: int, ranked_by: str) -> str:
    """One sentence: what each score means for this task, and which drives the order."""
    from transferkit.select.recommend import SCORE_NAMES

    driver = SCORE_NAMES.get(ranked_by, ranked_by)
    if kind == MULTI:
        return (
            f"multi-label: each score is the mean over the {n_labels} labels of its binary "
            f"per-label score (label present / absent); {driver} drives the ranking"
        )
    return (
        "regression: LogME is the evidence of a linear model of the standardised target "
        f"itself, kNN the leave-one-out kNN R²; {driver} drives the ranking"
    )


REGRESSION_MAX_EXAMPLES = 1000  # the default sample scored for a numeric target


def _sample_targets(
    data: Any, kind: str, max_examples: int | None, seed: int
) -> tuple[Any, list[str]]:
    """Multi-label or regression data: the (sub)sample scored, and notes. A numeric
    target is subsampled within its quintiles (its spread kept); multi-label data
    uniformly at random (a per-label score skips a label absent from the sample)."""
    from transferkit.select.subsample import default_max_examples, stratified_subsample

    notes = list(data.notes)
    if max_examples is None:
        max_examples = (
            REGRESSION_MAX_EXAMPLES
            if kind == REGRESSION
            else default_max_examples(len(data.classes), data.modality)
        )
    if max_examples < 10:
        raise InputError(
            f"max_examples={max_examples} is too small to score {kind} data; pass 10 or more "
            "(--max-examples), or leave it unset."
        )
    if len(data) < 10:
        raise DataError(
            f"{data.source}: {len(data)} examples; ranking {kind} data needs at least 10."
        )
    if len(data) <= max_examples:
        return data, notes
    if kind == REGRESSION:
        t = np.asarray(data.targets(), dtype=np.float64)
        bins = np.searchsorted(np.quantile(t, [0.2, 0.4, 0.6, 0.8]), t, side="right")
        idx = np.sort(stratified_subsample(bins, max_examples, seed=seed))
    else:
        idx = np.sort(np.random.default_rng(seed).choice(len(data), max_examples, replace=False))
    sample = data.subset([int(i) for i in idx])
    notes.append(
        f"scored on a {'quintile-stratified' if kind == REGRESSION else 'random'} subsample "
        f"of {len(sample)} of {len(data)} examples (max_examples={max_examples}); cost "
        f"estimates use all {len(data)}"
    )
    return sample, notes


def _sample(data: Any, max_examples: int | None, seed: int) -> tuple[Any, list[str]]:
    """Check `data` can be scored; return (the stratified sample scored, notes)."""
    from transferkit.select.subsample import default_max_examples, stratified_subsample

    counts = data.counts()
    if len(counts) < 2:
        raise DataError(
            f"{data.source}: every example has label {next(iter(counts))!r}; ranking needs at "
            "least 2 classes. Add examples of another class, or check --label-column."
        )
    small = {c: k for c, k in counts.items() if k < 2}
    if small:
        listed = ", ".join(f"{c!r} ({k})" for c, k in list(small.items())[:10])
        raise DataError(
            f"{data.source}: class(es) {listed} have fewer than 2 examples; transferability "
            "scores compare examples within a class (leave-one-out kNN, class means), so each "
            "class needs at least 2. Add examples or remove those rows."
        )
    notes = list(data.notes)
    default = default_max_examples(len(counts), data.modality)
    if max_examples is None:
        max_examples = default
    elif max_examples < 2 * len(counts):
        raise InputError(
            f"max_examples={max_examples} is too small: the scores need 2 examples of each of "
            f"the {len(counts)} classes. Pass --max-examples {2 * len(counts)} or more, or "
            f"leave it unset (default {default})."
        )
    if len(data) <= max_examples:
        return data, notes
    idx = stratified_subsample(np.asarray(data.labels), max_examples, seed=seed)
    sample = data.subset(idx.tolist())
    notes.append(
        f"scored on a stratified subsample of {len(sample)} of {len(data)} examples "
        f"(max_examples={max_examples}); cost estimates use all {len(data)}"
    )
    return sample, notes


class _Scoring:
    """Loads and scores one candidate at a time on the sample (rows for `recommend`)."""

    def __init__(
        self,
        sample: Any,
        y: np.ndarray,
        classes: list[str],
        n_train: int,
        label_map: dict[str, str] | None,
        use_cache: bool,
        progress: bool,
        batch_size: int,
        kind: str = SINGLE,
    ) -> None:
        self.sample, self.y, self.classes, self.n_train = sample, y, classes, n_train
        self.kind = kind
        self.label_map = label_map
        self.opts = {"use_cache": use_cache, "progress": progress, "batch_size": batch_size}
        self.notes: list[str] = []

    def candidate(
        self,
        ref: str,
        explicit: list[int | None] | None,
        cuts: Any,
        modality: str,
        from_default: bool,
    ) -> list[dict[str, Any]]:
        """Rows of candidate `ref` (one per cut), or [] for a default candidate whose
        source head does not fit these labels (said in notes). For multi-label and
        regression data, a zoo classifier with a tuned body (a LoRA adapter or body
        weights) is scored as a body for a new head."""
        from transferkit.models.classifier import match_head
        from transferkit.select.candidates import load_candidate

        try:
            model = load_candidate(ref, modality)
            head_rows = None
            if model.labels is not None and self.kind == SINGLE:
                head_rows = match_head(model.labels, self.classes, self.label_map)
            if head_rows is None and from_default and model.built_on is not None:
                if self.kind == SINGLE:
                    self.notes.append(
                        f"{ref} is not a candidate: its head's labels "
                        f"({', '.join(model.labels or [])}) do not match the data's "
                        f"({', '.join(self.classes)}); if they mean the same, declare it with "
                        "label_map / --label-map DATA=SOURCE"
                    )
                    return []
                why = f"its head predicts one class per example and these data are {self.kind}"
                if not model.body_tuned:
                    self.notes.append(
                        f"{ref} is not a candidate: {why}, and its body is {model.built_on}'s"
                    )
                    return []
                self.notes.append(
                    f"{ref}: {why}; its tuned body (adapted to its source task) is scored as "
                    "a candidate for a new head"
                )
            model_cuts = (
                _cuts_for(model, explicit, cuts)
                if head_rows is None or explicit is not None
                else [None]
            )
        except Exception as e:  # noqa: BLE001 - any load failure is reported, not fatal
            logger.warning("candidate %s cannot be loaded: %s", ref, e)
            return [_failed(ref, explicit[0] if explicit else None, e)]
        try:
            rows, _ = score_model(
                model,
                self.sample,
                self.y,
                model_cuts,
                n_train=self.n_train,
                head_rows=head_rows,
                kind=self.kind,
                **self.opts,
            )
        except Exception as e:  # noqa: BLE001 - e.g. a cut out of range, a bad input
            logger.warning("candidate %s failed to encode: %s", ref, e)
            return [_failed(ref, c, e) for c in model_cuts]
        return rows


def _failed(ref: str, cut: int | None, e: BaseException) -> dict[str, Any]:
    reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return {
        "model": ref,
        "cut": cut,
        "cut_desc": None,
        "features_only": None,
        "scores": {},
        "cost": {},
        "error": reason,
    }
