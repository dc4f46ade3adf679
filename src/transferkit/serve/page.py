"""The small HTML page served at `/`: try the model by hand (no external assets)."""

from __future__ import annotations

import html
from typing import Any

PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>transferkit: {{TASK}}</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
 textarea{width:100%;height:7rem;font:inherit} pre{background:#f4f4f4;padding:.8rem;overflow:auto}
 label{display:block;margin:.6rem 0 .2rem} .err{color:#a00}
</style></head>
<body>
<h1>transferkit</h1>
<p>Task: <b id="task">{{TASK}}</b> &middot; <a href="/docs">API docs</a></p>
<form id="form">
 <div id="text-box"><label for="text">Text (one input per line)</label>
  <textarea id="text" name="text">Transfer learning can help overcome issues related to over-reliance on data in machine learning</textarea></div>
 <div id="file-box"><label for="files">Images</label><input id="files" type="file" accept="image/*" multiple></div>
 <label for="token">Bearer token (if the server has one)</label><input id="token" type="password" size="30">
 <p><button id="go" type="submit">Predict</button></p>
</form>
<pre id="result" aria-live="polite"></pre>
<script>
const modality = "{{MODALITY}}";
document.getElementById(modality === "image" ? "text-box" : "file-box").style.display = "none";
document.getElementById("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const out = document.getElementById("result");
  out.className = ""; out.textContent = "...";
  const headers = {};
  const token = document.getElementById("token").value;
  if (token) headers["Authorization"] = "Bearer " + token;
  let body;
  if (modality === "image") {
    body = new FormData();
    for (const f of document.getElementById("files").files) body.append("files", f);
  } else {
    const lines = document.getElementById("text").value.split("\\n").filter(s => s.trim());
    headers["Content-Type"] = "application/json";
    body = JSON.stringify({inputs: lines.length === 1 ? lines[0] : lines});
  }
  try {
    const r = await fetch("/predict", {method: "POST", headers, body});
    const data = await r.json();
    if (!r.ok) out.className = "err";
    out.textContent = JSON.stringify(data, null, 2);
    out.dataset.status = String(r.status);
  } catch (e) { out.className = "err"; out.textContent = String(e); out.dataset.status = "0"; }
});
</script>
</body></html>
"""


def docs_html(spec: dict[str, Any]) -> str:
    """`/docs`: the routes of the OpenAPI `spec` as a plain page (no scripts, no CDN), with a
    link to the full spec at /openapi.json."""
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            summary = html.escape(str(op.get("summary", "")))
            codes = ", ".join(sorted(op.get("responses", {})))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code>"
                f"</td><td>{summary}</td><td>{codes}</td></tr>"
            )
    title = html.escape(
        f"{spec.get('info', {}).get('title', 'API')} {spec.get('info', {}).get('version', '')}"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:"
        "50rem;margin:2rem auto}} td{{padding:.2rem .6rem;border-bottom:1px solid #ddd}}</style>"
        f"</head><body><h1>{title}</h1><p>{html.escape(str(spec.get('info', {}).get('description', '')))}</p>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>responses</th></tr>"
        + "".join(rows)
        + "</table><p>The full OpenAPI spec: <a href='/openapi.json'>/openapi.json</a> "
        "(with a token, send it as <code>Authorization: Bearer &lt;token&gt;</code>). "
        'POST /predict takes <code>{"inputs": "a text"}</code> or a list.</p></body></html>'
    )
