"""The networks and optimisers of one run, built from the config, and wrapped for DDP/compile."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from gan.checkpoint import CheckpointError, read_checkpoint
from gan.networks import Discriminator, Generator, add_spectral_norm, init_dcgan_weights
from training.config import ConfigError, TrainConfig
from training.distributed import World


@dataclass
class Networks:
    g: Generator
    d: Discriminator
    g_ema: Generator | None
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    # what the step calls: DDP- and/or compile-wrapped views of g and d
    g_train: nn.Module = field(init=False)
    d_train: nn.Module = field(init=False)
    d_frozen: nn.Module = field(init=False)  # D for the G step: no DDP gradient sync

    def __post_init__(self) -> None:
        self.g_train, self.d_train, self.d_frozen = self.g, self.d, self.d

    @property
    def published(self) -> Generator:
        """The generator that is sampled and exported: the EMA one where the recipe has it."""
        return self.g_ema if self.g_ema is not None else self.g


def build_networks(config: TrainConfig, device: torch.device, *, resuming: bool = False) -> Networks:
    """Fresh networks (G from `init_generator` where set); a resume overwrites them from its snapshot."""
    g = Generator(config.generator_config())
    d = Discriminator(config.discriminator_config())
    init_dcgan_weights(g)
    init_dcgan_weights(d)
    if config.init_generator and not resuming:
        g.load_state_dict(initial_generator_state(config))
    if config.g_spectral_norm:
        add_spectral_norm(g)
    g, d = g.to(device), d.to(device)
    if uses_channels_last(config, device):
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    g_ema = copy.deepcopy(g).eval().requires_grad_(False) if config.ema_decay > 0 else None
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=betas)
    return Networks(g, d, g_ema, opt_g, opt_d)


def uses_bf16(config: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast: the default on CUDA; on the CPU only when asked for (`precision=bf16`), since
    it changes the float rounding of a recipe that fp32 reproduces bit for bit, and only CPUs with
    native bf16 (AVX512-BF16, AMX) run it faster: 1.4-1.7x the images/s on our 2-core training
    machine (docs/training.md)."""
    return config.precision == "bf16" or (device.type == "cuda" and config.precision == "auto")


def uses_channels_last(config: TrainConfig, device: torch.device) -> bool:
    """Channels-last pays with bf16 kernels (CUDA, or bf16 on the CPU); fp32 CPU convolutions are as
    fast or faster in the default layout."""
    return config.channels_last and (device.type == "cuda" or uses_bf16(config, device))


def initial_generator_state(config: TrainConfig) -> dict[str, torch.Tensor]:
    """The weights of `init_generator`, refused unless the checkpoint is this run's G.

    Same architecture, and the same spectral-norm setting: a G trained without spectral norm has
    layer norms well above 1, so re-parametrizing its weights would change every image, while a
    published spectral-norm weight has norm 1 already and comes back as it was.
    """
    try:
        info, tensors = read_checkpoint(config.init_generator)
    except CheckpointError as exc:
        raise ConfigError(f"init_generator: {exc}") from exc
    built = config.generator_config()
    if info.config != built:
        raise ConfigError(
            f"init_generator: {config.init_generator} is a {info.config.to_dict()} generator, but this run builds "
            f"{built.to_dict()}; set latent_dim, resolution, g_channels, g_norm and g_head_channels to match"
        )
    trained_with_sn = bool(info.card.get("recipe", {}).get("g_spectral_norm", False))
    if trained_with_sn != config.g_spectral_norm:
        raise ConfigError(
            f"init_generator: {config.init_generator} was trained with g_spectral_norm={trained_with_sn}; "
            f"set g_spectral_norm={str(trained_with_sn).lower()} to start from its images"
        )
    return {name: t.float() if t.is_floating_point() else t for name, t in tensors.items()}


def wrap_for_training(nets: Networks, config: TrainConfig, world: World, device: torch.device) -> None:
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        nets.g_train = DDP(nets.g, device_ids=ids)
        nets.d_train = DDP(nets.d, device_ids=ids, broadcast_buffers=False)
    if config.compile:
        nets.g_train = torch.compile(nets.g_train)
        nets.d_train = torch.compile(nets.d_train)
        nets.d_frozen = torch.compile(nets.d)
