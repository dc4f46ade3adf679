"""Nothing transferkit ships or writes holds a machine's path, user or host; a saved folder
copied elsewhere (with a new feature cache) answers exactly as before."""

from __future__ import annotations

import getpass
import json
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import transferkit

# An absolute path of some machine: a root folder name after a slash that does not follow a
# word character (so "text/sst2" or "https://..." do not count), or a site-packages folder.
ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:root|home|Users|tmp|usr|opt|var|work|mnt|srv|private)/")


def machine_traces(text: str) -> list[str]:
    found = [m.group(0) for m in ABSOLUTE.finditer(text)]
    if "site-packages" in text:
        found.append("site-packages")
    host = socket.gethostname()
    if len(host) >= 4 and host in text:
        found.append(f"host name {host!r}")
    user = getpass.getuser()
    if user not in ("root", "user") and re.search(rf"\b{re.escape(user)}\b", text):
        found.append(f"user name {user!r}")
    return found


def scan_folder(folder: Path) -> dict[str, list[str]]:
    """Every file under `folder` (binary ones as bytes), with the traces found in it."""
    hits = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and f.suffix not in (".py", ".pyc"):
            traces = machine_traces(f.read_bytes().decode("utf-8", errors="ignore"))
            if traces:
                hits[str(f.relative_to(folder))] = traces
    return hits


def test_the_scan_finds_a_machine_path(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"base": str(tmp_path / "m")}))
    (tmp_path / "b.json").write_text(json.dumps({"data": "../shared/data/text/sst2"}))
    assert list(scan_folder(tmp_path)) == ["a.json"]


def test_package_data_holds_no_machine_path() -> None:
    package = Path(transferkit.__file__).parent
    assert scan_folder(package) == {}


POS = ["good", "great", "lovely", "superb", "wonderful", "fine", "nice", "excellent"]
NEG = ["bad", "awful", "boring", "dull", "terrible", "poor", "ugly", "horrible"]


def toy(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        texts += [f"{rng.choice(POS)} {rng.choice(POS)} film {i}", f"{rng.choice(NEG)} film {i}"]
        labels += ["pos", "neg"]
    return texts, labels


@pytest.fixture()
def lora_model(tiny_bert: Path, tmp_path: Path) -> Path:
    """A LoRA fit of the tiny BERT: tmp_path/proj/work/m, its base at tmp_path/proj/base."""
    base = tmp_path / "proj" / "base"
    shutil.copytree(tiny_bert, base)
    out = tmp_path / "proj" / "work" / "m"
    transferkit.fit(toy(12), base=str(base), strategy="lora", epochs=1, out=out, progress=False)
    return out


def test_saved_checkpoint_and_exported_folders_hold_no_machine_path(
    lora_model: Path, tmp_path: Path
) -> None:
    from transferkit.core.loop import Checkpoint, LoopState

    assert scan_folder(lora_model) == {}
    # a checkpoint as fit writes it every epoch
    module = torch.nn.Linear(3, 2)
    ckpt = Checkpoint(lora_model.parent / "m.checkpoint", key="k")
    ckpt.bind(module, torch.optim.AdamW(module.parameters()))
    ckpt.on_epoch_end(LoopState(total_steps=1))
    assert scan_folder(lora_model.parent / "m.checkpoint") == {}
    pytest.importorskip("onnxruntime")
    from transferkit.export import export_onnx

    export_onnx(lora_model, lora_model.parent / "m-onnx")
    assert scan_folder(lora_model.parent / "m-onnx") == {}


def test_cli_json_holds_no_machine_path(
    tiny_bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from transferkit.cli import app

    monkeypatch.chdir(tmp_path)
    texts, labels = toy(12)
    pd.DataFrame({"text": texts, "label": labels}).to_csv("train.csv", index=False)
    shutil.copytree(tiny_bert, "base")
    runner = CliRunner()
    fit_args = ["fit", "train.csv", "--base", "base", "--strategy", "probe", "--out", "m"]
    res = runner.invoke(app, [*fit_args, "--json"])
    assert res.exit_code == 0, res.output
    assert machine_traces(res.stdout) == []
    res = runner.invoke(app, ["evaluate", "m", "train.csv", "--json"])
    assert res.exit_code == 0, res.output
    assert machine_traces(res.stdout) == []
    assert scan_folder(tmp_path / "m") == {}


def test_a_copied_folder_answers_the_same_elsewhere(
    lora_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transferkit.pipelines import pipeline

    texts = ["good great film", "awful boring film", "fine film"]
    before = pipeline("text-classification", model=str(lora_model))(texts, top_k=2)
    # the model folder and its base move together to a new root; the old ones are gone
    proj = tmp_path / "proj"
    moved = tmp_path / "elsewhere" / "deeper" / "proj"
    shutil.copytree(proj, moved)
    shutil.rmtree(proj)
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path / "new-cache"))
    after = pipeline("text-classification", model=str(moved / "work" / "m"))(texts, top_k=2)
    assert [[d["label"] for d in r] for r in after] == [[d["label"] for d in r] for r in before]
    np.testing.assert_allclose(
        [[d["score"] for d in r] for r in after],
        [[d["score"] for d in r] for r in before],
        atol=1e-6,
    )
