"""One small training loop with callbacks (after minGPT's trainer and skorch's hooks).

    state = run_loop(module, plan, step_loss, param_groups, cfg, validate=..., callbacks=[...])

- `plan(epoch) -> list[list[int]]`: the batches (example indices) of one epoch; it must be
  a pure function of the epoch number (seeded), so a resumed run sees the same batches.
- `step_loss(indices) -> loss tensor`: forward one batch.
- `validate() -> float` (higher is better), after each epoch, for early stopping.

Learning rates follow linear warm-up then linear decay to 0 (Howard & Ruder 2018's
slanted-triangular shape; BERT's schedule), AdamW with weight decay (Loshchilov & Hutter
2019), gradient-norm clipping. Callbacks: `ProgressCallback` (bar with ETA),
`EarlyStopping`, `TimeLimit`, `Checkpoint` (every epoch, resumable; no pickle: tensors
in safetensors, the rest in JSON).
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)


@dataclass
class LoopConfig:
    epochs: int = 3
    warmup: float = 0.1  # fraction of all steps spent warming up
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    seed: int = 0


@dataclass
class LoopState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps done
    total_steps: int = 0
    loss: float = float("nan")  # running mean of the current epoch
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)
    stop_reason: str = ""
    started: float = field(default_factory=time.time)
    resumed_from: int = 0
    best_state: dict[str, torch.Tensor] | None = None


class Callback:
    def on_train_begin(self, state: LoopState) -> None: ...
    def on_step_end(self, state: LoopState) -> None: ...
    def on_epoch_end(self, state: LoopState) -> None: ...
    def on_train_end(self, state: LoopState) -> None: ...


class ProgressCallback(Callback):
    """A rich progress bar over all steps, with ETA, epoch, loss and validation score."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._cm: Any = None
        self._bar: Any = None

    def on_train_begin(self, state: LoopState) -> None:
        from transferkit.utils.progress import progress_bar

        self._cm = progress_bar(state.total_steps, "training", enabled=self.enabled)
        self._bar = self._cm.__enter__()
        self._bar.advance(state.step)

    def on_step_end(self, state: LoopState) -> None:
        self._bar.advance(1)
        self._bar.update(description=f"epoch {state.epoch + 1} loss {state.loss:.4f}")

    def on_train_end(self, state: LoopState) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None


class EarlyStopping(Callback):
    """Stop when the validation score has not improved for `patience` epochs."""

    def __init__(self, patience: int = 2) -> None:
        self.patience = patience

    def on_epoch_end(self, state: LoopState) -> None:
        if state.best_epoch >= 0 and state.epoch - 1 - state.best_epoch >= self.patience:
            state.stop_reason = (
                f"early stopping: no validation gain for {self.patience} epochs "
                f"(best epoch {state.best_epoch + 1})"
            )


class TimeLimit(Callback):
    """Stop (mid-epoch if needed) once `seconds` of training have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def on_step_end(self, state: LoopState) -> None:
        if time.time() - state.started > self.seconds:
            state.stop_reason = f"time budget of {self.seconds:.0f} s reached"


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """What training changes: the trainable parameters and every buffer (BatchNorm running
    statistics move in train mode; restoring weights without them mismatches the two)."""
    state = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}
    state.update({n: b.detach().clone() for n, b in module.named_buffers()})
    return state


def load_trainable_state(module: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy a `trainable_state` back into `module` in place."""
    named = dict(module.named_parameters()) | dict(module.named_buffers())
    with torch.no_grad():
        for k, v in tensors.items():
            named[k].copy_(v)


def _set_lr(opt: torch.optim.Optimizer, factor: float) -> None:
    for g in opt.param_groups:
        g["lr"] = g["base_lr"] * factor


def _schedule(step: int, total: int, warmup: float) -> float:
    w = max(1, int(total * warmup))
    if step < w:
        return (step + 1) / w
    return max(0.0, (total - step) / max(1, total - w))


class Checkpoint(Callback):
    """Save trainable weights, optimizer and loop state into `folder` after every epoch;
    `restore` continues from it when `key` (model + data + settings) matches."""

    def __init__(self, folder: str | Path, key: str) -> None:
        self.folder = Path(folder)
        self.key = key
        self.module: nn.Module | None = None
        self.opt: torch.optim.Optimizer | None = None

    def bind(self, module: nn.Module, opt: torch.optim.Optimizer) -> None:
        self.module, self.opt = module, opt

    def on_epoch_end(self, state: LoopState) -> None:
        from safetensors.torch import save_file

        from transferkit.core.distributed import is_rank_zero
        from transferkit.models.io import atomic_write_dir

        if not is_rank_zero():  # data-parallel ranks hold the same weights: one writer
            return
        assert self.module is not None and self.opt is not None
        tensors = {f"param.{k}": v for k, v in trainable_state(self.module).items()}
        if state.best_state is not None:
            tensors.update({f"best.{k}": v for k, v in state.best_state.items()})
        opt_sd = self.opt.state_dict()
        for idx, st in opt_sd["state"].items():
            for name, v in st.items():
                tensors[f"opt.{idx}.{name}"] = torch.as_tensor(v)
        tensors["rng"] = torch.get_rng_state()
        meta = {k: v for k, v in asdict(state).items() if k not in ("best_state", "started")}
        meta["elapsed"] = time.time() - state.started
        info = {"key": self.key, "state": meta, "param_groups": opt_sd["param_groups"]}

        def write(tmp: Path) -> None:
            from transferkit.models.safety import record_checksums
            from transferkit.utils.checks import dumps_strict

            save_file(
                {k: v.contiguous() for k, v in tensors.items()}, str(tmp / "state.safetensors")
            )
            info["checksums"] = record_checksums(tmp, ["state.safetensors"])
            (tmp / "state.json").write_text(dumps_strict(info, default=str))

        atomic_write_dir(self.folder, write)

    def restore(self, state: LoopState) -> bool:
        from transferkit.models.safety import DamagedModelError, read_safetensors, verify_checksums

        assert self.module is not None and self.opt is not None
        meta_path = self.folder / "state.json"
        if not meta_path.is_file():
            return False
        fix = (
            "the checkpoint is damaged (a half-written or changed file); start the fit over "
            "with --fresh (Python: resume=False), which deletes it"
        )
        try:
            info = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DamagedModelError(f"{meta_path} is not valid JSON ({e}); {fix}") from None
        if not isinstance(info, dict) or info.get("key") != self.key:
            logger.warning(
                "ignoring checkpoint %s: it was made for other data or settings", self.folder
            )
            return False
        verify_checksums(self.folder, info, fix)
        tensors = read_safetensors(self.folder / "state.safetensors", fix)
        load_trainable_state(
            self.module, {k[6:]: v for k, v in tensors.items() if k.startswith("param.")}
        )
        best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        opt_state: dict[int, dict[str, torch.Tensor]] = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, idx, name = k.split(".", 2)
                opt_state.setdefault(int(idx), {})[name] = v
        self.opt.load_state_dict({"state": opt_state, "param_groups": info["param_groups"]})
        torch.set_rng_state(tensors["rng"])
        s = info["state"]
        for name in ("epoch", "step", "total_steps", "best_metric", "best_epoch", "history"):
            setattr(state, name, s[name])
        if state.best_metric is None:  # -inf (no validation yet) is stored as null
            state.best_metric = -math.inf
        state.best_state = best or None
        state.started = time.time() - float(s.get("elapsed", 0.0))
        state.resumed_from = state.epoch
        return True

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _stop_message(what: str, state: LoopState) -> str:
    return (
        f"training stopped: {what} became non-finite (NaN or infinity) at epoch "
        f"{state.epoch + 1}, step {state.step + 1}; nothing was saved. The learning rate is "
        "probably too high for this model: lower --lr / lr= (e.g. by 10x), or check the data "
        "for extreme values"
    )


def _check_finite(loss: torch.Tensor, state: LoopState, what: str) -> None:
    """Non-finite-loss guard: raise TrainingError rather than train on (and save) NaNs."""
    from transferkit.errors import TrainingError

    if not bool(torch.isfinite(loss.detach()).all()):
        raise TrainingError(_stop_message(what, state))


def _check_weights(params: list[torch.Tensor], state: LoopState) -> None:
    from transferkit.errors import TrainingError

    with torch.no_grad():
        for p in params:
            if not bool(torch.isfinite(p).all()):
                raise TrainingError(_stop_message("the weights", state))


def run_loop(
    module: nn.Module,
    plan: Callable[[int], list[list[int]]],
    step_loss: Callable[[list[int]], torch.Tensor],
    param_groups: list[dict[str, Any]],
    cfg: LoopConfig,
    *,
    validate: Callable[[], float] | None = None,
    callbacks: list[Callback] | None = None,
    on_train_mode: Callable[[], None] | None = None,
    metric: str = "val_accuracy",
) -> LoopState:
    """Train the parameters in `param_groups` (each {"params", "lr"}); return the state.

    When `validate` is given, the weights of the best epoch are restored at the end; its
    score goes into each epoch's history record under `metric`.
    On CUDA (`core.devices.current_device`) the loss is computed under mixed precision,
    with a gradient scaler for fp16 (unscaled before clipping).
    """
    from transferkit.core.devices import autocast, current_device, grad_scaler

    device = current_device()
    scaler = grad_scaler(device)
    callbacks = list(callbacks or [])
    for g in param_groups:
        g["base_lr"] = g["lr"]
    opt = torch.optim.AdamW(param_groups, weight_decay=cfg.weight_decay)
    state = LoopState(total_steps=sum(len(plan(e)) for e in range(cfg.epochs)))
    for cb in callbacks:
        if isinstance(cb, Checkpoint):
            cb.bind(module, opt)
            if cb.restore(state):
                logger.warning("resuming from checkpoint %s after epoch %d", cb.folder, state.epoch)
    params = [p for g in param_groups for p in g["params"]]
    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        while state.epoch < cfg.epochs and not state.stop_reason:
            torch.manual_seed(cfg.seed * 1000 + state.epoch)  # dropout: same on resume
            module.train()
            if on_train_mode is not None:
                on_train_mode()
            total, count = 0.0, 0
            for batch in plan(state.epoch):
                _set_lr(opt, _schedule(state.step, state.total_steps, cfg.warmup))
                with autocast(device):
                    loss = step_loss(batch)
                _check_finite(loss, state, "the loss")
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                state.step += 1
                total, count = total + float(loss.detach()), count + 1
                state.loss = total / count
                for cb in callbacks:
                    cb.on_step_end(state)
                if state.stop_reason:
                    break
            module.eval()
            _check_weights(params, state)  # before validation, best-state or checkpoint
            record = {"epoch": state.epoch + 1, "loss": state.loss}
            if validate is not None:
                score = float(validate())
                record[metric] = score
                if score > state.best_metric:
                    state.best_metric, state.best_epoch = score, state.epoch
                    state.best_state = trainable_state(module)
            state.history.append(record)
            state.epoch += 1
            for cb in callbacks:
                cb.on_epoch_end(state)
    finally:
        for cb in callbacks:
            cb.on_train_end(state)
    module.eval()
    if state.best_state is not None:
        load_trainable_state(module, state.best_state)
    return state
