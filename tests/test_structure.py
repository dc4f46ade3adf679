"""The redesign's structure: the layers hold, one batched inference helper, decisions
carried as fields, typed results exported."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    """`lint-imports` (import-linter, a dev tool) keeps every contract in pyproject.toml."""
    exe = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    if not Path(exe).exists():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    env_path = str(ROOT / "src")
    run = subprocess.run(
        [exe, "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": env_path, "PATH": str(Path(exe).parent)},
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "0 broken" in run.stdout


def test_batched_helper_buckets_by_length_and_restores_order() -> None:
    from transferkit.core.inference import index_batches, run_batched

    items = ["aaaa", "a", "aaaaaaa", "aa", "aaaaa"]
    seen: list[list[str]] = []

    def run(batch: list[str]) -> np.ndarray:
        seen.append(batch)
        return np.array([[len(x), 1.0] for x in batch], dtype=np.float32)

    out = run_batched(run, items, batch_size=2)
    assert out[:, 0].tolist() == [4, 1, 7, 2, 5]  # input order
    assert seen == [["aaaaaaa", "aaaaa"], ["aaaa", "aa"], ["a"]]  # longest first
    # non-text inputs keep their order; dict outputs are restored too
    assert index_batches([3, 1, 2], 2) == [[0, 1], [2]]
    got = run_batched(lambda b: {"x": np.array(b)[:, None]}, [5, 6, 7], batch_size=2)
    assert got["x"][:, 0].tolist() == [5, 6, 7]


def test_plan_carries_who_chose_and_a_reason_without_estimates() -> None:
    from transferkit.core.strategies import choose_strategy

    few = {"a": 8, "b": 8}
    auto = choose_strategy("auto", modality="text", counts=few, budget=None, params=22_700_000)
    assert auto.strategy == "contrastive" and auto.chosen_by == "auto"
    assert "~" in auto.reason and "~" not in auto.rationale
    assert auto.reason.startswith(auto.rationale)
    user = choose_strategy("probe", modality="text", counts=few, budget=None, params=1)
    assert user.chosen_by == "user" and "chosen by the user" in user.reason


def test_typed_results_are_exported_and_read_like_dicts() -> None:
    import transferkit
    from transferkit.core.results import CandidateRow, EvaluationReport

    for name in ("FitResult", "RankResult", "CandidateRow", "CompareResult", "EvaluationReport"):
        assert name in transferkit.__all__ and getattr(transferkit, name).__name__ == name
    for name in ("evaluate", "InputError", "DataError", "ModelNotFoundError"):
        assert getattr(transferkit, name) is not None
    assert issubclass(transferkit.InputError, ValueError)
    rep = EvaluationReport(0.5, 0.4, 2, {}, {"labels": [], "matrix": []})
    assert rep["accuracy"] == 0.5 and dict(rep) == rep.to_dict() and list(rep)[0] == "accuracy"
    with pytest.raises(KeyError):
        rep["nope"]
    row = CandidateRow.from_dict(
        {
            "model": "m",
            "cut": 4,
            "cut_desc": None,
            "features_only": False,
            "scores": {},
            "cost": {},
            "error": None,
            "rank": 1,
            "why": "best",
        }  # fmt: skip
    )
    assert row["rank"] == 1 and row.get("utility") is None and row.to_dict()["why"] == "best"


def test_cut_rule_is_one_input_error_everywhere() -> None:
    from transferkit.errors import InputError
    from transferkit.zoo.mobilenet_v2 import MobileNetV2

    with pytest.raises(InputError, match=r"cut 9 is out of range.*1 <= k <= 8"):
        MobileNetV2().truncate(9)
