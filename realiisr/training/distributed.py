"""Data-parallel training with ``torchrun``: DDP (NCCL on GPU, gloo on CPU) or FSDP2 (``fully_shard``),
rank-0 logging and saving.

BatchNorm (in TSG's fusion) is converted to SyncBatchNorm on GPU; on CPU, where SyncBatchNorm does not
run, each rank normalises with its own batch statistics. FSDP (``strategy="fsdp"``, generator stage) shards
every transformer block, then the rest of the model, so each rank holds 1/N of the parameters, gradients and
optimiser state; checkpoints gather full (unsharded) weights and optimiser state, so a sharded run's
checkpoint loads anywhere.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["DistContext", "setup"]


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False
    sharded: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def shard(self, model: nn.Module) -> None:
        """FSDP2 in place: one unit per generator block, the root for the rest; ``sample`` runs the root's
        unshard/reshard hooks like ``forward`` (which computes the training losses)."""
        from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

        if not self.enabled:
            return
        if self.device.type == "cuda":
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        for block in getattr(model.generator, "blocks", []):
            fully_shard(block)
        fully_shard(model)
        register_fsdp_forward_method(model, "sample")
        self.sharded = True

    def full_state(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
        """(model, optimiser) full state dicts on rank 0 (a collective: every rank calls it)."""
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_state_dict(model, optimizer, options=options)

    def load_optimizer_state(self, model: nn.Module, optimizer: torch.optim.Optimizer, state: dict) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))

    def wrap(self, module: nn.Module) -> nn.Module:
        if not self.enabled or self.sharded:
            return module
        if self.device.type == "cuda":
            module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
        ids = [self.local_rank] if self.device.type == "cuda" else None
        # find_unused_parameters: a Φ convolution or a loss path can sit idle for a given scale list
        return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False,
                                                   find_unused_parameters=True)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """The mean of each scalar over the ranks (every rank gets the result)."""
        if not self.enabled or not values:
            return values
        keys = sorted(values)
        tensor = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor)
        return {k: float(v) / self.world for k, v in zip(keys, tensor.tolist())}

    def all_sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(tensor)
        return tensor

    def broadcast_(self, tensor: torch.Tensor) -> None:
        if self.enabled:
            dist.broadcast(tensor, src=0)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def check_consistency(self, model: nn.Module, out_dir: Path) -> Optional[float]:
        """Largest difference of any parameter from rank 0's; written to ``ddp_check.json`` by rank 0."""
        if not self.enabled:
            return None
        if self.sharded:  # consistent by construction; record how much of the model this rank holds
            local = sum(p.to_local().numel() if hasattr(p, "to_local") else p.numel() for p in model.parameters())
            if self.is_main:
                full = sum(p.numel() for p in model.parameters())
                (out_dir / "ddp_check.json").write_text(json.dumps(
                    {"world_size": self.world, "strategy": "fsdp", "rank0_parameter_fraction": local / full}))
            return None
        worst = torch.zeros((), dtype=torch.float64, device=self.device)
        for param in model.parameters():
            reference = param.detach().clone()
            dist.broadcast(reference, src=0)
            worst = torch.maximum(worst, (param.detach() - reference).abs().max().double())
        dist.all_reduce(worst, op=dist.ReduceOp.MAX)
        if self.is_main:
            (out_dir / "ddp_check.json").write_text(json.dumps({"world_size": self.world, "max_param_diff": float(worst)}))
        return float(worst)

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            # every rank reaches the teardown together: a rank that destroyed its gloo group while another
            # was still in a collective aborted ("terminate called without an active exception")
            try:
                dist.barrier()
            finally:
                dist.destroy_process_group()


def setup(device_option: str) -> DistContext:
    """Join the process group that ``torchrun`` describes (WORLD_SIZE > 1), else a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and device_option in ("auto", "cuda")
    if world <= 1:
        device = torch.device(device_option if device_option != "auto" else ("cuda" if cuda else "cpu"))
        return DistContext(device=device)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local_rank)
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, device, owns)
