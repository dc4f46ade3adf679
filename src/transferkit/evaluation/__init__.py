"""Evaluation: metrics, classical baselines, confidence intervals, domain gap, reports.

The building blocks are model-free and imported from their modules, so that
`import transferkit.evaluate` stays cheap (scikit-learn and matplotlib load only
when a function that needs them is called):

- `transferkit.core.metrics`: `classification_report`, `format_report`
- `transferkit.evaluation.baselines`: `TfidfLogReg`, `PixelLogReg`
- `transferkit.evaluation.stats`: `mean_ci`, `separated`, `verdict`, `compare`
- `transferkit.evaluation.domain`: `proxy_a_distance`, `interpret_a_distance`,
  `zero_shot_summary`
- `transferkit.evaluation.report`: `render_html`, `write_json`
"""

from __future__ import annotations
