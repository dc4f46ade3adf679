"""The comparison report: one self-contained HTML file with embedded plots, and its JSON twin.

The HTML loads nothing from elsewhere: styles are inline, plots are PNGs drawn with
matplotlib's Agg renderer (``matplotlib.figure.Figure``, so the user's pyplot backend
is never touched) and embedded as base64 ``data:`` URIs. Every plot is an ``<img>``
with an ``alt`` text and a ``data-plot="<name>"`` attribute; a small inline script
counts, on load, the plots the browser could decode and writes the count into
``<body data-plots-ok="…" data-plots-total="…">`` (used by the headless-browser test).

The result dict (every section optional; a missing or null one is reported as
"not measured: <why>", the why read from ``result["skipped"]`` when it has an entry
``{"what": "<section>", "why": "..."}``)::

    {"task": {...},
     "transfer" | "scratch" | "classical": {
         "accuracy", "macro_f1", "train_seconds", "cpu_seconds",
         "curves": {"epoch": [...], "train_acc": [...], "val_acc": [...],
                    "train_loss": [...], "val_loss": [...]},   # any of these series
         "seeds": mean_ci(...), "confusion": {"labels": [...], "matrix": [[...]]}},
     "learning_curve": [{"size", "per_class", "transfer": ci, "scratch": ci, "classical": ci}],
     "warnings": [{"kind", "message", "cause", "advice"}],
     "domain_gap": {"a_distance", "domain_classifier_accuracy", ...},
     "skipped": [{"what", "why"}]}

Example:
    >>> from transferkit.evaluation.report import render_html
    >>> render_html({"task": {"name": "sst2"}, "transfer": {"accuracy": 0.81}}, "report.html")
    PosixPath('report.html')
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transferkit.errors import FileMissingError, InputError, require_extra

METHODS = ("transfer", "scratch", "classical")
METHOD_NAMES = {
    "transfer": "Transfer (pretrained)",
    "scratch": "Same model from scratch",
    "classical": "Classical baseline",
}
SHORT_NAMES = {
    "transfer": "transfer\n(pretrained)",
    "scratch": "scratch\n(same model)",
    "classical": "classical\nbaseline",
}
COLORS = {"transfer": "#1f77b4", "scratch": "#d62728", "classical": "#7f7f7f"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.3em .6em;
text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.missing{color:#777;font-style:italic}.warn{border-left:4px solid #e69f00;background:#fff8e6;
padding:.5em .8em;margin:.6em 0}.verdict{font-weight:600}img{max-width:100%;display:block;
margin:.6em 0}pre{background:#f6f6f6;padding:.8em;overflow:auto;font-size:.85em}
"""

# Counts the plots the browser could decode; the headless-browser test reads the count.
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img[data-plot]");
  var ok = 0;
  imgs.forEach(function (im) { if (im.complete && im.naturalWidth > 0) { ok += 1; } });
  document.body.dataset.plotsOk = String(ok);
  document.body.dataset.plotsTotal = String(imgs.length);
});
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def check_output_path(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Fail early, naming the fix, when a file cannot be written at `path`."""
    out = Path(path)
    if out.is_dir():
        raise InputError(
            f"{what} {str(out)!r} is a folder; pass a file path such as {str(out / 'report.html')!r}."
        )
    if not out.parent.is_dir():
        raise FileMissingError(
            f"cannot write the {what} {str(out)!r}: the folder {str(out.parent)!r} does not "
            f"exist. Create it first (mkdir -p {out.parent}) or choose another path."
        )
    return out


def to_jsonable(value: Any, where: str = "result") -> Any:
    """`value` (e.g. a `compare` result) in plain JSON types: numpy scalars and arrays
    unwrapped, NaN/inf → None, Paths → str; ready for ``json.dumps(..., allow_nan=False)``.
    Anything else raises InputError naming where it sits (`where`).

    >>> to_jsonable({"acc": float("nan"), "n": [1, 2]})
    {'acc': None, 'n': [1, 2]}
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if hasattr(value, "tolist"):  # numpy array or scalar, torch tensor
        return to_jsonable(value.tolist(), where)
    raise InputError(
        f"{where} is a {type(value).__name__}, which JSON cannot hold; store numbers, "
        "strings, lists or dicts in the result."
    )


def write_json(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write `result` as indented JSON (NaN → null, numpy values unwrapped); returns the path."""
    out = check_output_path(path, "report")
    if not isinstance(result, Mapping):
        raise InputError(f"result must be a dict; got {type(result).__name__}.")
    out.write_text(json.dumps(to_jsonable(result), indent=2, allow_nan=False) + "\n", "utf-8")
    return out


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or value is None:
        return "—" if value is None else str(value)
    if isinstance(value, int | float):
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return _esc(value)


def _fmt_ci(ci: Any) -> str:
    if not isinstance(ci, Mapping) or "mean" not in ci:
        return "—"
    if not ci.get("interval_defined", ci.get("n", 2) >= 2):
        return f"{ci['mean']:.3f} (1 seed, no interval)"
    conf = int(round(100 * ci.get("confidence", 0.95)))
    return f"{ci['mean']:.3f} [{ci['low']:.3f}, {ci['high']:.3f}] {conf}% CI, n={ci.get('n', '?')}"


class _Builder:
    """Collects HTML fragments; one method per report section."""

    def __init__(self, result: Mapping[str, Any]) -> None:
        from matplotlib.figure import Figure

        self.Figure = Figure
        self.r = result
        self.parts: list[str] = []
        self.reasons = {
            str(item.get("what")): str(item.get("why"))
            for item in (result.get("skipped") or [])
            if isinstance(item, Mapping)
        }

    def missing(self, what: str) -> str:
        # "scratch.curves" falls back on the reason given for "scratch" as a whole.
        why = self.reasons.get(what) or self.reasons.get(what.split(".")[0])
        why = why or "no result was recorded for it"
        return f'<p class="missing">not measured: {_esc(why)}</p>'

    def img(self, name: str, fig: Any, alt: str) -> str:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return (
            f'<img data-plot="{_esc(name)}" alt="{_esc(alt)}" src="data:image/png;base64,{data}">'
        )

    def method(self, key: str) -> Mapping[str, Any] | None:
        value = self.r.get(key)
        return value if isinstance(value, Mapping) else None

    # --- sections -------------------------------------------------------------------
    def task(self) -> None:
        task = self.r.get("task")
        name = task.get("name") if isinstance(task, Mapping) else None
        self.parts.append(f"<h1>transferkit report{': ' + _esc(name) if name else ''}</h1>")
        self.parts.append("<h2>Task</h2>")
        if not isinstance(task, Mapping) or not task:
            self.parts.append(self.missing("task"))
            return
        shown = {
            k: v if isinstance(v, str) else json.dumps(to_jsonable(v)) for k, v in task.items()
        }
        rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in shown.items())
        self.parts.append(f"<table>{rows}</table>")

    def warnings(self) -> None:
        self.parts.append("<h2>Warnings</h2>")
        warns = self.r.get("warnings")
        if warns is None:
            self.parts.append(self.missing("warnings"))
            return
        if not warns:
            self.parts.append("<p>No warnings: no negative transfer or domain gap was flagged.</p>")
        for w in warns:
            w = w if isinstance(w, Mapping) else {"message": w}
            self.parts.append(
                f'<div class="warn"><strong>{_esc(w.get("kind", "warning"))}</strong>: '
                f"{_esc(w.get('message', ''))}"
                + "".join(
                    f"<br><em>{label}:</em> {_esc(w[k])}"
                    for k, label in (("cause", "Cause"), ("advice", "Advice"))
                    if w.get(k)
                )
                + "</div>"
            )

    def results(self) -> None:
        from transferkit.evaluation.stats import verdict

        self.parts.append("<h2>Results</h2>")
        head = "".join(
            f"<th>{h}</th>"
            for h in ("method", "accuracy", "macro-F1", "over seeds", "train s", "CPU s")
        )
        rows = []
        for key in METHODS:
            m = self.method(key)
            if m is None:
                rows.append(
                    f"<tr><td>{METHOD_NAMES[key]}</td><td colspan=5>{self.missing(key)}</td></tr>"
                )
                continue
            cells = [m.get("accuracy"), m.get("macro_f1")]
            seeds = _fmt_ci(m.get("seeds")) if m.get("seeds") else self.missing(f"{key}.seeds")
            rows.append(
                f"<tr><td>{METHOD_NAMES[key]}</td>"
                + "".join(f'<td class="num">{_fmt(c)}</td>' for c in cells)
                + f"<td>{seeds}</td>"
                + "".join(
                    f'<td class="num">{_fmt(m.get(k), 1)}</td>'
                    for k in ("train_seconds", "cpu_seconds")
                )
                + "</tr>"
            )
        self.parts.append(f"<table><tr>{head}</tr>{''.join(rows)}</table>")
        transfer = self.method("transfer")
        verdicts = []
        for other in ("scratch", "classical"):
            o = self.method(other)
            if transfer and o and transfer.get("seeds") and o.get("seeds"):
                v = verdict(transfer["seeds"], o["seeds"])
                verdicts.append(f"<li>Transfer vs {METHOD_NAMES[other].lower()}: {v}</li>")
        if verdicts:
            self.parts.append(
                f'<ul class="verdict">{"".join(verdicts)}</ul>'
                "<p>A difference is called only where the confidence intervals over seeds "
                "separate.</p>"
            )
        self.comparison_plot()

    def comparison_plot(self) -> None:
        keys, means, errs = [], [], []
        for key in METHODS:
            m = self.method(key)
            if m is None:
                continue
            ci = m.get("seeds")
            if isinstance(ci, Mapping) and "mean" in ci:
                keys.append(key)
                means.append(ci["mean"])
                errs.append((ci["mean"] - ci["low"], ci["high"] - ci["mean"]))
            elif isinstance(m.get("accuracy"), int | float):
                keys.append(key)
                means.append(m["accuracy"])
                errs.append((0.0, 0.0))
        if not keys:
            return
        fig = self.Figure(figsize=(6, 3.2))
        ax = fig.subplots()
        yerr = [[e[0] for e in errs], [e[1] for e in errs]]
        bars = ax.bar(
            [SHORT_NAMES[k] for k in keys],
            means,
            yerr=yerr,
            capsize=6,
            color=[COLORS[k] for k in keys],
        )
        ax.bar_label(bars, fmt="%.3f", label_type="center", color="white")
        ax.set_ylabel("accuracy")
        ax.set_ylim(0, 1)
        ax.set_title("Accuracy (error bars: confidence interval over seeds)")
        alt = "Accuracy by method: " + ", ".join(
            f"{METHOD_NAMES[k]} {v:.3f}" for k, v in zip(keys, means, strict=True)
        )
        self.parts.append(self.img("comparison", fig, alt))

    def learning_curve(self) -> None:
        self.parts.append("<h2>Learning curve</h2>")
        points = self.r.get("learning_curve")
        if not points:
            self.parts.append(self.missing("learning_curve"))
            return
        fig = self.Figure(figsize=(6.5, 3.8))
        ax = fig.subplots()
        sizes = []
        for key in METHODS:
            rows = [
                (p["size"], p[key])
                for p in points
                if isinstance(p, Mapping) and isinstance(p.get(key), Mapping) and "size" in p
            ]
            if not rows:
                continue
            rows.sort(key=lambda row: row[0])
            xs = [row[0] for row in rows]
            sizes += xs
            ax.plot(
                xs, [ci["mean"] for _, ci in rows], "o-", color=COLORS[key], label=METHOD_NAMES[key]
            )
            ax.fill_between(
                xs,
                [ci.get("low", ci["mean"]) for _, ci in rows],
                [ci.get("high", ci["mean"]) for _, ci in rows],
                color=COLORS[key],
                alpha=0.2,
            )
        if not sizes:
            raise InputError(
                "learning_curve has no point with a 'size' and a method interval; each point "
                "must look like {'size': 100, 'transfer': mean_ci(...), ...}."
            )
        if max(sizes) >= 8 * min(sizes) > 0:
            ax.set_xscale("log")
        ax.set_xlabel("training examples")
        ax.set_ylabel("accuracy")
        ax.set_title("Learning curve (bands: confidence interval over seeds)")
        ax.legend()
        self.parts.append(
            self.img("learning_curve", fig, f"Learning curve over {len(set(sizes))} training sizes")
        )
        head = "<tr><th>size</th><th>per class</th>" + "".join(
            f"<th>{METHOD_NAMES[k]}</th>" for k in METHODS
        )
        body = "".join(
            f"<tr><td class=num>{_fmt(p.get('size'))}</td><td class=num>{_fmt(p.get('per_class'))}"
            "</td>" + "".join(f"<td>{_fmt_ci(p.get(k))}</td>" for k in METHODS) + "</tr>"
            for p in points
            if isinstance(p, Mapping)
        )
        self.parts.append(f"<table>{head}</tr>{body}</table>")

    def training_curves(self) -> None:
        from matplotlib.ticker import MaxNLocator

        self.parts.append("<h2>Training and validation curves</h2>")
        drawn = False
        for key in ("transfer", "scratch"):
            m = self.method(key)
            curves = m.get("curves") if m else None
            if not isinstance(curves, Mapping) or not curves.get("epoch"):
                self.parts.append(f"<p>{METHOD_NAMES[key]}:</p>" + self.missing(f"{key}.curves"))
                continue
            epochs = list(curves["epoch"])
            series = {k: list(v) for k, v in curves.items() if k != "epoch" and v is not None}
            for k, v in series.items():
                if len(v) != len(epochs):
                    raise InputError(
                        f"{key}.curves[{k!r}] has {len(v)} values but 'epoch' has {len(epochs)}; "
                        "record one value per epoch."
                    )
            losses = {k: v for k, v in series.items() if "loss" in k}
            others = {k: v for k, v in series.items() if "loss" not in k}
            panels = [p for p in (others, losses) if p]
            fig = self.Figure(figsize=(4.2 * max(1, len(panels)), 3.2))
            axes = fig.subplots(1, max(1, len(panels)), squeeze=False)[0]
            for ax, panel in zip(axes, panels, strict=False):
                for name, values in panel.items():
                    style = "--" if name.startswith("train") else "-"
                    ax.plot(epochs, values, style, marker="o", label=name)
                ax.set_xlabel("epoch")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.legend()
            fig.suptitle(METHOD_NAMES[key])
            alt = f"{METHOD_NAMES[key]}: {', '.join(series)} over {len(epochs)} epochs"
            self.parts.append(self.img(f"curves_{key}", fig, alt))
            drawn = True
        if not drawn:
            self.parts.append("<p>No per-epoch curves (classical baselines have none).</p>")

    def confusion(self) -> None:
        self.parts.append("<h2>Confusion matrices</h2>")
        for key in METHODS:
            m = self.method(key)
            conf = m.get("confusion") if m else None
            if not isinstance(conf, Mapping):
                self.parts.append(f"<p>{METHOD_NAMES[key]}:</p>" + self.missing(f"{key}.confusion"))
                continue
            labels = [str(x) for x in conf.get("labels", [])]
            matrix = [list(row) for row in conf.get("matrix", [])]
            if (
                not labels
                or len(matrix) != len(labels)
                or any(len(r) != len(labels) for r in matrix)
            ):
                raise InputError(
                    f"{key}.confusion must hold 'labels' (k names) and a k x k 'matrix'; got "
                    f"{len(labels)} labels and a matrix with {len(matrix)} rows."
                )
            k = len(labels)
            fig = self.Figure(figsize=(1.2 + 0.6 * k, 1.0 + 0.6 * k))
            ax = fig.subplots()
            ax.imshow(matrix, cmap="Blues")
            top = max(max(r) for r in matrix) or 1
            for i in range(k):
                for j in range(k):
                    color = "white" if matrix[i][j] > top / 2 else "black"
                    ax.text(j, i, str(matrix[i][j]), ha="center", va="center", color=color)
            ax.set_xticks(range(k), labels, rotation=45, ha="right")
            ax.set_yticks(range(k), labels)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(METHOD_NAMES[key])
            alt = f"Confusion matrix of {METHOD_NAMES[key]} over classes {', '.join(labels)}"
            self.parts.append(self.img(f"confusion_{key}", fig, alt))

    def domain_gap(self) -> None:
        from transferkit.evaluation.domain import interpret_a_distance

        self.parts.append("<h2>Domain gap</h2>")
        gap = self.r.get("domain_gap")
        if not isinstance(gap, Mapping) or not gap:
            self.parts.append(self.missing("domain_gap"))
            return
        text = gap.get("interpretation")
        pad = gap.get("a_distance")
        if not text and isinstance(pad, int | float) and 0 <= pad <= 2:
            text = interpret_a_distance(pad)
        if text:
            self.parts.append(f"<p>{_esc(text)}</p>")
        rows = "".join(
            f"<tr><th>{_esc(k)}</th><td class=num>{_fmt(v)}</td></tr>"
            for k, v in gap.items()
            if k != "interpretation" and not isinstance(v, Mapping | list)
        )
        self.parts.append(f"<table>{rows}</table>")

    def tail(self) -> None:
        skipped = [s for s in (self.r.get("skipped") or []) if isinstance(s, Mapping)]
        if skipped:
            self.parts.append("<h2>Not measured</h2><ul>")
            self.parts += [f"<li>{_esc(s.get('what'))}: {_esc(s.get('why'))}</li>" for s in skipped]
            self.parts.append("</ul>")
        raw = json.dumps(to_jsonable(self.r), indent=2, allow_nan=False)
        self.parts.append(
            f"<details><summary>Raw result (JSON)</summary><pre>{_esc(raw)}</pre></details>"
        )

    def build(self) -> str:
        for section in (
            self.task,
            self.warnings,
            self.results,
            self.learning_curve,
            self.training_curves,
            self.confusion,
            self.domain_gap,
            self.tail,
        ):
            section()
        body = "\n".join(self.parts)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>transferkit report</title>"
            f"<style>{_CSS}</style><script>{_SCRIPT}</script></head>\n<body>\n{body}\n</body></html>\n"
        )


def render_html(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the comparison report for `result` to `path` as one self-contained HTML file.

    Returns the path written. Sections missing from `result` (or null) are shown as
    "not measured: <why>", the why taken from ``result["skipped"]``.

    Raises:
        FileMissingError: the folder of `path` does not exist.
        InputError: `result` is not a dict, or a section has the wrong shape.
        MissingExtraError: matplotlib is not installed (``pip install 'transferkit[report]'``).
    """
    out = check_output_path(path, "JSON file")
    if not isinstance(result, Mapping):
        raise InputError(
            f"result must be a dict shaped like the comparison result; got {type(result).__name__}."
        )
    require_extra("matplotlib", "report")
    out.write_text(_Builder(result).build(), encoding="utf-8")
    return out
