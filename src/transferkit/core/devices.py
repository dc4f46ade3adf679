"""Which device a model runs on, and what changes there (the one resolver).

``device`` everywhere (pipeline, fit, rank, compare, evaluate, ``--device``) is one of
``"auto"`` (CUDA when torch sees a GPU, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
``"mps"``. A request torch cannot honour fails with one line naming what torch sees.

Workflows run inside ``device_scope(device)``; the one trainer (`core.trainer`,
`core.loop`) and the one batched inference helper (`core.inference`) read
``current_device()`` and do the rest:

- the model is moved there, batches follow with ``to_device`` (pinned host memory and
  non-blocking copies on CUDA: the copy overlaps the previous batch's compute);
- on CUDA, mixed precision (``autocast``): bf16 where the GPU supports it, else fp16 with
  a gradient scaler (``grad_scaler``) so small fp16 gradients do not underflow to zero;
- outputs come back as float32 on the CPU, saved weights are written from CPU copies, and
  the feature-cache keys do not name the device, so a model fitted on a GPU loads and
  predicts on a CPU with the same labels.

``torch.compile`` is not used: on the small encoders here its compile time (tens of
seconds) outweighs what it saves in a fit of a few minutes; it is left to be measured on
a GPU (benchmarks/gpu.sh).

>>> str(resolve_device("cpu"))
'cpu'
>>> with device_scope("cpu"):
...     str(current_device())
'cpu'
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch

from transferkit.errors import InputError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

_current: contextvars.ContextVar[torch.device | None] = contextvars.ContextVar(
    "transferkit_device", default=None
)


def what_torch_sees() -> str:
    """One phrase: the accelerators torch can use in this process."""
    seen = []
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        seen.append(f"{n} CUDA device{'s' if n != 1 else ''} ({torch.cuda.get_device_name(0)})")
    if _mps_available():
        seen.append("MPS")
    cuda_build = "a CPU-only build" if torch.version.cuda is None else f"CUDA {torch.version.cuda}"
    found = ", ".join(seen) if seen else "no GPU"
    return f"torch {torch.__version__} ({cuda_build}) sees {found}"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch.device for a ``device`` setting; InputError when torch cannot use it.

    >>> resolve_device("cpu").type
    'cpu'
    """
    if isinstance(device, torch.device):
        device = str(device)
    spec = "auto" if device is None else str(device).strip().lower()
    if not _PATTERN.match(spec):
        raise InputError(f"device {device!r} is not one of {DEVICE_CHOICES}")
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise InputError(f"device 'mps' is not available: {what_torch_sees()}; use cpu")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise InputError(
            f"device {spec!r} is not available: {what_torch_sees()}; use --device cpu "
            "(or auto), or install a CUDA build of torch on a machine with a GPU"
        )
    index = int(spec.split(":")[1]) if ":" in spec else 0
    if index >= torch.cuda.device_count():
        raise InputError(
            f"device {spec!r} is not available: {what_torch_sees()}; "
            f"use cuda:0..cuda:{torch.cuda.device_count() - 1}"
        )
    return torch.device("cuda", index)


def current_device() -> torch.device:
    """The device of the enclosing `device_scope` (the CPU outside any)."""
    return _current.get() or torch.device("cpu")


@contextlib.contextmanager
def device_scope(device: str | torch.device | None) -> Iterator[torch.device]:
    """Run the block with `device` resolved as the current device (see module doc)."""
    resolved = resolve_device(device)
    token = _current.set(resolved)
    try:
        yield resolved
    finally:
        _current.reset(token)


def describe(device: torch.device) -> str:
    """One phrase for summaries: "cpu", or "cuda:0 (NVIDIA …, bf16 mixed precision)"."""
    if device.type != "cuda":
        return device.type
    dtype = amp_dtype(device)
    return f"{device} ({torch.cuda.get_device_name(device)}, {_name(dtype)} mixed precision)"


def _name(dtype: torch.dtype | None) -> str:
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")  # type: ignore[arg-type]


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype on `device`: bf16 on a CUDA GPU that supports it, else fp16;
    None (full precision) off CUDA."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision for the forward pass on CUDA; a no-op elsewhere."""
    dtype = amp_dtype(device)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device) -> torch.amp.GradScaler:
    """A loss scaler, enabled only for fp16 on CUDA (bf16 has fp32's range: no scaling)."""
    return torch.amp.GradScaler("cuda", enabled=amp_dtype(device) == torch.float16)


def to_device(batch: Any, device: torch.device) -> Any:
    """A tensor, or a dict of tensors, on `device`: pinned + non-blocking to CUDA,
    unchanged (no copy) when it is already there."""
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if not isinstance(batch, torch.Tensor) or batch.device == device:
        return batch
    if device.type == "cuda" and batch.device.type == "cpu":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


def move_model(model: Any, device: torch.device) -> Any:
    """`model` on `device` when it is a torch module (onnxruntime models stay as they are)."""
    if isinstance(model, torch.nn.Module):
        model.to(device)
    return model


F = TypeVar("F", bound=Callable[..., Any])


def runs_on_device(fn: F) -> F:
    """Run `fn` inside ``device_scope(device)``, `device` being its own keyword argument
    (default "auto"): how fit, rank, compare and evaluate take ``device=``. Called inside
    another one's scope without ``device=`` (compare → fit → rank), it keeps that scope."""
    default = inspect.signature(fn).parameters["device"].default

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if "device" not in kwargs and _current.get() is not None:
            return fn(*args, **kwargs)
        with device_scope(kwargs.get("device", default)):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
