"""Triplet-loss training over P-K batches, with per-epoch evaluation, checkpoints and resume.

The shape follows timm's training script. :func:`train_one_epoch` runs one pass over P-K
batches. :func:`evaluate` embeds a data set under ``torch.inference_mode()`` and computes every
retrieval and cluster metric. :func:`train_run` calls both once per epoch and writes a CSV log
and an atomic checkpoint after every epoch. Both low-level functions take explicit arguments and an
explicit device.

Reproducibility: on CPU a run is a deterministic function of ``TrainConfig.seed``. Model
initialisation draws from torch's global generator inside ``torch.random.fork_rng``, so the
caller's global state is left as it was. Batches come from a seeded :class:`PKSampler` moved on
with ``set_epoch``, augmentation draws from a seeded numpy generator, and evaluation subsets are
fixed by the seed. A checkpoint stores the model, optimizer and gradient scaler states, the
numpy augmentation generator, torch's global CPU generator state and the number of finished
epochs, so a resumed run ends with the same weights and metrics as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from tfg_lib.aifr.models import NETWORKS, build_model
from tfg_lib.figures import atomic_path, write_text_atomic

logger = logging.getLogger(__name__)

LOSSES = ("batch_hard", "batch_all")
REDUCTIONS = ("mean", "mean_active")
SMALL_IDENTITIES = ("skip", "augment")
PRECISIONS = ("auto", "off", "bf16", "fp16")
CHECKPOINT_NAME = "checkpoint.pt"
HISTORY_NAME = "history.csv"
CONFIG_NAME = "config.json"
CHECKPOINT_FORMAT = 1

# Metric columns of the history, in order. The "loss" and "active_fraction" columns are measured
# on fixed P-K batches of the evaluated split.
METRIC_NAMES = (
    "loss",
    "active_fraction",
    "rank_1",
    "rank_5",
    "local_rank_1",
    "local_rank_5",
    "silhouette",
    "intra_min",
    "intra_mean",
    "intra_max",
    "inter_min",
    "inter_mean",
    "inter_max",
    "norm_min",
    "norm_mean",
    "norm_max",
)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite at ``epoch`` (counted from 1) and ``batch`` (from 0)."""

    def __init__(self, epoch: int, batch: int, value: float) -> None:
        self.epoch = epoch
        self.batch = batch
        self.value = value
        super().__init__(
            f"the training loss is {value} at epoch {epoch}, batch {batch}; training stopped and "
            "the checkpoint of the last finished epoch was kept. Lower the learning rate, set "
            "grad_clip, or check the input images for NaN values."
        )


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; :meth:`validate` checks every field.

    Attributes
    ----------
    network : {"light", "resnet18", "resnet50"}
        Embedding network (see :mod:`tfg_lib.aifr.models`).
    embedding_dim : int
        Dimension D of the embedding, at least 1.
    l2_normalize : bool
        Project embeddings onto the unit sphere.
    pretrained_weights : str, optional
        Local file of ImageNet weights for a ResNet; never downloaded.
    loss : {"batch_hard", "batch_all"}
        Online triplet loss over each P-K batch.
    margin, soft_margin, reduction, normalize, detach_normalizer, norm_penalty, norm_target
        Passed to the loss; ``normalize=True`` is the thesis' fix (the distance difference divided
        by the batch mean of anchor-negative distances).
    P, K : int
        Identities per batch and images per identity; batch size P*K.
    small_identities : {"skip", "augment"}
        Identities with fewer than K images are skipped, or completed by repeating images that
        are then randomly shifted (and flipped for colour images).
    lr, weight_decay : float
        Adam's learning rate (positive) and L2 weight decay (non-negative).
    epochs : int
        Number of epochs, at least 1.
    batches_per_epoch : int, optional
        P-K batches per epoch; ``None`` lets the sampler use about one pass over the images.
    grad_clip : float, optional
        Maximum gradient 2-norm; ``None`` disables clipping.
    seed : int
        Seed of the model initialisation, batch order, augmentation and evaluation subsets.
    eval_sample_size : int, optional
        At most this many images of each split are evaluated per epoch (a seeded, fixed subset);
        ``None`` evaluates every image.
    eval_batches : int
        Number of fixed P-K batches used for the local Rank@k, loss and active fraction of a split.
    eval_batch_size : int
        Images per forward pass during evaluation.
    evaluate_initial : bool
        Also evaluate before the first epoch (history rows with epoch 0).
    precision : {"auto", "off", "bf16", "fp16"}
        Autocast dtype. ``"auto"`` is bf16 on a CUDA device that supports it, fp16 on other CUDA
        devices and off on CPU.
    num_workers : int
        DataLoader worker processes.
    """

    network: str = "light"
    embedding_dim: int = 5
    l2_normalize: bool = False
    pretrained_weights: str | None = None
    loss: str = "batch_hard"
    margin: float = 1.0
    soft_margin: bool = False
    reduction: str = "mean"
    normalize: bool = False
    detach_normalizer: bool = False
    norm_penalty: float = 0.0
    norm_target: float = 1.0
    P: int = 8
    K: int = 16
    small_identities: str = "skip"
    lr: float = 1e-3
    weight_decay: float = 0.0
    epochs: int = 10
    batches_per_epoch: int | None = None
    grad_clip: float | None = None
    seed: int = 0
    eval_sample_size: int | None = None
    eval_batches: int = 8
    eval_batch_size: int = 512
    evaluate_initial: bool = True
    precision: str = "auto"
    num_workers: int = 0

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first invalid field; return ``self`` otherwise."""
        _check_choice("network", self.network, NETWORKS)
        _check_choice("loss", self.loss, LOSSES)
        _check_choice("reduction", self.reduction, REDUCTIONS)
        _check_choice("small_identities", self.small_identities, SMALL_IDENTITIES)
        _check_choice("precision", self.precision, PRECISIONS)

        _check_int("embedding_dim", self.embedding_dim, minimum=1)
        _check_int("P", self.P, minimum=2, reason="a negative needs a second identity")
        _check_int("K", self.K, minimum=2, reason="a positive needs a second image")
        _check_int("epochs", self.epochs, minimum=1)
        _check_int("seed", self.seed, minimum=0)
        _check_int("eval_batches", self.eval_batches, minimum=0)
        _check_int("eval_batch_size", self.eval_batch_size, minimum=1)
        _check_int("num_workers", self.num_workers, minimum=0)
        if self.batches_per_epoch is not None:
            _check_int("batches_per_epoch", self.batches_per_epoch, minimum=1)
        if self.eval_sample_size is not None:
            _check_int("eval_sample_size", self.eval_sample_size, minimum=2)

        _check_float("lr", self.lr, positive=True)
        _check_float("margin", self.margin, positive=False)
        _check_float("weight_decay", self.weight_decay, positive=False)
        _check_float("norm_penalty", self.norm_penalty, positive=False)
        _check_float("norm_target", self.norm_target, positive=False)
        if self.grad_clip is not None:
            _check_float("grad_clip", self.grad_clip, positive=True)

        if self.pretrained_weights is not None and self.network == "light":
            raise ValueError(
                f"pretrained_weights={self.pretrained_weights!r} was given for network='light', "
                "which has no pretrained weights; pass pretrained_weights=None."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a plain dict (JSON-serialisable)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build a config from a dict, rejecting unknown keys."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown TrainConfig fields {unknown}; the valid fields are {sorted(known)}."
            )
        return cls(**values)


@dataclasses.dataclass
class RunResult:
    """Outcome of :func:`train_run`.

    Attributes
    ----------
    history : DataFrame
        One row per evaluated epoch and split: columns ``epoch``, ``split`` ("train", "val"),
        the metrics of ``METRIC_NAMES``, and for the train rows ``running_loss`` and
        ``running_active_fraction`` (means over the epoch's batches, NaN at epoch 0) and
        ``seconds`` (training time of the epoch).
    model : nn.Module
        The trained network, in eval mode, on the training device.
    final_metrics : dict
        The last epoch's metrics, keyed ``"<split>_<metric>"``.
    config : TrainConfig
    run_dir : Path, optional
        Folder of the checkpoint, CSV log and config, when one was given.
    """

    history: pd.DataFrame
    model: nn.Module
    final_metrics: dict[str, float]
    config: TrainConfig
    run_dir: Path | None = None


# Validation against the data.


def check_config_against_labels(config: TrainConfig, labels: np.ndarray) -> None:
    """Raise ``ValueError`` if P-K batches of ``config`` cannot be drawn from ``labels``."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"the training set has labels of shape {labels.shape}; it needs at least one image."
        )
    _, counts = np.unique(labels, return_counts=True)
    if config.small_identities == "skip":
        usable = int(np.sum(counts >= config.K))
        if usable == 0:
            raise ValueError(
                f"K={config.K} is larger than every identity of the training set (the largest has "
                f"{int(counts.max())} images); lower K or set small_identities='augment'."
            )
        if usable < config.P:
            raise ValueError(
                f"P={config.P} is larger than the {usable} identities with at least K={config.K} "
                f"images ({counts.size} identities in all); lower P or K, or set "
                "small_identities='augment'."
            )
    elif counts.size < config.P:
        raise ValueError(
            f"P={config.P} is larger than the {counts.size} identities of the training set; "
            f"lower P to at most {counts.size}."
        )


# Building blocks.


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Return ``device``, or CUDA when it is present and CPU otherwise for ``None``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available; use device='cpu'."
        )
    return device


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype for ``precision`` on ``device`` (``None`` means full float32)."""
    _check_choice("precision", precision, PRECISIONS)
    if precision == "off":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def build_loss(config: TrainConfig) -> nn.Module:
    """Build the triplet loss of ``config``."""
    from tfg_lib.aifr import losses

    loss_class = losses.BatchHardTripletLoss if config.loss == "batch_hard" else losses.BatchAllTripletLoss
    return loss_class(
        margin=config.margin,
        soft_margin=config.soft_margin,
        reduction=config.reduction,
        normalize=config.normalize,
        detach_normalizer=config.detach_normalizer,
        norm_penalty=config.norm_penalty,
        norm_target=config.norm_target,
    )


def build_sampler(config: TrainConfig, labels: np.ndarray, seed: int, batches: int | None):
    """Build the P-K batch sampler of ``config`` over ``labels``."""
    from tfg_lib.aifr.sampling import PKSampler

    return PKSampler(
        labels,
        P=config.P,
        K=config.K,
        small_identities="skip" if config.small_identities == "skip" else "repeat",
        batches_per_epoch=batches,
        seed=seed,
    )


def initial_model(config: TrainConfig, device: torch.device) -> nn.Module:
    """Build the network of ``config`` with weights drawn from ``config.seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_model(
            config.network, config.embedding_dim, config.l2_normalize, config.pretrained_weights
        )
    return model.to(device)


class _IndexedDataset(Dataset):
    """Yield ``(index, image, identity)``, so repeated images of a batch can be found by index."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, identity = self.dataset[index][:2]
        return index, _as_float_image(image), identity


def _as_float_image(image: Any) -> torch.Tensor:
    image = torch.as_tensor(image)
    if image.dtype == torch.uint8:
        return image.float().div_(255.0)
    return image.float()


def augment_repeats(
    images: torch.Tensor, indices: torch.Tensor, rng: np.random.Generator, max_shift: int = 2
) -> torch.Tensor:
    """Randomly shift (and flip, for 3-channel images) every repeated image of a batch.

    The first occurrence of each index is kept as it is; later occurrences are translated by up
    to ``max_shift`` pixels in each direction (circularly), so repeated images differ.
    """
    seen: set[int] = set()
    images = images.clone()
    for position, index in enumerate(indices.tolist()):
        if index not in seen:
            seen.add(index)
            continue
        shift_y, shift_x = (int(value) for value in rng.integers(-max_shift, max_shift + 1, size=2))
        image = torch.roll(images[position], shifts=(shift_y, shift_x), dims=(-2, -1))
        if image.shape[0] == 3 and rng.random() < 0.5:
            image = torch.flip(image, dims=(-1,))
        images[position] = image
    return images


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    epoch: int,
    *,
    scaler: torch.amp.GradScaler | None = None,
    amp_dtype: torch.dtype | None = None,
    grad_clip: float | None = None,
    augment_rng: np.random.Generator | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Train ``model`` on every P-K batch of ``loader`` once.

    ``loader`` yields ``(indices, images, identities)``. Repeated indices inside a batch are
    augmented with :func:`augment_repeats` when ``augment_rng`` is given.

    Returns
    -------
    dict
        ``running_loss`` and ``running_active_fraction``: means over the batches.

    Raises
    ------
    NonFiniteLossError
        As soon as a batch's loss is NaN or infinite, before the optimizer step.
    """
    from tqdm.auto import tqdm

    model.train()
    loss_sum = 0.0
    active_sum = 0.0
    batches = 0
    bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not progress)
    for batch_index, (indices, images, identities) in enumerate(bar):
        if augment_rng is not None:
            images = augment_repeats(images, indices, augment_rng)
        images = images.to(device, non_blocking=True)
        identities = identities.to(device, non_blocking=True)

        with _autocast(device, amp_dtype):
            embeddings = model(images)
        loss = loss_fn(embeddings.float(), identities)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(epoch, batch_index, value)

        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()

        loss_sum += value
        active_sum += float(getattr(loss_fn, "last_stats", {}).get("active_fraction", math.nan))
        batches += 1
        bar.set_postfix(loss=f"{loss_sum / batches:.4f}")
    bar.close()
    if batches == 0:
        raise ValueError("the loader yielded no batch; check P, K and batches_per_epoch.")
    return {"running_loss": loss_sum / batches, "running_active_fraction": active_sum / batches}


@torch.inference_mode()
def embed(
    model: nn.Module,
    dataset: Dataset,
    device: torch.device,
    *,
    batch_size: int = 512,
    amp_dtype: torch.dtype | None = None,
    num_workers: int = 0,
) -> tuple[torch.Tensor, np.ndarray]:
    """Return the float32 CPU embeddings (n, D) of every image of ``dataset`` and its labels."""
    model.eval()
    # An explicit generator keeps the DataLoader from drawing its base seed from the global one.
    loader = DataLoader(
        _IndexedDataset(dataset), batch_size=batch_size, shuffle=False, num_workers=num_workers,
        generator=torch.Generator().manual_seed(0),
    )
    chunks = []
    for _, images, _ in loader:
        with _autocast(device, amp_dtype):
            chunks.append(model(images.to(device)).float().cpu())
    return torch.cat(chunks), np.array(dataset.labels, dtype=np.int64)


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    loss_fn: nn.Module,
    device: torch.device,
    *,
    eval_batches: Sequence[Sequence[int]] = (),
    batch_size: int = 512,
    amp_dtype: torch.dtype | None = None,
    num_workers: int = 0,
) -> dict[str, float]:
    """Embed ``dataset`` and compute every metric of ``METRIC_NAMES`` on it.

    ``eval_batches`` are P-K batches (index lists into ``dataset``) for the local Rank@k, the loss
    and the active fraction; with none those metrics are NaN. A metric that is undefined on the
    data (silhouette with one identity, Rank@5 with fewer than 6 images) is NaN.
    """
    from tfg_lib.aifr import metrics

    embeddings, labels = embed(
        model, dataset, device, batch_size=batch_size, amp_dtype=amp_dtype, num_workers=num_workers
    )
    labels_tensor = torch.as_tensor(labels)
    result = dict.fromkeys(METRIC_NAMES, math.nan)
    for k in (1, 5):
        result[f"rank_{k}"] = _safe_metric(metrics.rank_at_k, embeddings, labels, k)
    result["silhouette"] = _safe_metric(metrics.silhouette, embeddings, labels)
    for prefix, function in (
        ("intra", metrics.intra_cluster_distances),
        ("inter", metrics.inter_cluster_distances),
    ):
        stats = _safe_metric(function, embeddings, labels)
        for key in ("min", "mean", "max"):
            result[f"{prefix}_{key}"] = stats[key] if isinstance(stats, dict) else math.nan
    norms = metrics.embedding_norms(embeddings)
    for key in ("min", "mean", "max"):
        result[f"norm_{key}"] = norms[key]

    batches = [list(batch) for batch in eval_batches]
    if batches:
        for k in (1, 5):
            result[f"local_rank_{k}"] = _safe_metric(
                metrics.local_rank_at_k, embeddings, labels, k, batches
            )
        losses, actives = [], []
        for batch in batches:
            index = torch.as_tensor(batch, dtype=torch.long)
            losses.append(float(loss_fn(embeddings[index], labels_tensor[index])))
            actives.append(float(loss_fn.last_stats.get("active_fraction", math.nan)))
        result["loss"] = float(np.mean(losses))
        result["active_fraction"] = float(np.mean(actives))
    return result


def _safe_metric(function: Callable, *args: Any) -> Any:
    try:
        return function(*args)
    except ValueError as error:
        logger.debug("%s is undefined here: %s", function.__name__, error)
        return math.nan


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


# Checkpoints.


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` with ``torch.save`` atomically, so a crash keeps the previous file."""
    path = Path(path)
    with atomic_path(path) as temporary:
        torch.save(state, temporary)
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a checkpoint of :func:`train_run` onto the CPU, whatever device wrote it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"{str(path)!r} is not a checkpoint of tfg_lib.aifr.training (format "
            f"{CHECKPOINT_FORMAT}); delete it or pass resume=False."
        )
    return state


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the trained network stored in a checkpoint, in eval mode on ``device``."""
    state = load_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    config = dataclasses.replace(config, pretrained_weights=None)
    model = build_model(config.network, config.embedding_dim, config.l2_normalize)
    model.load_state_dict(state["model"])
    return model.to(device).eval()


def _numpy_state(rng: np.random.Generator) -> dict[str, Any]:
    # The bit generator state is a dict of str and int, which weights_only loading accepts.
    return json.loads(json.dumps(rng.bit_generator.state))


# The run.


def train_run(
    config: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None = None,
    device: str | torch.device | None = None,
    run_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
    epoch_callback: Callable[[int, dict[str, float]], None] | None = None,
    initial_weights: dict[str, torch.Tensor] | None = None,
) -> RunResult:
    """Train an embedding network with an online triplet loss and evaluate it after every epoch.

    Parameters
    ----------
    config : TrainConfig
        Validated at entry, together with P and K against ``train_set.labels``.
    train_set, val_set : Dataset
        Data sets yielding ``(image, identity, age)`` with a ``labels`` array.
    device : str or torch.device, optional
        ``None`` picks CUDA when present and CPU otherwise.
    run_dir : path, optional
        Folder for ``checkpoint.pt`` (after every epoch, atomic), ``history.csv`` (the CSV log,
        rewritten atomically after every epoch) and ``config.json``.
    resume : bool
        Continue from ``run_dir/checkpoint.pt`` when it exists. The checkpoint's config must equal
        ``config`` in every field but ``epochs``.
    progress : bool
        Show tqdm progress bars.
    epoch_callback : callable, optional
        ``epoch_callback(epoch, metrics)`` after each epoch's evaluation and checkpoint, with
        ``metrics`` keyed ``"<split>_<metric>"``. An exception raised in it propagates.
    initial_weights : dict, optional
        A state dict of the same network to start from (for fine-tuning) instead of the seeded
        initialisation; a resumed checkpoint takes precedence.

    Raises
    ------
    ValueError
        For an invalid config or P-K settings the training set cannot satisfy.
    NonFiniteLossError
        When a training loss is NaN or infinite; the last finished epoch's checkpoint is kept.
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig; got {type(config).__name__}.")
    config.validate()
    _check_dataset("train_set", train_set)
    if val_set is not None:
        _check_dataset("val_set", val_set)
    train_labels = np.asarray(train_set.labels, dtype=np.int64)
    check_config_against_labels(config, train_labels)
    device = resolve_device(device)
    amp_dtype = autocast_dtype(config.precision, device)
    run_path = Path(run_dir) if run_dir is not None else None

    model = initial_model(config, device)
    if initial_weights is not None:
        model.load_state_dict(initial_weights)
    loss_fn = build_loss(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # NOTE: the CUDA, autocast and GradScaler paths are not exercised by the CPU-only tests.
    use_scaler = amp_dtype == torch.float16 and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    sampler = build_sampler(config, train_labels, config.seed, config.batches_per_epoch)
    augment_rng = np.random.default_rng([config.seed, 1]) if config.small_identities == "augment" else None
    loader = DataLoader(
        _IndexedDataset(train_set),
        batch_sampler=sampler,
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(config.seed),
    )
    splits = {"train": _evaluation_view(train_set, config, salt=2)}
    if val_set is not None:
        splits["val"] = _evaluation_view(val_set, config, salt=3)
    eval_batches = {name: _evaluation_batches(config, view, salt) for (name, view), salt in zip(splits.items(), (4, 5))}

    records: list[dict[str, Any]] = []
    start_epoch = 1
    if resume and run_path is not None and (run_path / CHECKPOINT_NAME).is_file():
        state = load_checkpoint(run_path / CHECKPOINT_NAME)
        _check_resumable(state, config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if augment_rng is not None and state.get("augment_rng"):
            augment_rng.bit_generator.state = state["augment_rng"]
        # Restoring the global CPU generator makes random transforms of the data sets, which
        # draw from it, repeat the uninterrupted run.
        torch.set_rng_state(state["torch_rng"])
        records = list(state["history"])
        start_epoch = int(state["epoch"]) + 1
        logger.info("resuming %s after epoch %d", run_path, start_epoch - 1)
    elif resume:
        logger.info("no checkpoint in %s; starting a new run", run_path)
    elif run_path is not None and (run_path / CHECKPOINT_NAME).is_file():
        warnings.warn(
            f"run_dir={str(run_path)!r} already holds a checkpoint, which this run overwrites; "
            "pass resume=True to continue it instead.",
            UserWarning,
            stacklevel=2,
        )
    if run_path is not None:
        run_path.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_path / CONFIG_NAME, json.dumps(config.to_dict(), indent=2) + "\n")

    def evaluate_all(epoch: int, extra: dict[str, float]) -> dict[str, float]:
        flat = {}
        for name, view in splits.items():
            row = evaluate(
                model, view, loss_fn, device,
                eval_batches=eval_batches[name],
                batch_size=config.eval_batch_size,
                amp_dtype=amp_dtype,
                num_workers=config.num_workers,
            )
            if name == "train":
                row.update(extra)
            records.append({"epoch": epoch, "split": name, **row})
            flat.update({f"{name}_{key}": value for key, value in row.items()})
        return flat

    if start_epoch == 1 and config.evaluate_initial:
        evaluate_all(0, {"running_loss": math.nan, "running_active_fraction": math.nan, "seconds": 0.0})

    flat: dict[str, float] = _last_metrics(records)
    for epoch in range(start_epoch, config.epochs + 1):
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        running = train_one_epoch(
            model, loader, loss_fn, optimizer, device, epoch,
            scaler=scaler,
            amp_dtype=amp_dtype,
            grad_clip=config.grad_clip,
            augment_rng=augment_rng,
            progress=progress,
        )
        running["seconds"] = time.perf_counter() - started
        flat = evaluate_all(epoch, running)
        logger.info(
            "epoch %d: running loss %.4f, %s", epoch, running["running_loss"],
            ", ".join(f"{key} {value:.4f}" for key, value in flat.items() if key.endswith("rank_1")),
        )
        if run_path is not None:
            state = {
                "format": CHECKPOINT_FORMAT,
                "epoch": epoch,
                "config": config.to_dict(),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else {},
                "augment_rng": _numpy_state(augment_rng) if augment_rng is not None else {},
                "torch_rng": torch.get_rng_state(),
                "history": records,
            }
            save_checkpoint(run_path / CHECKPOINT_NAME, state)
            _write_history(run_path / HISTORY_NAME, records)
        if epoch_callback is not None:
            epoch_callback(epoch, dict(flat))

    model.eval()
    history = _history_frame(records)
    if run_path is not None:
        _write_history(run_path / HISTORY_NAME, records)
    return RunResult(history=history, model=model, final_metrics=flat, config=config, run_dir=run_path)


def _evaluation_view(dataset: Dataset, config: TrainConfig, salt: int) -> Dataset:
    size = len(dataset)
    if config.eval_sample_size is None or config.eval_sample_size >= size:
        return dataset
    rng = np.random.default_rng([config.seed, salt])
    indices = np.sort(rng.choice(size, size=config.eval_sample_size, replace=False))
    return dataset.subset(indices)


def _evaluation_batches(config: TrainConfig, dataset: Dataset, salt: int) -> list[list[int]]:
    """Fixed P-K batches over ``dataset`` (same every epoch), or none when P-K cannot be drawn."""
    if config.eval_batches == 0:
        return []
    labels = np.asarray(dataset.labels, dtype=np.int64)
    _, counts = np.unique(labels, return_counts=True)
    usable = int(np.sum(counts >= 2))
    P = min(config.P, usable)
    K = min(config.K, int(counts.max()))
    if P < 2 or K < 2:
        logger.info("no evaluation P-K batches: only %d identities with two or more images", usable)
        return []
    from tfg_lib.aifr.sampling import PKSampler

    sampler = PKSampler(
        labels, P=P, K=K, small_identities="repeat",
        batches_per_epoch=config.eval_batches, seed=config.seed * 1000 + salt,
    )
    sampler.set_epoch(0)
    return [list(map(int, batch)) for batch in sampler]


def _check_resumable(state: dict[str, Any], config: TrainConfig) -> None:
    saved = dict(state["config"])
    current = config.to_dict()
    saved.pop("epochs", None)
    current.pop("epochs", None)
    different = sorted(key for key in current if saved.get(key) != current[key])
    if different:
        raise ValueError(
            f"the checkpoint was written with other settings ({', '.join(different)} differ); "
            "resume with the same TrainConfig or pass resume=False to start over."
        )


def _check_dataset(name: str, dataset: Any) -> None:
    if not hasattr(dataset, "labels") or not hasattr(dataset, "__getitem__"):
        raise TypeError(
            f"{name} must be a data set with items (image, identity, age) and a labels array; "
            f"got {type(dataset).__name__}."
        )
    if not hasattr(dataset, "subset"):
        raise TypeError(f"{name} must offer subset(indices); got {type(dataset).__name__}.")


def _history_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["epoch", "split", *METRIC_NAMES, "running_loss", "running_active_fraction", "seconds"]
    frame = pd.DataFrame.from_records(records)
    for column in columns:
        if column not in frame:
            frame[column] = math.nan
    return frame[columns]


def _write_history(path: Path, records: list[dict[str, Any]]) -> None:
    with atomic_path(path) as temporary:
        _history_frame(records).to_csv(temporary, index=False)


def _last_metrics(records: list[dict[str, Any]]) -> dict[str, float]:
    if not records:
        return {}
    last_epoch = records[-1]["epoch"]
    flat = {}
    for record in records:
        if record["epoch"] == last_epoch:
            flat.update({f"{record['split']}_{key}": value for key, value in record.items() if key not in ("epoch", "split")})
    return flat


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is invalid; use one of {', '.join(map(repr, allowed))}.")


def _check_int(name: str, value: Any, minimum: int, reason: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        because = f" because {reason}" if reason else ""
        raise ValueError(f"{name}={value!r} is invalid; use an integer of at least {minimum}{because}.")


def _check_float(name: str, value: Any, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not math.isfinite(value):
        raise ValueError(f"{name}={value!r} is invalid; use a finite number.")
    if positive and value <= 0:
        raise ValueError(f"{name}={value!r} is invalid; use a number greater than 0.")
    if not positive and value < 0:
        raise ValueError(f"{name}={value!r} is invalid; use a number of at least 0.")
