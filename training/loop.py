"""The training loop: read it top to bottom.

One step (`train_step`) = (1) update D on real and generated images, (2) update G through D,
(3) fold G into its EMA. Around it, `_train` is a short loop of named phases over a `Session` (the
data, networks and position `open_session` set up): each step logged every `log_every` steps
(`StatsLog`), a stop checked, a snapshot taken when due (`Checkpointer`, which owns the cadence); at
each epoch's end the fixed-seed grid and evaluations (`Evaluations`) and a snapshot; on the way out
(end, time budget or Ctrl-C) a last snapshot, the evolution GIF and the loss plot. Snapshots are
`training.snapshot`, the run folder `training.run_folder`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from gan.imaging import to_hwc
from training.augment import Transform, diff_augment, parse_policy
from training.config import ConfigError, TrainConfig, config_from, load_run_config
from training.data import ImageSet, load_images, to_model_range
from training.distributed import World, any_rank, close_world, from_main, init_world, weights_agree
from training.ema import accumulate, ema_decay_at, recalibrate_batchnorm, requires_grad
from training.losses import OBJECTIVES, d_r1_penalty
from training.metrics.distribution import KEY_FD, KEY_PRECISION, KEY_RECALL, DistributionReference, build_reference
from training.metrics.encoder import EncoderRecipe
from training.metrics.face_detection import FaceDetector, MetricUnavailable, resolve_cascade
from training.nets import (
    Networks,
    build_networks,
    initial_generator_state,
    uses_bf16,
    uses_channels_last,
    wrap_for_training,
)
from training.resources import MetricResources
from training.run_folder import RunWriter, describe_environment, new_run_dir, read_jsonl
from training.sampling import GRID_SEEDS_START, generate_eval_samples, generate_seeds, real_eval_samples
from training.snapshot import (
    SNAPSHOT_NAME,
    Position,
    capture,
    keep_snapshot,
    kept_snapshot_path,
    load_snapshot,
    restore,
    save_snapshot,
)

Autocast = Callable[[], contextlib.AbstractContextManager[Any]]

logger = logging.getLogger(__name__)


def lr_scale(epoch: int, config: TrainConfig) -> float:
    """Exponential decay per epoch once `lr_decay_start` is reached; 1 before (and when disabled)."""
    if not config.lr_decay_start or epoch < config.lr_decay_start:
        return 1.0
    return config.lr_decay_gamma ** (epoch - config.lr_decay_start + 1)


def evaluated_epoch(epoch: int, config: TrainConfig) -> bool:
    """Epochs whose end is measured (and, with `keep_snapshots`, kept): every `eval_every`-th."""
    return bool(config.eval_every) and epoch % config.eval_every == 0


def keep_if_evaluated(run_dir: Path, pos: Position, config: TrainConfig) -> None:
    """Copy aside the snapshot just saved at the end of an epoch that has a metrics row.

    Called at each epoch's end and on resume (a stop between the save and the copy loses none).
    The row is the test, not the schedule: a copy is only worth its 28 MB if there are numbers to
    choose it by. A failed copy (a full disk) costs that copy, never the run.
    """
    if not config.keep_snapshots or pos.batch_in_epoch or not evaluated_epoch(pos.epoch, config):
        return
    if kept_snapshot_path(run_dir, pos.epoch).is_file():
        return
    if not any(row.get("step") == pos.step for row in read_jsonl(run_dir / "metrics.jsonl")):
        return
    try:
        logger.info("kept %s", keep_snapshot(run_dir, pos.epoch))
    except OSError as exc:
        logger.warning("could not keep the snapshot of epoch %d: %s", pos.epoch, exc)


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
    *,
    config: TrainConfig,
    augment: list[Transform],
    autocast: Autocast,
    with_r1: bool,
) -> dict[str, torch.Tensor]:
    """(1) Update D: push D(x) up and D(G(z)) down (bce: maximize log D(x) + log(1 - D(G(z))))."""
    requires_grad(nets.d, True)
    real_in = real.detach().requires_grad_(with_r1)
    with autocast():
        real_logits = nets.d_train(diff_augment(real_in, augment))
        fake_logits = nets.d_train(diff_augment(fake.detach(), augment))
        loss = OBJECTIVES[config.loss].d_loss(real_logits.float(), fake_logits.float(), config)
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
    *,
    config: TrainConfig,
    augment: list[Transform],
    autocast: Autocast,
) -> dict[str, torch.Tensor]:
    """(2) Update G: maximize D(G(z)) (non-saturating log D(G(z)) for bce, -D(G(z)) for hinge)."""
    requires_grad(nets.d, False)
    with autocast():
        fake_logits = nets.d_frozen(diff_augment(fake, augment)).float()
        loss = OBJECTIVES[config.loss].g_loss(fake_logits)
    nets.opt_g.zero_grad(set_to_none=True)
    loss.backward()
    nets.opt_g.step()
    return {"loss_g": loss.detach()}


def train_step(
    nets: Networks,
    real: torch.Tensor,
    *,
    step: int,
    scale: float,
    config: TrainConfig,
    augment: list[Transform],
    autocast: Autocast,
) -> dict[str, torch.Tensor]:
    """One step of every phase, at learning-rate `scale`; returns the step's statistics."""
    for group in nets.opt_g.param_groups:
        group["lr"] = config.lr_g * scale
    for group in nets.opt_d.param_groups:
        group["lr"] = config.lr_d * scale
    warmup = step < config.d_warmup_steps  # D alone, judging a generator that stands still
    z = torch.randn(real.shape[0], config.latent_dim, device=real.device)
    with autocast(), torch.set_grad_enabled(not warmup):
        fake = nets.g_train(z)
    stats: dict[str, torch.Tensor] = {}
    # (1) Update D (every d_every-th step: the 32x32 recipe's slower D), with lazy R1 when set
    if warmup or step % config.d_every == 0:
        with_r1 = config.r1_gamma > 0 and (step // config.d_every) % config.r1_every == 0
        stats |= discriminator_step(
            nets, real, fake, config=config, augment=augment, autocast=autocast, with_r1=with_r1
        )
    if warmup:
        return stats
    # (2) Update G
    stats |= generator_step(nets, fake, config=config, augment=augment, autocast=autocast)
    # (3) Update the EMA generator
    if nets.g_ema is not None:
        accumulate(nets.g_ema, nets.g, ema_decay_at(step, config.ema_decay))
    return stats


@dataclass
class StatsWindow:
    """Step statistics averaged over `log_every` steps, with the images per second of the window."""

    values: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    steps: int = 0

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for key, value in stats.items():
            self.values.setdefault(key, []).append(value)
        self.steps += 1

    def close(self, pos: Position, lr_g: float, batch_size: int) -> dict[str, Any]:
        elapsed = time.perf_counter() - self.started
        row: dict[str, Any] = {k: float(torch.stack(v).mean()) for k, v in self.values.items()}
        row |= {
            "step": pos.step,
            "epoch": pos.epoch,
            "lr_g": lr_g,
            "img_per_s": self.steps * batch_size / max(elapsed, 1e-9),
        }
        self.values, self.started, self.steps = {}, time.perf_counter(), 0
        return row


def stop_reason(config: TrainConfig, pos: Position, minutes: float, interrupted: bool) -> str:
    """Why this rank wants to stop after the current step ("" to go on)."""
    if interrupted:
        return "interrupted"
    if config.max_steps and pos.step >= config.max_steps:
        return "max_steps reached"
    if config.max_minutes and minutes >= config.max_minutes:
        return "max_minutes reached"
    return ""


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
        real = real_eval_samples(data.images, config.eval_samples)
        self.real_rate = self.detector.rate(to_hwc(real))
        logger.info("face detection rate of %d real images: %.3f", len(real), self.real_rate)

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

    def __init__(self, config: TrainConfig, data: ImageSet, resources: MetricResources) -> None:
        self.reference: DistributionReference | None = None
        if not config.distribution_metric or not config.eval_every:
            return
        try:
            recipe = EncoderRecipe(resolution=config.resolution)
            cache = config.encoder_cache or resources.encoder_cache  # the setting, else $AVATARS_ENCODER_CACHE
            self.reference = build_reference(data.images.cpu(), recipe, cache)
        except MetricUnavailable as exc:
            logger.warning("distribution metric disabled: %s", exc)

    def __call__(self, generated: torch.Tensor) -> dict[str, Any] | None:
        return self.reference.score(generated) if self.reference is not None else None


class Evaluations:
    """End of an epoch on the main rank: the fixed-seed grid, then, every `eval_every` epochs, the face
    rate and the distribution metric of `eval_samples` generated images, logged and recorded."""

    def __init__(self, config: TrainConfig, data: ImageSet, writer: RunWriter, resources: MetricResources) -> None:
        self.config = config
        self.writer = writer
        self.faces = FaceEvaluator(config, data)
        self.distribution = DistributionEvaluator(config, data, resources)

    @property
    def measuring(self) -> bool:
        return self.faces.detector is not None or self.distribution.reference is not None

    def __call__(self, published: torch.nn.Module, pos: Position) -> None:
        config = self.config
        sampler = recalibrate_batchnorm(copy.deepcopy(published), config.latent_dim)
        fixed = range(GRID_SEEDS_START, GRID_SEEDS_START + config.sample_count)
        self.writer.grid(generate_seeds(sampler, fixed, config.latent_dim), pos.epoch)
        if evaluated_epoch(pos.epoch, config) and self.measuring:
            generated = generate_eval_samples(sampler, config.latent_dim, config.eval_samples)
            faces, spread = self.faces(generated), self.distribution(generated)
            self.writer.metrics({"epoch": pos.epoch, "step": pos.step, **(faces or {}), **(spread or {})})
            if faces is not None:
                logger.info(
                    "epoch %d: face rate %.3f (real %.3f)", pos.epoch, faces["face_rate"], faces["real_face_rate"]
                )
            if spread is not None:
                logger.info(
                    "epoch %d: FD %.3f, precision %.3f, recall %.3f (encoder %s)",
                    pos.epoch, spread[KEY_FD], spread[KEY_PRECISION], spread[KEY_RECALL], spread["encoder_id"],
                )  # fmt: skip
        self.writer.plots(gif=pos.epoch % 10 == 0)


def train(config: TrainConfig, resume: Path | None = None, resources: MetricResources | None = None) -> Path:
    """Train until the epochs, max_steps or max_minutes run out, or Ctrl-C; returns the run folder.
    `resources`: the metric files the command line resolved (the encoder cache, where the config
    names none)."""
    world, device = init_world(config.device)
    handler: logging.Handler | None = None
    try:
        if resume is None and config.init_generator:
            initial_generator_state(config)  # a wrong checkpoint stops before a run folder exists
        # rank 0 names and checks the folder before anyone writes into it; the others take its choice
        chosen = resume if resume is not None else (new_run_dir(config) if world.is_main else None)
        run_dir = Path(str(from_main(str(chosen), world)))
        if world.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            config.save(run_dir / "config.json")
            handler = logging.FileHandler(run_dir / "log.txt")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logging.getLogger().addHandler(handler)
        return _train(config, run_dir, resume is not None, world, device, resources or MetricResources())
    finally:
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
        close_world(world)


def autocast_for(config: TrainConfig, device: torch.device) -> Autocast:
    """The context the forward passes run in: bf16 autocast where the recipe and device use it."""
    if uses_bf16(config, device):
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


@dataclass
class RunClock:
    """Training wall time over every session of a run: the snapshot's time before, plus this session's."""

    before_s: float
    started: float = field(default_factory=time.monotonic)

    def minutes(self) -> float:
        return (self.before_s + time.monotonic() - self.started) / 60


@dataclass
class Session:
    """One session of a run (a fresh start or a resume), as `open_session` sets it up: the data, the
    networks, where training stands, and the step that moves it on."""

    config: TrainConfig
    world: World
    device: torch.device
    writer: RunWriter
    data: ImageSet
    images: torch.Tensor  # the data set, on the device
    nets: Networks
    pos: Position
    augment: list[Transform]
    autocast: Autocast
    evaluate: Evaluations | None  # the main rank's end-of-epoch grids and metrics
    clock: RunClock

    @property
    def local_batch(self) -> int:
        return self.config.batch_size // self.world.size

    @property
    def steps_per_epoch(self) -> int:
        return len(self.data) // self.config.batch_size

    @property
    def total_steps(self) -> int:
        total = self.steps_per_epoch * self.config.epochs
        return min(total, self.config.max_steps) if self.config.max_steps else total

    def train_step(self, order: torch.Tensor, i: int) -> dict[str, torch.Tensor]:
        """Step `i` of the epoch whose data order is `order`, on this rank's share of the batch; moves
        the position on. Every random draw of the step follows from (seed, step, rank)."""
        config, pos, rank = self.config, self.pos, self.world.rank
        torch.manual_seed(step_seed(config.seed, pos.step, rank))
        start = i * config.batch_size + rank * self.local_batch
        real = real_batch(self.images, order[start : start + self.local_batch].to(self.device), config.hflip)
        if uses_channels_last(config, self.device):
            real = real.contiguous(memory_format=torch.channels_last)
        scale = lr_scale(pos.epoch, config)
        stats = train_step(
            self.nets, real, step=pos.step, scale=scale, config=config, augment=self.augment, autocast=self.autocast
        )
        pos.step += 1
        pos.batch_in_epoch = i + 1
        return stats

    def stop_reason(self, stop: StopRequest) -> str:
        """Why every rank stops after this step ("" to go on): one rank's reason stops them all."""
        local = stop_reason(self.config, self.pos, self.clock.minutes(), stop.requested)
        if any_rank(bool(local), self.world, self.device):
            return local or "another rank stopped"
        return ""

    def end_epoch(self) -> None:
        """Move on to the next epoch, then grid and measure what the finished one made."""
        self.pos.epoch += 1
        self.pos.batch_in_epoch = 0
        if self.evaluate is not None:
            self.evaluate(self.nets.published, self.pos)


def open_session(
    config: TrainConfig,
    run_dir: Path,
    resuming: bool,
    world: World,
    device: torch.device,
    resources: MetricResources,
) -> Session:
    """Check the config against the world and the data, load the data, build (or restore) the networks."""
    if config.batch_size % world.size:
        raise ConfigError(f"batch_size {config.batch_size} must divide evenly over {world.size} ranks")
    if config.threads:
        torch.set_num_threads(config.threads)
    writer = RunWriter(run_dir, config, world.is_main)
    writer.json("environment.json", describe_environment(device, world))
    data = load_images(config.data, config.resolution, progress=world.is_main)
    if len(data) < config.batch_size:
        raise ConfigError(f"{config.data}: {len(data)} images is fewer than one batch of {config.batch_size}")
    writer.json("data.json", data.describe())
    images = data.images.to(device)

    torch.manual_seed(config.seed)  # same initial weights on every rank and every run of this seed
    nets = build_networks(config, device, resuming=resuming)
    pos = Position()
    if resuming:
        pos = restore(nets, load_snapshot(run_dir / SNAPSHOT_NAME))
        logger.info("resumed %s at epoch %d, step %d", run_dir, pos.epoch, pos.step)
        if world.is_main:
            keep_if_evaluated(run_dir, pos, config)
    wrap_for_training(nets, config, world, device)
    evaluate = Evaluations(config, data, writer, resources) if world.is_main else None
    return Session(
        config, world, device, writer, data, images, nets, pos,
        augment=parse_policy(config.augment),
        autocast=autocast_for(config, device),
        evaluate=evaluate,
        clock=RunClock(pos.elapsed_s),  # started after the evaluators' set-up, which is not training time
    )  # fmt: skip


class Checkpointer:
    """Owns the snapshot cadence: every `snapshot_minutes` within an epoch, at each epoch's end (then a
    kept copy of a measured epoch), and once on the way out, whatever the reason. Only the main rank
    writes; every rank keeps the run's wall time in the position."""

    def __init__(self, run_dir: Path, session: Session) -> None:
        self.run_dir = run_dir
        self.session = session
        self.last = time.monotonic()

    def save(self, reason: str) -> None:
        s = self.session
        s.pos.elapsed_s = s.clock.minutes() * 60
        if s.world.is_main:
            save_snapshot(self.run_dir / SNAPSHOT_NAME, capture(s.nets, s.pos, s.config))
            logger.info("snapshot saved at step %d (%s)", s.pos.step, reason)

    def periodic(self) -> None:
        if time.monotonic() - self.last > self.session.config.snapshot_minutes * 60:
            self.save("periodic")
            self.last = time.monotonic()

    def end_of_epoch(self) -> None:
        self.save(f"end of epoch {self.session.pos.epoch}")
        self.last = time.monotonic()
        if self.session.world.is_main:
            keep_if_evaluated(self.run_dir, self.session.pos, self.session.config)


class StatsLog:
    """Every `log_every` steps (and at the last), the window's averages as a row of stats.jsonl and on
    the progress bar."""

    def __init__(self, session: Session, bar: tqdm) -> None:
        self.session = session
        self.bar = bar
        self.window = StatsWindow()

    def add(self, stats: dict[str, torch.Tensor]) -> None:
        s, config = self.session, self.session.config
        self.window.add(stats)
        self.bar.update(1)
        if s.pos.step % config.log_every and s.pos.step != s.total_steps:
            return
        row = self.window.close(s.pos, config.lr_g * lr_scale(s.pos.epoch, config), config.batch_size)
        s.writer.stats(row)
        self.bar.set_postfix(
            epoch=s.pos.epoch,
            loss_d=f"{row['loss_d']:.3f}" if "loss_d" in row else "-",
            loss_g=f"{row['loss_g']:.3f}" if "loss_g" in row else "-",
            img_s=f"{row['img_per_s']:.0f}",
        )


def _train(
    config: TrainConfig, run_dir: Path, resuming: bool, world: World, device: torch.device, resources: MetricResources
) -> Path:
    """The loop itself: epochs of steps, each step logged, a stop checked and a snapshot due; at each
    epoch's end an evaluation and a snapshot; on the way out (any way out) a last snapshot and the plots."""
    s = open_session(config, run_dir, resuming, world, device, resources)
    pos, checkpointer = s.pos, Checkpointer(run_dir, s)
    reason = ""
    with (
        StopRequest() as stop,
        logging_redirect_tqdm(),
        tqdm(total=s.total_steps, initial=min(pos.step, s.total_steps), disable=not world.is_main, unit="step",
             dynamic_ncols=True) as bar,
    ):  # fmt: skip
        log = StatsLog(s, bar)
        try:
            while pos.epoch < config.epochs and not reason:
                order = epoch_order(len(s.data), config.seed, pos.epoch)
                for i in range(pos.batch_in_epoch, s.steps_per_epoch):
                    log.add(s.train_step(order, i))  # (1) D, (2) G, (3) EMA
                    reason = s.stop_reason(stop)
                    if reason:
                        break
                    checkpointer.periodic()
                if pos.batch_in_epoch == s.steps_per_epoch:  # also when a stop fell on the epoch's last step
                    s.end_epoch()
                    checkpointer.end_of_epoch()
            reason = reason or "all epochs done"
        finally:
            checkpointer.save(reason or "error")
            s.writer.plots(gif=True)
            s.writer.close()
    logger.info("training stopped (%s) at epoch %d, step %d: %s", reason, pos.epoch, pos.step, run_dir)
    if world.distributed:
        if weights_agree(s.nets.g, world, device):
            logger.info("all %d ranks agree on the generator weights", world.size)
        else:
            logger.error("ranks disagree on the generator weights: DDP is out of sync")
    return run_dir


def resume_config(run_dir: Path, overrides: dict[str, Any]) -> TrainConfig:
    """The run's own config, with overrides such as a longer `epochs` or `max_minutes` applied."""
    return config_from(load_run_config(run_dir / "config.json").to_dict(), overrides, "--set")
