"""Several batches at once on the CPU (`utils.batching.map_batches`): same results as one
batch at a time, in order, one thread per batch, errors and interrupts stop the pool."""

from __future__ import annotations

import contextvars
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import transferkit
from transferkit.core.inference import parallel_batches
from transferkit.errors import InputError
from transferkit.pipelines.classification import token_lengths
from transferkit.utils.batching import TOKENIZER_LOCK, map_batches, run_batched

_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("test_var", default="unset")


def test_map_batches_keeps_order_runs_concurrently_and_carries_context() -> None:
    seen: set[str] = set()
    running, peak, lock = [0], [0], threading.Lock()

    def fn(x: int) -> tuple[int, str]:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        seen.add(threading.current_thread().name)
        time.sleep(0.02 * (5 - x % 5))  # later batches finish first
        with lock:
            running[0] -= 1
        return x * x, _VAR.get()

    token = _VAR.set("caller's")
    try:
        out = list(map_batches(fn, list(range(12)), workers=3))
    finally:
        _VAR.reset(token)
    assert [y for y, _ in out] == [x * x for x in range(12)]
    assert {v for _, v in out} == {"caller's"}
    assert peak[0] >= 2 and all(n.startswith("transferkit-batch") for n in seen)
    # one worker or one batch: the caller's thread, nothing started
    assert (
        list(map_batches(lambda x: threading.current_thread().name, [1, 2], 1))
        == [threading.current_thread().name] * 2
    )


def test_map_batches_error_cancels_the_rest() -> None:
    started: list[int] = []

    def fn(x: int) -> int:
        started.append(x)
        if x == 1:
            raise ValueError("bad batch 1")
        time.sleep(0.05)
        return x

    with pytest.raises(ValueError, match="bad batch 1"):
        list(map_batches(fn, list(range(40)), workers=2))
    time.sleep(0.2)
    n = len(started)
    time.sleep(0.2)
    assert len(started) == n < 40  # nothing left running after the call returned


def test_run_batched_with_workers_matches_one_at_a_time() -> None:
    items = [f"{'x' * (i % 7)}-{i}" for i in range(50)]

    def run(batch: list[str]) -> np.ndarray:
        return np.array([[len(s), int(s.split("-")[1])] for s in batch], dtype=np.float32)

    one = run_batched(run, items, batch_size=4)
    two = run_batched(run, items, batch_size=4, workers=2)
    np.testing.assert_array_equal(one, two)
    assert two[:, 1].tolist() == list(range(50))  # input order


def test_parallel_batches_sets_threads_and_restores_them() -> None:
    cpu, threads = torch.device("cpu"), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with parallel_batches(object(), cpu, 10) as n:
            assert n == 2 and torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        for device, batches in ((torch.device("cuda"), 10), (cpu, 1)):
            with parallel_batches(object(), device, batches) as n:
                assert n == 1 and torch.get_num_threads() == 2
        with parallel_batches(object(), cpu, 10, workers=4) as n:  # asked for: 4 on 1 each
            assert n == 4 and torch.get_num_threads() == 1
        with pytest.raises(RuntimeError, match="inside"):
            with parallel_batches(object(), cpu, 10):
                raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
        # while one call holds the window, another thread's call runs one batch at a time
        # and leaves its own thread count alone
        seen: list[tuple[int, int]] = []

        def other() -> None:
            with parallel_batches(object(), cpu, 10) as n:
                seen.append((n, torch.get_num_threads()))
            seen.append((0, torch.get_num_threads()))

        with parallel_batches(object(), cpu, 10) as n:
            t = threading.Thread(target=other)
            t.start()
            t.join()
        assert n == 2 and seen[0][0] == 1 and seen[0][1] == seen[1][1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_pipeline_parallel_batches_match_one_thread(
    tiny_bert: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fx = transferkit.pipeline("feature-extraction", model=str(tiny_bert), batch_size=4)
    texts = [" ".join(["word"] * (1 + i % 9)) + f" number {i}" for i in range(40)]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel = np.stack(fx(texts))
        fx.workers = 1  # one batch at a time
        serial = np.stack(fx(texts))
        fx.workers = None
        np.testing.assert_allclose(parallel, serial, atol=1e-5)
        np.testing.assert_allclose(parallel[7], fx(texts[7]), atol=1e-5)  # order restored
        # two callers at once (a threaded app): same answers, thread count intact
        answers: list[np.ndarray] = []

        def call() -> None:
            answers.append(np.stack(fx(texts)))

        callers = [threading.Thread(target=call) for _ in range(2)]
        for c in callers:
            c.start()
        for c in callers:
            c.join()
        assert len(answers) == 2 and all(np.allclose(a, parallel, atol=1e-5) for a in answers)
        assert torch.get_num_threads() == 2
        # an input that fails inside a worker's batch is named, or reported in place
        real = fx.model.preprocess

        def preprocess(items: list[str]) -> dict[str, torch.Tensor]:
            if "BOOM" in items:
                raise ValueError("cannot tokenize BOOM")
            return real(items)

        monkeypatch.setattr(fx.model, "preprocess", preprocess)
        bad = texts[:25] + ["BOOM"] + texts[25:]
        with pytest.raises(InputError, match="input 25 cannot be processed"):
            fx(bad)
        assert torch.get_num_threads() == 2  # restored after the error
        out = fx(bad, errors="report")
        assert "BOOM" in out[25]["error"] and np.allclose(out[26], parallel[25], atol=1e-5)
    finally:
        torch.set_num_threads(threads)
    with pytest.raises(InputError, match="workers"):
        fx.workers = 0
        fx(texts)


def test_every_tokenizer_call_holds_the_lock(tiny_bert: Path, tmp_path: Path) -> None:
    """A fast tokenizer resets padding/truncation on the shared Rust object at each call,
    which fails with "Already borrowed" while another thread encodes
    (huggingface/transformers#47085): the library's tokenizer calls hold one lock, in the
    torch models, the onnxruntime models and the token counting that buckets batches."""
    from transferkit.export import export_onnx
    from transferkit.models.onnx_runtime import OnnxModel

    held: list[bool] = []

    class Spy:
        def __init__(self, tok: object) -> None:
            self.tok = tok

        def __call__(self, *args: object, **kwargs: object) -> object:
            held.append(TOKENIZER_LOCK.locked())
            return self.tok(*args, **kwargs)  # type: ignore[operator]

    fx = transferkit.pipeline("feature-extraction", model=str(tiny_bert))
    export_onnx(str(tiny_bert), tmp_path / "onnx")
    onnx = OnnxModel(tmp_path / "onnx")
    for model in (fx.model, onnx):
        model.tokenizer  # noqa: B018  (loads it)
        spy = Spy(model.tokenizer)
        if isinstance(model, OnnxModel):
            model._tokenizer = spy
        else:
            model.tokenizer = spy
        model.preprocess(["one sentence", "and another one"])
        token_lengths(model, ["one sentence", "and another one"])
    assert held == [True] * 4


def test_onnx_pipeline_runs_parallel_batches_on_one_thread_sessions(
    tiny_bert: Path, tmp_path: Path
) -> None:
    from transferkit.export import export_onnx

    export_onnx(str(tiny_bert), tmp_path / "onnx")
    fx = transferkit.pipeline("feature-extraction", model=str(tmp_path / "onnx"), batch_size=4)
    texts = [" ".join(["word"] * (1 + i % 9)) + f" number {i}" for i in range(40)]
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        parallel = np.stack(fx(texts))
        fx.workers = 1
        serial = np.stack(fx(texts))
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(parallel, serial, atol=1e-5)
    assert fx.model._worker_session is None  # back on its own session
    one = fx.model._sessions.get(1)  # the workers' session, opened by the parallel call
    assert one.get_session_options().intra_op_num_threads == 1
    assert fx.model.session.get_session_options().intra_op_num_threads != 1 or threads == 1
