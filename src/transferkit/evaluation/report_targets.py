"""The comparison report for multi-label data and numeric targets: one self-contained
HTML file, built like `evaluation.report` (inline styles, matplotlib PNGs as ``data:``
URIs, every plot an ``<img data-plot=...>`` with alt text, the same load-count script).

Sections: the task; warnings; a results table (every figure of the kind, the headline's
95% interval over seeds); the learning curve; for multi-label the calibration of the
probabilities (pooled over labels) with the tuned per-label thresholds, and per-label
F1; for regression predicted vs true values (seed 0); the domain gap; what was not
measured; the raw JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transferkit.errors import InputError, require_extra
from transferkit.evaluation.report import (
    _CSS,
    _SCRIPT,
    _Builder,
    _esc,
    _fmt,
    _fmt_ci,
    check_output_path,
)

METHOD_NAMES = {"transfer": "transfer", "scratch": "from scratch", "classical": "classical"}


class _TargetBuilder(_Builder):
    """The sections of a multi-label / regression comparison."""

    def kind(self) -> str:
        return str((self.r.get("task") or {}).get("kind", ""))

    def task(self) -> None:
        t = self.r.get("task") or {}
        self.parts.append(f"<h1>transferkit comparison: {_esc(t.get('name', 'data'))}</h1>")
        self.parts.append(
            f"<p>{_esc(t.get('kind'))} · base {_esc(t.get('base'))} · strategy "
            f"{_esc(t.get('strategy'))} · {t.get('n_fit')} fitting / {t.get('n_val')} "
            f"validation / {t.get('n_eval')} test examples · {t.get('seeds')} seed(s) · "
            f"headline figure: {_esc(t.get('metric'))}</p>"
        )
        for note in self.r.get("notes") or []:
            self.parts.append(f"<p class='note'>{_esc(note)}</p>")

    def results(self) -> None:
        from transferkit.evaluation.multitask import FIGURES

        figures = FIGURES.get(self.kind(), ())
        head = "".join(f"<th>{_esc(f)}</th>" for f in figures)
        self.parts.append(
            f"<h2>Results (test data)</h2><table><tr><th>method</th>{head}"
            "<th>headline 95% interval</th><th>seconds</th></tr>"
        )
        for key, name in METHOD_NAMES.items():
            m = self.method(key)
            if m is None:
                cells = f"<td colspan='{len(figures) + 2}'>{self.missing(key)}</td>"
            else:
                cells = "".join(f"<td>{_fmt(m.get(f))}</td>" for f in figures)
                cells += (
                    f"<td>{_fmt_ci(m.get('seeds'))}</td><td>{_fmt(m.get('train_seconds'), 1)}</td>"
                )
            self.parts.append(f"<tr><td>{_esc(name)}</td>{cells}</tr>")
        self.parts.append("</table>")

    def learning_curve(self) -> None:
        points = [p for p in self.r.get("learning_curve") or [] if isinstance(p, Mapping)]
        self.parts.append("<h2>Learning curve</h2>")
        if len(points) < 2:
            self.parts.append(self.missing("learning_curve"))
            return
        metric = (self.r.get("task") or {}).get("metric", "score")
        fig = self.Figure(figsize=(6, 3.5))
        ax = fig.add_subplot()
        for key, name in METHOD_NAMES.items():
            xs = [p["size"] for p in points if isinstance(p.get(key), Mapping)]
            ys = [p[key]["mean"] for p in points if isinstance(p.get(key), Mapping)]
            if xs:
                ax.plot(xs, ys, marker="o", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("training examples")
        ax.set_ylabel(f"test {metric}")
        ax.legend()
        self.parts.append(self.img("learning_curve", fig, f"test {metric} by training size"))

    def calibration(self) -> None:
        """Multi-label: reliability curve per method and the tuned thresholds."""
        self.parts.append("<h2>Calibration and thresholds</h2>")
        fig = self.Figure(figsize=(11, 4))
        ax, bx = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
        drawn = False
        for key, name in METHOD_NAMES.items():
            plot = (self.method(key) or {}).get("plot") or {}
            cal = plot.get("calibration")
            if cal and cal.get("predicted"):
                ax.plot(cal["predicted"], cal["observed"], marker="o", label=name)
                drawn = True
            if plot.get("thresholds"):
                bx.plot(range(len(plot["thresholds"])), plot["thresholds"], marker="o", label=name)
        if not drawn:
            self.parts.append(self.missing("transfer"))
            return
        ax.set_xlabel("predicted probability (all labels pooled)")
        ax.set_ylabel("observed share of positives")
        ax.legend()
        bx.axhline(0.5, color="grey", linestyle=":")
        bx.set_xlabel("label (index in the class list)")
        bx.set_ylabel("decision threshold (tuned on validation)")
        bx.set_ylim(0, 1)
        bx.legend()
        alt = "calibration of the predicted label probabilities and the per-label thresholds"
        self.parts.append(self.img("calibration", fig, alt))
        per = (self.method("transfer") or {}).get("per_label") or {}
        if per:
            rows = "".join(
                f"<tr><td>{_esc(k)}</td><td>{_fmt(v.get('precision'))}</td>"
                f"<td>{_fmt(v.get('recall'))}</td><td>{_fmt(v.get('f1'))}</td>"
                f"<td>{v.get('support')}</td><td>{_fmt(v.get('threshold'), 2)}</td></tr>"
                for k, v in per.items()
            )
            self.parts.append(
                "<h3>Transfer, per label (seed 0)</h3><table><tr><th>label</th><th>precision"
                "</th><th>recall</th><th>F1</th><th>support</th><th>threshold</th></tr>"
                f"{rows}</table>"
            )

    def scatter(self) -> None:
        """Regression: predicted vs true values per method (seed 0)."""
        self.parts.append("<h2>Predicted vs true</h2>")
        shown = [(k, n) for k, n in METHOD_NAMES.items() if (self.method(k) or {}).get("plot")]
        if not shown:
            self.parts.append(self.missing("transfer"))
            return
        fig = self.Figure(figsize=(4 * len(shown), 4))
        for i, (key, name) in enumerate(shown, start=1):
            plot = self.method(key)["plot"]  # type: ignore[index]
            ax = fig.add_subplot(1, len(shown), i)
            ax.scatter(plot["true"], plot["predicted"], s=6, alpha=0.4)
            lo = min(min(plot["true"]), min(plot["predicted"]))
            hi = max(max(plot["true"]), max(plot["predicted"]))
            ax.plot([lo, hi], [lo, hi], color="grey", linestyle=":")
            ax.set_title(name)
            ax.set_xlabel("true")
            ax.set_ylabel("predicted")
        self.parts.append(self.img("scatter", fig, "predicted against true target values"))

    def build(self) -> str:
        sections = [self.task, self.warnings, self.results, self.learning_curve]
        sections.append(self.calibration if self.kind() == "multi-label" else self.scatter)
        sections.append(self.domain_gap)
        for section in [*sections, self.tail]:
            section()
        body = "\n".join(self.parts)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>transferkit report</title>"
            f"<style>{_CSS}</style><script>{_SCRIPT}</script></head>\n<body>\n{body}\n</body></html>\n"
        )


def render_targets_html(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write the multi-label / regression comparison report for `result` to `path`.

    Raises:
        FileMissingError: the folder of `path` does not exist.
        InputError: `result` is not a dict.
        MissingExtraError: matplotlib is not installed (``pip install 'transferkit[report]'``).
    """
    out = check_output_path(path, "report")
    if not isinstance(result, Mapping):
        raise InputError(f"result must be a comparison result dict; got {type(result).__name__}.")
    require_extra("matplotlib", "report")
    out.write_text(_TargetBuilder(result).build(), encoding="utf-8")
    return out
