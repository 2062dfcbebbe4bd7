"""Training, top to bottom: config, data, model, loop, evaluation, artefacts.

A run directory holds the resolved config, per-epoch metrics (JSON lines), ``last.pt`` (written
every epoch, what ``--resume`` continues from), ``best.pt`` (the weights selected on val), the
final test report and its plots. Test (PrivateTest) is evaluated once, at the end.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from edge.contract import CropPolicy, Preprocessing
from train import checkpoint
from train.augment import AugmentConfig, augment_uint8, random_erase, without
from train.config import TrainConfig
from train.dataset import VOTE_ONLY_CLASSES, FaceDataset, LoadOptions, describe, load_dataset
from train.metrics import Report, compute_report, plot_confusion, plot_curves
from train.model import EmotionNet
from train.sampling import stratified_subset
from train.teacher import load_teachers

log = logging.getLogger(__name__)


# --- config and environment ---------------------------------------------------------------------


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda was asked for but torch sees no CUDA GPU; use --device cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def native_bf16(device: torch.device) -> bool:
    """Whether mixed precision pays on this device. On a CPU, bf16 autocast runs fast only where
    oneDNN has native bf16 kernels (AVX-512 and newer); on an AVX2-only CPU it falls back to
    reference kernels, measured 15x slower than float32 (10 s vs 0.7 s per batch of 128)."""
    if device.type == "cuda":
        return True
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def amp_dtype(device: torch.device) -> torch.dtype:
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


# --- data ---------------------------------------------------------------------------------------


@dataclass
class Splits:
    train_x: npt.NDArray[np.uint8]
    train_y: npt.NDArray[np.int64]
    val_x: npt.NDArray[np.uint8]
    val_y: npt.NDArray[np.int64]
    test_x: npt.NDArray[np.uint8]
    test_y: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    # With FER+ votes: the training images' vote distributions (rows x classes), and the FER+
    # majority label of each val and test image (-1: excluded by train/ferplus.py's rules).
    train_t: npt.NDArray[np.float32] | None = None
    val_fer: npt.NDArray[np.int64] | None = None
    test_fer: npt.NDArray[np.int64] | None = None


def prepare_data(cfg: TrainConfig) -> tuple[FaceDataset, Splits, CropPolicy]:
    """The splits, and the crop policy the model is trained for (five-point alignment's template
    measured here, from the Training faces)."""
    dataset = load_dataset(cfg.data, LoadOptions(strict_size=cfg.strict_size, skip_bad=cfg.skip_bad))
    if cfg.classes:
        dataset = dataset.subset(cfg.classes)
    if cfg.contempt:
        dataset = dataset.subset([*dataset.class_names, "contempt"], empty_ok=VOTE_ONLY_CLASSES)
    crop = CropPolicy()
    if cfg.align_landmarks:
        from train.landmarks import align_images, fer_landmarks, template_of

        marks = fer_landmarks(dataset.images, Path(cfg.yunet))
        crop = replace(crop, template=template_of(marks[dataset.splits == "train"], dataset.images.shape[1]))
        assert crop.template is not None
        found = int((~np.isnan(marks).any(axis=(1, 2))).sum())
        log.info("five-point alignment: landmarks on %d of %d faces, template %s", found, len(marks), crop.template)
        dataset = replace(dataset, images=align_images(dataset.images, marks, crop.template))
    train_x, train_y = dataset.split("train")
    val_x, val_y = dataset.split("val")
    test_x, test_y = dataset.split("test")
    train_t = val_fer = test_fer = None
    if cfg.votes:
        train_t, val_fer, test_fer, keep_train = join_ferplus(cfg, dataset)
        if cfg.labels == "ferplus":
            train_x, train_y, train_t = train_x[keep_train], train_y[keep_train], train_t[keep_train]
        else:
            train_t = None
    rng = np.random.default_rng(cfg.seed)
    if cfg.limit_train:
        keep = stratified_subset(train_y, cfg.limit_train, rng)
        train_x, train_y = train_x[keep], train_y[keep]
        train_t = train_t[keep] if train_t is not None else None
    if cfg.limit_eval:
        keep_v = stratified_subset(val_y, cfg.limit_eval, rng)
        keep_t = stratified_subset(test_y, cfg.limit_eval, rng)
        val_x, val_y, test_x, test_y = val_x[keep_v], val_y[keep_v], test_x[keep_t], test_y[keep_t]
        val_fer = val_fer[keep_v] if val_fer is not None else None
        test_fer = test_fer[keep_t] if test_fer is not None else None
    splits = Splits(train_x, train_y, val_x, val_y, test_x, test_y, dataset.class_names, train_t, val_fer, test_fer)
    return dataset, splits, crop


def join_ferplus(
    cfg: TrainConfig, dataset: FaceDataset
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """FER+ votes for the data set: the training images' vote distributions, which training images
    are usable (logged with the counts of those left out), and val/test majority labels."""
    from train.ferplus import majority_labels, read_votes, soft_targets, votes_for

    votes = read_votes(cfg.votes)
    index = votes_for(dataset, votes)
    out = []
    for split in ("train", "val", "test"):
        mask = dataset.splits == split
        counts, dropped = votes.counts[index[mask]], votes.dropped[index[mask]]
        if split == "train":
            targets, keep, reasons = soft_targets(counts, dropped, dataset.class_names)
            log.info(
                "FER+ votes %s: %d training images with soft targets; left out: %s",
                cfg.votes,
                int(keep.sum()),
                "; ".join(f"{n} {why}" for why, n in reasons.items()),
            )
        else:
            labels, why_out = majority_labels(counts, dropped, dataset.class_names)
            log.info(
                "FER+ majority labels for %s: %d of %d images (%s)",
                split,
                int((labels >= 0).sum()),
                len(labels),
                "; ".join(f"{n} {why}" for why, n in why_out.items()),
            )
            out.append(labels)
    return targets, out[0], out[1], keep


def blended_targets(
    labels: torch.Tensor, votes: torch.Tensor | None, weight: float, num_classes: int
) -> torch.Tensor | None:
    """Each image's training target: ``weight`` x its FER+ vote distribution plus ``1 - weight``
    x its FER2013 label (one-hot); None without votes (the hard-label loss)."""
    if votes is None:
        return None
    onehot = nn.functional.one_hot(labels, num_classes).to(votes.dtype)
    return weight * votes + (1.0 - weight) * onehot


def class_weights(
    labels: npt.NDArray[np.int64], num_classes: int, method: str, counts: npt.NDArray[np.float64] | None = None
) -> torch.Tensor:
    """Loss weights against FER2013's imbalance, normalised so the average sample weight is 1.

    ``sqrt_inv`` (the default) weighs a class by 1/sqrt(count): disgust (436 images) gets about
    4x the weight of happy (7,215), which lifts its recall without the accuracy loss that full
    inverse-frequency weighting (``inv``) costs on the common classes.
    """
    if counts is None:  # soft targets pass their summed distributions instead
        counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    if method == "none":
        w = np.ones(num_classes)
    else:
        power = 0.5 if method == "sqrt_inv" else 1.0
        w = np.where(counts > 0, 1.0 / np.maximum(counts, 1) ** power, 0.0)
    w = w * counts.sum() / max((w * counts).sum(), 1e-12)
    return torch.tensor(w, dtype=torch.float32)


def class_prior(
    labels: npt.NDArray[np.int64], num_classes: int, soft: npt.NDArray[np.float32] | None = None
) -> torch.Tensor:
    """Each class's share of the training targets (summed vote distributions where the targets are
    soft), floored so an absent class has a finite log."""
    counts = soft.sum(axis=0).astype(np.float64) if soft is not None else np.bincount(labels, minlength=num_classes)
    prior = np.maximum(counts, 1e-3) / max(float(np.sum(counts)), 1e-12)
    return torch.tensor(prior, dtype=torch.float32)


# --- model --------------------------------------------------------------------------------------


def arch_of(cfg: TrainConfig) -> checkpoint.Arch:
    return checkpoint.Arch(tuple(cfg.widths), tuple(cfg.depths), cfg.dropout)


def build_model(cfg: TrainConfig, num_classes: int) -> EmotionNet:
    return arch_of(cfg).build(num_classes)


def build_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, nesterov=True, weight_decay=cfg.weight_decay
    )


def distillation_loss(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) on temperature-softened distributions, scaled by T^2 so its gradient
    keeps the size of the hard-label loss's (Hinton et al., 2015)."""
    log_student = torch.log_softmax(student_logits / temperature, dim=1)
    return nn.functional.kl_div(log_student, teacher_probs, reduction="batchmean") * temperature**2


class WeightEMA:
    """Exponential moving average of parameters and buffers, evaluated instead of the raw weights."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        # Warm-up so early averages are not dominated by the random initialisation.
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema_v, v in zip(self.model.state_dict().values(), model.state_dict().values()):
            if ema_v.dtype.is_floating_point:
                ema_v.mul_(d).add_(v.detach(), alpha=1 - d)
            else:
                ema_v.copy_(v)


def mix_batch(x: torch.Tensor, alpha: float, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mixup: blend the batch with a shuffled copy of itself. Returns the blend, the partner of
    each row and the weight of the row's own image (and label)."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.from_numpy(rng.permutation(len(x))).to(x.device)
    return lam * x + (1 - lam) * x[perm], perm, lam


PROGRESS_EVERY_S = 60.0


def format_duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


# --- loop ---------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False) -> None:
        self.cfg = cfg.validate()
        self.run_dir = cfg.run_dir
        self.resume = resume
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed)
        self.device = pick_device(cfg.device)
        self.pre = Preprocessing(equalize=cfg.equalize)
        self.aug = without(AugmentConfig(device_crop=cfg.device_crop, camera=cfg.camera), cfg.augment_off)
        self.dataset, self.data, self.crop = prepare_data(cfg)
        k = len(self.data.class_names)
        # Channels-last lets oneDNN (CPU) and cuDNN (GPU) pick their fast NHWC convolutions:
        # 1.3x faster per training step on the 2-core CPU, same arithmetic.
        model = build_model(cfg, k).to(self.device)
        # torch's stubs leave memory_format out of Module.to's overloads; the call accepts it.
        self.model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.ema = WeightEMA(self.model, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.optimizer = build_optimizer(cfg, self.model)
        self.train_targets = self.blended_train_targets()
        self.criterion = nn.CrossEntropyLoss(
            weight=class_weights(
                self.data.train_y,
                k,
                cfg.class_weighting,
                self.train_targets.sum(axis=0).astype(np.float64) if self.train_targets is not None else None,
            ).to(self.device),
            label_smoothing=cfg.label_smoothing,
        )
        self.logit_offset = (
            cfg.logit_adjustment * torch.log(class_prior(self.data.train_y, k, self.train_targets)).to(self.device)
            if cfg.logit_adjustment > 0
            else None
        )
        # The teacher sees each augmented batch and its mirror: the student learns the flip-averaged
        # (test-time-augmented) prediction as a single crop.
        self.teacher = (
            load_teachers([Path(t) for t in cfg.teachers], list(self.data.class_names), self.pre, self.device)
            if cfg.teachers
            else None
        )
        self.boxes = None
        if cfg.device_crop:
            from train.crop_stats import cached_device_boxes

            self.boxes = cached_device_boxes(self.data.train_x, Path(cfg.yunet))
            log.info(
                "device crop: YuNet boxes for %d of %d training faces",
                int((~np.isnan(self.boxes[:, 0])).sum()),
                len(self.boxes),
            )
        self.steps_per_epoch = math.ceil(len(self.data.train_y) / cfg.batch_size)
        self.total_steps = self.steps_per_epoch * cfg.epochs
        self.warmup_steps = int(cfg.warmup_epochs * self.steps_per_epoch)
        self.rng = np.random.default_rng(cfg.seed)
        self.epoch = 0
        self.step = 0
        self.best = -1.0
        self.best_epoch = 0
        self.elapsed = 0.0
        self.use_amp = cfg.amp and native_bf16(self.device)
        if cfg.amp and not self.use_amp:
            log.warning(
                "this CPU has no native bf16 (oneDNN needs AVX-512): training in float32, which is faster "
                "here than mixed precision; results differ slightly from a bf16 run"
            )
        # fp16 (CUDA GPUs without bf16) needs loss scaling against underflow; bf16 does not.
        self.scaler = torch.amp.GradScaler(
            self.device.type, enabled=self.use_amp and amp_dtype(self.device) == torch.float16
        )

    def blended_train_targets(self) -> npt.NDArray[np.float32] | None:
        if self.data.train_t is None:
            return None
        t = blended_targets(
            torch.from_numpy(self.data.train_y),
            torch.from_numpy(self.data.train_t),
            self.cfg.ferplus_weight,
            len(self.data.class_names),
        )
        assert t is not None
        return t.numpy().astype(np.float32)

    # -- artefacts of the run --

    def checkpoint_meta(self) -> dict[str, Any]:
        arch = arch_of(self.cfg)
        return checkpoint.header(self.cfg.to_dict(), list(self.data.class_names), self.pre, arch, self.model, self.crop)

    def save_last(self) -> None:
        state = {
            **self.checkpoint_meta(),
            "model": self.model.state_dict(),
            "ema": self.ema.model.state_dict() if self.ema else None,
            "ema_updates": self.ema.updates if self.ema else 0,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "best_epoch": self.best_epoch,
            "elapsed": self.elapsed,
            "rng_numpy": self.rng.bit_generator.state,
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        checkpoint.save(state, self.run_dir / "last.pt")

    def save_best(self, val_top1: float) -> None:
        weights = self.selected_model().state_dict()
        checkpoint.save(
            {**self.checkpoint_meta(), "model": weights, "epoch": self.epoch, "val_top1": val_top1},
            self.run_dir / "best.pt",
        )

    def load_last(self) -> None:
        path = self.run_dir / "last.pt"
        if not path.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {path}; start without --resume")
        state = checkpoint.load(path, self.device, "--resume").state
        # A key added to the configuration after the checkpoint was written counts at its default.
        saved, current, default = state["config"], self.cfg.to_dict(), TrainConfig().to_dict()
        # Where the run folder lives is not a training setting: a run moved to another disk resumes.
        keys = (current.keys() | saved.keys()) - {"out"}
        changed = sorted(k for k in keys if saved.get(k, default.get(k)) != current.get(k))
        if changed:
            raise ValueError(f"--resume: {path} was trained with different settings ({', '.join(changed)})")
        self.model.load_state_dict(state["model"])
        if self.ema and state["ema"] is not None:
            self.ema.model.load_state_dict(state["ema"])
            self.ema.updates = state["ema_updates"]
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state.get("scaler", {}))
        self.epoch, self.step = state["epoch"], state["step"]
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.elapsed = state["elapsed"]
        self.rng.bit_generator.state = state["rng_numpy"]
        torch.set_rng_state(state["rng_torch"].cpu())
        if state["rng_cuda"] is not None:
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        # Metrics written after the checkpoint (an interrupted epoch) are dropped.
        metrics = self.run_dir / "metrics.jsonl"
        if metrics.exists():
            rows = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
            keep = [r for r in rows if r["epoch"] <= self.epoch]
            metrics.write_text("".join(json.dumps(r) + "\n" for r in keep))
        log.info("resumed %s at epoch %d (best val top-1 %.4f)", path, self.epoch, self.best)

    def load_init(self, path: Path) -> None:
        """Start from a checkpoint's weights (fresh optimiser, schedule and EMA warm-up): the
        checkpoint must have this run's architecture and classes, in the same order."""
        if not path.is_file():
            raise FileNotFoundError(f"--init: no checkpoint at {path}; give a best.pt or last.pt of an earlier run")
        if path.suffix == ".onnx":
            self.load_init_onnx(path)
            return
        init = checkpoint.load(path, self.device, "--init")
        mine = list(self.data.class_names)
        if init.class_names != mine:
            raise ValueError(f"--init: {path} has class_names {init.class_names}, this run has {mine}")
        if init.arch != arch_of(self.cfg):
            mine_arch = arch_of(self.cfg).to_dict()
            hint = (
                "; --init-prune narrows an exported .onnx model, export the checkpoint first"
                if self.cfg.init_prune
                else ""
            )
            raise ValueError(f"--init: {path} has arch {init.arch.to_dict()}, this run has {mine_arch}{hint}")
        # last.pt keeps the raw weights and the average apart; start from what selection would ship.
        weights = init.weights()
        self.model.load_state_dict(weights)
        if self.ema:
            self.ema.model.load_state_dict(weights)
        log.info("initialised from %s (epoch %s of its run)", path, init.state.get("epoch"))

    def load_init_onnx(self, path: Path) -> None:
        """Start from a released ONNX model: its classes and preprocessing must be this run's; the
        BatchNorm statistics are set on 2,048 training faces (train/onnx_init.py)."""
        from edge.model_meta import read_onnx_metadata
        from train.onnx_init import emotionnet_from_onnx

        info = read_onnx_metadata(str(path))
        mine = list(self.data.class_names)
        # A run may add vote-only classes (contempt) after the model's own: they start untrained.
        added = mine[len(info.classes) :]
        if mine[: len(info.classes)] != list(info.classes) or not set(added) <= set(VOTE_ONLY_CLASSES):
            raise ValueError(f"--init: {path} has classes {info.classes}, this run has {mine}")
        if info.preprocessing != self.pre:
            raise ValueError(
                f"--init: {path} expects preprocessing {info.preprocessing.to_dict()}, this run uses "
                f"{self.pre.to_dict()}; train with the model's --equalize"
            )
        calibration = torch.from_numpy(self.pre.apply(self.data.train_x[:: max(1, len(self.data.train_x) // 2048)]))
        net = emotionnet_from_onnx(
            path,
            len(mine),
            self.cfg.widths,
            self.cfg.depths,
            self.cfg.dropout,
            calibration,
            grow=bool(added),
            prune=self.cfg.init_prune,
        )
        weights = net.state_dict()
        self.model.load_state_dict(weights)
        if self.ema:
            self.ema.model.load_state_dict(weights)
        log.info("initialised from %s (ONNX model %s %s)", path, info.name, info.version)

    def selected_model(self) -> nn.Module:
        return self.ema.model if self.ema else self.model

    # -- one epoch --

    def batch_input(
        self, images: npt.NDArray[np.uint8], train: bool, boxes: npt.NDArray[np.float32] | None = None
    ) -> torch.Tensor:
        if train and self.cfg.augment:
            images = augment_uint8(images, self.aug, self.rng, boxes)
        x = self.pre.apply(images)
        if train and self.cfg.augment:
            random_erase(x, self.aug, self.rng)
        return torch.from_numpy(x).to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=amp_dtype(self.device), enabled=self.use_amp)

    def train_epoch(self) -> dict[str, float]:
        from tqdm import tqdm

        self.model.train()
        order = self.rng.permutation(len(self.data.train_y))
        bs = self.cfg.batch_size
        total_loss, correct, seen = 0.0, 0.0, 0
        bar = tqdm(
            range(self.steps_per_epoch),
            desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
            leave=False,
            mininterval=1.0 if sys.stderr.isatty() else 30.0,
            disable=None,
        )
        # Where the bar is off (a log file, nohup), a line a minute shows that a slow epoch moves.
        started = last_note = time.perf_counter()
        for i in bar:
            if bar.disable and i and time.perf_counter() - last_note >= PROGRESS_EVERY_S:
                last_note = time.perf_counter()
                per_step = (last_note - started) / i
                log.info(
                    "epoch %d/%d: step %d/%d, loss %.3f, top-1 %.3f, %.2f s/step, about %.0f s to the epoch's end",
                    self.epoch + 1,
                    self.cfg.epochs,
                    i,
                    self.steps_per_epoch,
                    total_loss / seen,
                    correct / seen,
                    per_step,
                    per_step * (self.steps_per_epoch - i),
                )
            idx = order[i * bs : (i + 1) * bs]
            x = self.batch_input(
                self.data.train_x[idx], train=True, boxes=self.boxes[idx] if self.boxes is not None else None
            )
            y = torch.from_numpy(self.data.train_y[idx]).to(self.device)
            soft = torch.from_numpy(self.train_targets[idx]).to(self.device) if self.train_targets is not None else None
            if soft is not None:
                y = soft.argmax(1)  # for the running top-1 only: the loss reads the distribution
            lr = lr_at(self.step, self.total_steps, self.warmup_steps, self.cfg.lr)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            lam, partner = 1.0, y
            target: torch.Tensor = y if soft is None else soft
            partner_target = target
            if self.cfg.mixup_alpha > 0:
                x, perm, lam = mix_batch(x, self.cfg.mixup_alpha, self.rng)
                partner, partner_target = y[perm], target[perm]
            with self.autocast():
                logits = self.model(x)
                loss = lam * self.label_loss(logits, target)
                if lam < 1.0:
                    loss = loss + (1 - lam) * self.label_loss(logits, partner_target)
                if self.teacher is not None:
                    loss = (1 - self.cfg.distill_weight) * loss + self.cfg.distill_weight * distillation_loss(
                        logits.float(), self.teacher_probs(x), self.cfg.distill_temperature
                    )
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema:
                self.ema.update(self.model)
            self.step += 1
            total_loss += float(loss.detach()) * len(idx)
            pred = logits.argmax(1)
            # With mixup a prediction earns the share of the label it names.
            correct += lam * int((pred == y).sum()) + (1 - lam) * int((pred == partner).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total_loss / seen:.3f}", acc=f"{correct / seen:.3f}", lr=f"{lr:.4f}")
        bar.close()
        return {"train_loss": total_loss / seen, "train_top1": correct / seen}

    def label_loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss against the labels (or vote distributions); with logit adjustment the logits are
        shifted by tau x log(prior) first, so a frequent class must win by its prior's margin."""
        logits = logits.float()
        if self.logit_offset is not None:
            logits = logits + self.logit_offset
        loss: torch.Tensor = self.criterion(logits, target)
        return loss

    @torch.no_grad()
    def teacher_probs(self, x: torch.Tensor) -> torch.Tensor:
        assert self.teacher is not None
        t = self.cfg.distill_temperature
        logits = self.teacher(torch.cat([x, x.flip(3)])).float()
        a, b = torch.softmax(logits / t, dim=1).chunk(2)
        return (a + b) / 2

    @torch.no_grad()
    def predict(self, model: nn.Module, images: npt.NDArray[np.uint8], flip: bool = False) -> npt.NDArray[np.float32]:
        model.eval()
        out = []
        for i in range(0, len(images), 512):
            batch = images[i : i + 512]
            if flip:
                batch = np.ascontiguousarray(batch[:, :, ::-1])
            with self.autocast():
                logits = model(self.batch_input(batch, train=False))
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        return np.concatenate(out)

    def val_metrics(self) -> dict[str, float]:
        y = self.data.val_y
        row: dict[str, float] = {}
        models = [("", self.model)] + ([("_ema", self.ema.model)] if self.ema else [])
        for suffix, model in models:
            probs = self.predict(model, self.data.val_x)
            nll = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, None))
            row[f"val_top1{suffix}"] = float((probs.argmax(1) == y).mean())
            row[f"val_loss{suffix}"] = float(nll.mean())  # plain NLL: comparable across class weightings
            if self.data.val_fer is not None:
                counted = self.data.val_fer >= 0
                hit = probs[counted].argmax(1) == self.data.val_fer[counted]
                row[f"val_ferplus_top1{suffix}"] = float(hit.mean())
                row[f"val_mean_top1{suffix}"] = (row[f"val_top1{suffix}"] + row[f"val_ferplus_top1{suffix}"]) / 2
        return row

    # -- the whole run --

    def run(self, stop_after: int | None = None) -> Report | None:
        """Train to the configured epochs (or early stop), then report on test. With
        ``stop_after``, pause after that epoch instead: ``--resume`` continues exactly."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.resume:
            self.load_last()
        elif (self.run_dir / "last.pt").exists():
            raise FileExistsError(
                f"{self.run_dir} already holds a run; pass --resume to continue it or --name for a new one"
            )
        elif self.cfg.init:
            self.load_init(Path(self.cfg.init))
        (self.run_dir / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2) + "\n")
        meta = self.checkpoint_meta()
        log.info("data %s\n%s", self.cfg.data, describe(self.dataset))
        log.info(
            "model: %d parameters, %.1f M MACs per face; device %s%s",
            meta["params"],
            meta["macs"] / 1e6,
            self.device,
            " with mixed precision" if self.use_amp else "",
        )
        select_key = {"fer2013": "val_top1", "ferplus": "val_ferplus_top1", "mean": "val_mean_top1"}[
            self.cfg.select_on
        ] + ("_ema" if self.ema else "")
        timed: list[float] = []  # this process's epochs (a resumed run may be on another machine)
        while self.epoch < self.cfg.epochs:
            start = time.perf_counter()
            row: dict[str, Any] = self.train_epoch()
            self.epoch += 1
            row.update(self.val_metrics())
            seconds = time.perf_counter() - start
            self.elapsed += seconds
            row.update(epoch=self.epoch, seconds=round(seconds, 1), lr=self.optimizer.param_groups[0]["lr"])
            improved = row[select_key] > self.best
            if improved:
                self.best, self.best_epoch = row[select_key], self.epoch
                self.save_best(self.best)
            with (self.run_dir / "metrics.jsonl").open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            self.save_last()
            timed.append(seconds)
            left_s = sum(timed) / len(timed) * (self.cfg.epochs - self.epoch)
            log.info(
                "epoch %d/%d %.0fs (up to about %s more) train loss %.3f top-1 %.3f | val top-1 %.4f%s%s%s",
                self.epoch,
                self.cfg.epochs,
                seconds,
                format_duration(left_s),
                row["train_loss"],
                row["train_top1"],
                row["val_top1"],
                f" ema {row['val_top1_ema']:.4f}" if self.ema else "",
                f" | FER+ val top-1 {row['val_ferplus_top1' + ('_ema' if self.ema else '')]:.4f}"
                if self.data.val_fer is not None
                else "",
                " *" if improved else "",
            )
            if self.epoch - self.best_epoch >= self.cfg.patience > 0:
                log.info("early stop: no better val top-1 for %d epochs", self.cfg.patience)
                break
            if stop_after is not None and self.epoch >= stop_after and self.epoch < self.cfg.epochs:
                log.info("paused after epoch %d; continue with --resume", self.epoch)
                return None
        return self.finish()

    def finish(self) -> Report:
        selected = checkpoint.load(self.run_dir / "best.pt", self.device)
        best, model = selected.state, selected.model(self.device)
        # --no-test (probes): the end-of-run report is on val, in report_val.json; PrivateTest unseen.
        split, x, y = ("test", self.data.test_x, self.data.test_y)
        if not self.cfg.test_report:
            split, x, y = ("val", self.data.val_x, self.data.val_y)
        k = len(self.data.class_names)
        train_counts = np.bincount(self.data.train_y, minlength=k).tolist()
        probs = self.predict(model, x)
        flipped = self.predict(model, x, flip=True)
        report = compute_report(split, y, probs, self.data.class_names, flipped)
        report.save(self.run_dir / ("report.json" if split == "test" else "report_val.json"))
        summary = {
            "best_epoch": best["epoch"],
            "val_top1": best["val_top1"],
            "select_on": self.cfg.select_on,
            "epochs_run": self.epoch,
            "train_seconds": round(self.elapsed, 1),
            "device": str(self.device) if self.device.type == "cpu" else torch.cuda.get_device_name(),
            "threads": torch.get_num_threads(),
            # The configured amp is a wish; this is what ran (no bf16 on CPUs without native support).
            "precision": str(amp_dtype(self.device)).removeprefix("torch.") if self.use_amp else "float32",
            "params": best["params"],
            "macs": best["macs"],
            "class_counts_train": dict(zip(self.data.class_names, train_counts)),
        }
        (self.run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        text = report.format()
        (self.run_dir / "report.txt").write_text(
            f"best epoch {best['epoch']} (val top-1 {100 * best['val_top1']:.2f}%)\n{text}\n"
        )
        plot_confusion(report, self.run_dir / "confusion_matrix.png")
        rows = [json.loads(line) for line in (self.run_dir / "metrics.jsonl").read_text().splitlines() if line]
        plot_curves(rows, self.run_dir / "curves.png")
        which = "test (PrivateTest)" if split == "test" else "val (PublicTest)"
        log.info("%s report, best epoch %d:\n%s", which, best["epoch"], text)
        return report


def train(cfg: TrainConfig, resume: bool = False, stop_after: int | None = None) -> Report | None:
    return Trainer(cfg, resume).run(stop_after)
