"""Process-group setup for `torchrun` (DistributedDataParallel); a plain run is a world of one."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gan import devices
from training.config import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def pick_device(preference: str, local_rank: int = 0) -> torch.device:
    """`gan.devices.pick_device`, its refusal reported as a configuration error."""
    try:
        return devices.pick_device(preference, local_rank)
    except devices.DeviceError as exc:
        raise ConfigError(str(exc)) from exc


def init_world(device_preference: str) -> tuple[World, torch.device]:
    """Join the process group torchrun describes in the environment (nccl on CUDA, gloo on CPU)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World(), pick_device(device_preference)
    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    device = pick_device(device_preference, world.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, device


def any_rank(flag: bool, world: World, device: torch.device) -> bool:
    """True on every rank if it is true on one, so all ranks stop at the same step."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def from_main(value: object, world: World) -> object:
    """Rank 0's `value` on every rank: choices such as the run folder must not race or differ."""
    if not world.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)  # pickles only values this program made itself, never a file
    return box[0]


def close_world(world: World) -> None:
    """Tear the process group down once every rank is done with it.

    A rank that destroys the group while another is still finishing its last collective can abort
    at exit ("terminate called without an active exception", seen once with gloo on a busy
    machine), and then its launcher fails and the other node's launcher waits for it. So the ranks
    meet at a barrier first; gloo's monitored barrier gives up after a minute if a rank died.
    """
    if not (world.distributed and dist.is_initialized()):
        return
    with contextlib.suppress(RuntimeError):  # a rank that failed: tear down anyway
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=dt.timedelta(seconds=60))
        else:
            dist.barrier()
    dist.destroy_process_group()


def weights_agree(model: torch.nn.Module, world: World, device: torch.device) -> bool:
    """True if every rank holds the same parameters (checked through per-rank checksums)."""
    if not world.distributed:
        return True
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1).to(device)
    gathered = [torch.zeros_like(checksum) for _ in range(world.size)]
    dist.all_gather(gathered, checksum)
    return all(torch.equal(g, gathered[0]) for g in gathered)
