"""Data-parallel training across processes (DDP), for the one trainer.

When `torch.distributed` is initialised (Ray Train's ``TorchTrainer`` does it: gloo on
CPU, NCCL on GPUs), `core.trainer` uses these three pieces and nothing else changes:

- ``shard_plan``: the distributed sampler over the trainer's own batch plan — every rank
  builds the same seeded epoch plan (same data, same seed) and takes every size-th batch
  from its rank on, cut to a multiple of the world size so that every rank takes the
  same number of steps (DDP needs that; at most size-1 batches of an epoch are left out);
- ``ddp``: the model wrapped in ``DistributedDataParallel``, which averages gradients
  across ranks in backward — each optimizer step sees ``batch_size × world size``
  examples (the effective batch), with the learning rate as configured;
- ``SyncStop``: a stop decision taken on one rank (time limit) stops every rank at the
  same step, so no rank waits forever in an all-reduce.

Only rank 0 writes checkpoints and the saved model (`is_rank_zero`).

>>> world()
(0, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from transferkit.core.loop import Callback, LoopState


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_rank_zero() -> bool:
    return world()[0] == 0


def shard_plan(plan: Callable[[int], list[list[int]]]) -> Callable[[int], list[list[int]]]:
    """This rank's share of each epoch's batches (see module doc)."""
    rank, size = world()
    if size == 1:
        return plan

    def sharded(epoch: int) -> list[list[int]]:
        batches = plan(epoch)
        usable = len(batches) // size * size
        return batches[rank:usable:size]

    return sharded


def ddp(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """`module` wrapped for gradient averaging across ranks (itself when alone)."""
    if world()[1] == 1:
        return module
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    # find_unused_parameters: a trainable parameter outside the forward pass (BERT's
    # pooler under mean pooling) would otherwise stop the gradient all-reduce
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


class SyncStop(Callback):
    """After every step, stop all ranks when any rank has a stop reason."""

    def on_step_end(self, state: LoopState) -> None:
        flag = torch.tensor([1 if state.stop_reason else 0])
        if torch.distributed.get_backend() == "nccl":
            flag = flag.cuda()
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
        if int(flag.item()) and not state.stop_reason:
            state.stop_reason = "another worker stopped (time budget)"


def sync_callbacks() -> list[Any]:
    return [SyncStop()] if world()[1] > 1 else []
