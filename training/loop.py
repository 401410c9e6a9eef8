"""The training loop: read it top to bottom.

One step = (1) update D on real and generated images, (2) update G through D, (3) fold G into its
EMA. Around it: per-epoch fixed-seed grids, face-rate evaluations, snapshots; on the way out
(end, time budget or Ctrl-C) a last snapshot, the evolution GIF and the loss plot.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gan.imaging import tile_grid, to_hwc
from gan.networks import Discriminator, Generator, add_spectral_norm, init_dcgan_weights
from training.augment import Transform, diff_augment, parse_policy
from training.config import ConfigError, TrainConfig, load_run_config
from training.data import ImageSet, load_images, to_model_range
from training.distributed import World, any_rank, close_world, from_main, init_world, weights_agree
from training.ema import accumulate, ema_decay_at, recalibrate_batchnorm, requires_grad
from training.losses import d_bce_loss, d_hinge_loss, d_r1_penalty, g_hinge_loss, g_nonsaturating_loss
from training.metrics.distribution import KEY_FD, KEY_PRECISION, KEY_RECALL, DistributionReference, build_reference
from training.metrics.encoder import EncoderRecipe
from training.metrics.face_detection import FaceDetector, MetricUnavailable, resolve_cascade
from training.sampling import EVAL_SEEDS_START, GRID_SEEDS_START, generate_seeds
from training.snapshot import SNAPSHOT_NAME, load_snapshot, save_snapshot
from training.visualize import evolution_gif, loss_plot, save_png

logger = logging.getLogger(__name__)


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


@dataclass
class Position:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    elapsed_s: float = 0.0  # training wall time over all sessions of this run


def build_networks(config: TrainConfig, device: torch.device) -> Networks:
    g = Generator(config.generator_config())
    d = Discriminator(config.discriminator_config())
    init_dcgan_weights(g)
    init_dcgan_weights(d)
    if config.g_spectral_norm:
        add_spectral_norm(g)
    g, d = g.to(device), d.to(device)
    if device.type == "cuda" and config.channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    g_ema = copy.deepcopy(g).eval().requires_grad_(False) if config.ema_decay > 0 else None
    betas = (config.beta1, config.beta2)
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr_g, betas=betas)
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr_d, betas=betas)
    return Networks(g, d, g_ema, opt_g, opt_d)


def lr_scale(epoch: int, config: TrainConfig) -> float:
    """Exponential decay per epoch once `lr_decay_start` is reached; 1 before (and when disabled)."""
    if not config.lr_decay_start or epoch < config.lr_decay_start:
        return 1.0
    return config.lr_decay_gamma ** (epoch - config.lr_decay_start + 1)


def step_seed(seed: int, step: int, rank: int) -> int:
    """Seed for one step on one rank: all randomness of a step is a function of (seed, step, rank)."""
    return ((seed * 1_000_003 + step) * 4099 + rank) & (2**63 - 1)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The shuffled order of the data set in one epoch, identical on every rank."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))


def real_batch(images: torch.Tensor, index: torch.Tensor, hflip: bool) -> torch.Tensor:
    batch = to_model_range(images[index])
    if hflip:
        flip = torch.rand(batch.shape[0], device=batch.device) < 0.5
        batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    return batch


def discriminator_step(
    nets: Networks,
    real: torch.Tensor,
    fake: torch.Tensor,
    config: TrainConfig,
    augment: list[Transform],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
    with_r1: bool,
) -> dict[str, torch.Tensor]:
    """(1) Update D: push D(x) up and D(G(z)) down (bce: maximize log D(x) + log(1 - D(G(z))))."""
    requires_grad(nets.d, True)
    real_in = real.detach().requires_grad_(with_r1)
    with autocast():
        real_logits = nets.d_train(diff_augment(real_in, augment))
        fake_logits = nets.d_train(diff_augment(fake.detach(), augment))
        if config.loss == "hinge":
            loss = d_hinge_loss(real_logits.float(), fake_logits.float())
        else:
            loss = d_bce_loss(real_logits.float(), fake_logits.float(), config.real_label, config.fake_label)
    if with_r1:  # lazy R1: every r1_every D steps, scaled up by that interval (StyleGAN2)
        loss = loss + d_r1_penalty(real_logits.float(), real_in) * (config.r1_gamma / 2 * config.r1_every)
    nets.opt_d.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_d.step()
    return {
        "loss_d": loss.detach(),
        "d_real": torch.sigmoid(real_logits.detach().float()).mean(),
        "d_fake": torch.sigmoid(fake_logits.detach().float()).mean(),
    }


def generator_step(
    nets: Networks,
    fake: torch.Tensor,
    config: TrainConfig,
    augment: list[Transform],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]],
) -> dict[str, torch.Tensor]:
    """(2) Update G: maximize D(G(z)) (non-saturating log D(G(z)) for bce, -D(G(z)) for hinge)."""
    requires_grad(nets.d, False)
    with autocast():
        fake_logits = nets.d_frozen(diff_augment(fake, augment)).float()
        loss = g_hinge_loss(fake_logits) if config.loss == "hinge" else g_nonsaturating_loss(fake_logits)
    nets.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_g.step()
    return {"loss_g": loss.detach()}


class StopRequest:
    """First Ctrl-C (or SIGTERM) asks the loop to stop after the current step and save; a second one aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning("stop requested: finishing this step and saving a snapshot (again to abort)")

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class RunWriter:
    """Everything the main rank writes into the run folder: stats, metrics, grids, snapshots, plots."""

    def __init__(self, run_dir: Path, config: TrainConfig, enabled: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.samples_dir = run_dir / "samples"
        self.tb = None
        if enabled:
            self.samples_dir.mkdir(parents=True, exist_ok=True)
            if config.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                except ImportError as exc:
                    raise ConfigError(
                        "tensorboard=true needs the tensorboard package (pip install tensorboard)"
                    ) from exc
                self.tb = SummaryWriter(str(run_dir / "tensorboard"))

    def _append(self, name: str, row: dict[str, Any]) -> None:
        if self.enabled:
            with (self.run_dir / name).open("a") as f:
                f.write(json.dumps(row) + "\n")

    def stats(self, row: dict[str, Any]) -> None:
        self._append("stats.jsonl", row)
        if self.tb is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, int | float):
                    self.tb.add_scalar(f"train/{key}", value, row["step"])

    def metrics(self, row: dict[str, Any]) -> None:
        self._append("metrics.jsonl", row)
        if self.tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, int | float):
                    self.tb.add_scalar(f"eval/{key}", value, row["step"])

    def grid(self, images: torch.Tensor, epoch: int) -> None:
        if self.enabled:
            save_png(tile_grid(to_hwc(images)), self.samples_dir / f"epoch-{epoch:04d}.png")

    def plots(self, gif: bool) -> None:
        if not self.enabled:
            return
        loss_plot(self.run_dir / "stats.jsonl", self.run_dir / "losses.png", self.run_dir / "metrics.jsonl")
        if gif:
            evolution_gif(sorted(self.samples_dir.glob("epoch-*.png")), self.run_dir / "evolution.gif")

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


class FaceEvaluator:
    """Face-detection rate of generated samples next to the real rate, if a cascade is configured."""

    def __init__(self, config: TrainConfig, data: ImageSet) -> None:
        self.detector: FaceDetector | None = None
        self.real_rate: float | None = None
        if not config.cascade or not config.eval_every:
            return
        try:
            self.detector = FaceDetector(resolve_cascade(config.cascade))
        except (MetricUnavailable, ImportError) as exc:
            logger.warning("face-rate evaluation disabled: %s", exc)
            return
        pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[: config.eval_samples]
        self.real_rate = self.detector.rate(to_hwc(data.images[pick]))
        logger.info("face detection rate of %d real images: %.3f", len(pick), self.real_rate)

    def __call__(self, generated: torch.Tensor) -> dict[str, float] | None:
        if self.detector is None:
            return None
        rate = self.detector.rate(to_hwc(generated))
        return {"face_rate": rate, "real_face_rate": self.real_rate or 0.0, "samples": len(generated)}


class DistributionEvaluator:
    """FD/KID/precision/recall/copies of generated samples, with `distribution_metric` set.

    The encoder and the real features are made once, here; each evaluation then costs the
    features of `eval_samples` images and a few small matrix products.
    """

    def __init__(self, config: TrainConfig, data: ImageSet) -> None:
        self.reference: DistributionReference | None = None
        if not config.distribution_metric or not config.eval_every:
            return
        try:
            recipe = EncoderRecipe(resolution=config.resolution)
            self.reference = build_reference(data.images.cpu(), recipe, config.encoder_cache or None)
        except MetricUnavailable as exc:
            logger.warning("distribution metric disabled: %s", exc)

    def __call__(self, generated: torch.Tensor) -> dict[str, Any] | None:
        return self.reference.score(generated) if self.reference is not None else None


def _snapshot_state(nets: Networks, pos: Position, config: TrainConfig) -> dict[str, Any]:
    return {
        "config": config.to_dict(),
        "step": pos.step,
        "epoch": pos.epoch,
        "batch_in_epoch": pos.batch_in_epoch,
        "elapsed_s": pos.elapsed_s,
        "g": nets.g.state_dict(),
        "d": nets.d.state_dict(),
        "g_ema": nets.g_ema.state_dict() if nets.g_ema is not None else {},
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
    }


def _restore(nets: Networks, state: dict[str, Any]) -> Position:
    nets.g.load_state_dict(state["g"])
    nets.d.load_state_dict(state["d"])
    if nets.g_ema is not None:
        nets.g_ema.load_state_dict(state["g_ema"])
    nets.opt_g.load_state_dict(state["opt_g"])
    nets.opt_d.load_state_dict(state["opt_d"])
    return Position(state["step"], state["epoch"], state["batch_in_epoch"], state.get("elapsed_s", 0.0))


def _wrap_for_training(nets: Networks, config: TrainConfig, world: World, device: torch.device) -> None:
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        nets.g_train = DDP(nets.g, device_ids=ids)
        nets.d_train = DDP(nets.d, device_ids=ids, broadcast_buffers=False)
    if config.compile:
        nets.g_train = torch.compile(nets.g_train)
        nets.d_train = torch.compile(nets.d_train)
        nets.d_frozen = torch.compile(nets.d)


def describe_environment(device: torch.device, world: World) -> dict[str, Any]:
    """Where the run trained, for the model card (GPU time = wall time x accelerators)."""
    on_gpu = device.type == "cuda"
    return {
        "device": torch.cuda.get_device_name(device) if on_gpu else f"cpu, torch threads: {torch.get_num_threads()}",
        "accelerators": world.size if on_gpu else 0,
        "processes": world.size,
        "torch": torch.__version__,
    }


def new_run_dir(config: TrainConfig) -> Path:
    name = config.run_name or f"{dt.datetime.now():%Y%m%d-%H%M%S}-{config.preset}"
    run_dir = Path(config.out_dir) / name
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ConfigError(f"{run_dir}: run folder exists and is not empty; resume it or choose another run_name")
    return run_dir


def train(config: TrainConfig, resume: Path | None = None) -> Path:
    """Train until the epochs, max_steps or max_minutes run out, or Ctrl-C; returns the run folder."""
    world, device = init_world(config.device)
    handler: logging.Handler | None = None
    try:
        # rank 0 names and checks the folder before anyone writes into it; the others take its choice
        chosen = resume if resume is not None else (new_run_dir(config) if world.is_main else None)
        run_dir = Path(str(from_main(str(chosen), world)))
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            config.save(run_dir / "config.json")
            handler = logging.FileHandler(run_dir / "log.txt")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logging.getLogger().addHandler(handler)
        return _train(config, run_dir, resume is not None, world, device)
    finally:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
        close_world(world)


def _train(config: TrainConfig, run_dir: Path, resuming: bool, world: World, device: torch.device) -> Path:
    if config.batch_size % world.size:
        raise ConfigError(f"batch_size {config.batch_size} must divide evenly over {world.size} ranks")
    if config.threads:
        torch.set_num_threads(config.threads)

    if world.is_main:
        (run_dir / "environment.json").write_text(json.dumps(describe_environment(device, world), indent=2) + "\n")
    data = load_images(config.data, config.resolution, progress=world.is_main)
    if len(data) < config.batch_size:
        raise ConfigError(f"{config.data}: {len(data)} images is fewer than one batch of {config.batch_size}")
    images = data.images.to(device)
    if world.is_main:
        (run_dir / "data.json").write_text(json.dumps(data.describe(), indent=2) + "\n")

    torch.manual_seed(config.seed)  # same initial weights on every rank and every run of this seed
    nets = build_networks(config, device)
    pos = Position()
    if resuming:
        pos = _restore(nets, load_snapshot(run_dir / SNAPSHOT_NAME))
        logger.info("resumed %s at epoch %d, step %d", run_dir, pos.epoch, pos.step)
    _wrap_for_training(nets, config, world, device)

    use_bf16 = device.type == "cuda" and config.precision in ("auto", "bf16")
    if config.precision == "bf16" and device.type != "cuda":
        raise ConfigError("precision=bf16 needs a CUDA device; use fp32 on the CPU")

    def autocast() -> contextlib.AbstractContextManager[Any]:
        return torch.autocast("cuda", dtype=torch.bfloat16) if use_bf16 else contextlib.nullcontext()

    augment = parse_policy(config.augment)
    local_batch = config.batch_size // world.size
    steps_per_epoch = len(data) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    writer = RunWriter(run_dir, config, world.is_main)
    evaluate_faces = FaceEvaluator(config, data) if world.is_main else None
    evaluate_distribution = DistributionEvaluator(config, data) if world.is_main else None
    window: dict[str, list[torch.Tensor]] = {}
    window_start, window_steps = time.perf_counter(), 0
    session_start, last_snapshot = time.monotonic(), time.monotonic()
    elapsed_before = pos.elapsed_s

    def save(reason: str) -> None:
        pos.elapsed_s = elapsed_before + time.monotonic() - session_start
        if world.is_main:
            save_snapshot(run_dir / SNAPSHOT_NAME, _snapshot_state(nets, pos, config))
            logger.info("snapshot saved at step %d (%s)", pos.step, reason)

    def end_of_epoch() -> None:
        if not world.is_main:
            return
        sampler = recalibrate_batchnorm(copy.deepcopy(nets.published), config.latent_dim)
        fixed = range(GRID_SEEDS_START, GRID_SEEDS_START + config.sample_count)
        writer.grid(generate_seeds(sampler, fixed, config.latent_dim), pos.epoch)
        wanted = evaluate_faces is not None and evaluate_faces.detector is not None
        wanted = wanted or (evaluate_distribution is not None and evaluate_distribution.reference is not None)
        if config.eval_every and pos.epoch % config.eval_every == 0 and wanted:
            seeds = range(EVAL_SEEDS_START, EVAL_SEEDS_START + config.eval_samples)
            generated = generate_seeds(sampler, seeds, config.latent_dim)
            faces = evaluate_faces(generated) if evaluate_faces is not None else None
            spread = evaluate_distribution(generated) if evaluate_distribution is not None else None
            writer.metrics({"epoch": pos.epoch, "step": pos.step, **(faces or {}), **(spread or {})})
            if faces is not None:
                logger.info(
                    "epoch %d: face rate %.3f (real %.3f)", pos.epoch, faces["face_rate"], faces["real_face_rate"]
                )
            if spread is not None:
                logger.info(
                    "epoch %d: FD %.3f, precision %.3f, recall %.3f (encoder %s)",
                    pos.epoch,
                    spread[KEY_FD],
                    spread[KEY_PRECISION],
                    spread[KEY_RECALL],
                    spread["encoder_id"],
                )
        writer.plots(gif=pos.epoch % 10 == 0)

    stop_reason = ""
    with (
        StopRequest() as stop,
        logging_redirect_tqdm(),
        tqdm(
            total=total_steps,
            initial=min(pos.step, total_steps),
            disable=not world.is_main,
            unit="step",
            dynamic_ncols=True,
        ) as bar,
    ):
        try:
            while pos.epoch < config.epochs and not stop_reason:
                order = epoch_order(len(data), config.seed, pos.epoch)
                for i in range(pos.batch_in_epoch, steps_per_epoch):
                    torch.manual_seed(step_seed(config.seed, pos.step, world.rank))
                    start = i * config.batch_size + world.rank * local_batch
                    real = real_batch(images, order[start : start + local_batch].to(device), config.hflip)
                    scale = lr_scale(pos.epoch, config)
                    for group in nets.opt_g.param_groups:
                        group["lr"] = config.lr_g * scale
                    for group in nets.opt_d.param_groups:
                        group["lr"] = config.lr_d * scale
                    if device.type == "cuda" and config.channels_last:
                        real = real.contiguous(memory_format=torch.channels_last)

                    z = torch.randn(local_batch, config.latent_dim, device=device)
                    with autocast():
                        fake = nets.g_train(z)
                    # (1) Update D network (every d_every-th step: the 32x32 recipe's slower D)
                    if pos.step % config.d_every == 0:
                        with_r1 = config.r1_gamma > 0 and (pos.step // config.d_every) % config.r1_every == 0
                        for k, v in discriminator_step(nets, real, fake, config, augment, autocast, with_r1).items():
                            window.setdefault(k, []).append(v)
                    # (2) Update G network
                    for k, v in generator_step(nets, fake, config, augment, autocast).items():
                        window.setdefault(k, []).append(v)
                    # (3) Update the EMA generator
                    if nets.g_ema is not None:
                        accumulate(nets.g_ema, nets.g, ema_decay_at(pos.step, config.ema_decay))

                    pos.step += 1
                    pos.batch_in_epoch = i + 1
                    window_steps += 1
                    bar.update(1)
                    if pos.step % config.log_every == 0 or pos.step == total_steps:
                        elapsed = time.perf_counter() - window_start
                        row = {k: float(torch.stack(v).mean()) for k, v in window.items()}
                        row |= {
                            "step": pos.step,
                            "epoch": pos.epoch,
                            "lr_g": config.lr_g * scale,
                            "img_per_s": window_steps * config.batch_size / max(elapsed, 1e-9),
                        }
                        writer.stats(row)
                        bar.set_postfix(
                            epoch=pos.epoch,
                            loss_d=f"{row['loss_d']:.3f}" if "loss_d" in row else "-",
                            loss_g=f"{row['loss_g']:.3f}",
                            img_s=f"{row['img_per_s']:.0f}",
                        )
                        window, window_start, window_steps = {}, time.perf_counter(), 0

                    minutes = (elapsed_before + time.monotonic() - session_start) / 60
                    local_stop = (
                        "interrupted"
                        if stop.requested
                        else "max_steps reached"
                        if config.max_steps and pos.step >= config.max_steps
                        else "max_minutes reached"
                        if config.max_minutes and minutes >= config.max_minutes
                        else ""
                    )
                    if any_rank(bool(local_stop), world, device):
                        stop_reason = local_stop or "another rank stopped"
                        break
                    if time.monotonic() - last_snapshot > config.snapshot_minutes * 60:
                        save("periodic")
                        last_snapshot = time.monotonic()
                if pos.batch_in_epoch == steps_per_epoch:  # also when a stop fell on the epoch's last step
                    pos.epoch += 1
                    pos.batch_in_epoch = 0
                    end_of_epoch()
                    save(f"end of epoch {pos.epoch}")
                    last_snapshot = time.monotonic()
            stop_reason = stop_reason or "all epochs done"
        finally:
            save(stop_reason or "error")
            writer.plots(gif=True)
            writer.close()
    logger.info("training stopped (%s) at epoch %d, step %d: %s", stop_reason, pos.epoch, pos.step, run_dir)
    if world.distributed:
        if weights_agree(nets.g, world, device):
            logger.info("all %d ranks agree on the generator weights", world.size)
        else:
            logger.error("ranks disagree on the generator weights: DDP is out of sync")
    return run_dir


def resume_config(run_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """The run's own config, with overrides such as a longer `epochs` or `max_minutes` applied."""
    from training.config import apply_overrides

    base = load_run_config(run_dir / "config.json")
    values = apply_overrides(base.to_dict(), overrides, "--set")
    return TrainConfig(**values)
