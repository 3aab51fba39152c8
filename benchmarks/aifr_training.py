"""Training throughput of the thesis' MNIST setting, in images per second.

Times :func:`tfg_lib.aifr.training.train_one_epoch` (P-K loading, forward, loss, backward, Adam
step) on the embedded MNIST sample with the light network, Batch Hard with the fix, P=10, K=8
(the quick profile of the MNIST reproduction notebook), embedding dimension 5. Also times the network's forward and backward alone on a random batch, so
the share of data loading and loss is visible. With ``--network resnet18 --device cuda`` it times
the thesis' CACD setting (P=16, K=4, dimension 10) on random 3 x 224 x 224 images.

Run from the repository root:

    .venv/bin/python benchmarks/aifr_training.py
    .venv/bin/python benchmarks/aifr_training.py --network resnet18 --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import numpy as np
import torch

from tfg_lib.aifr.datasets import EmbeddedMNIST
from tfg_lib.aifr.training import (
    TrainConfig,
    _IndexedDataset,
    autocast_dtype,
    build_loss,
    build_sampler,
    initial_model,
    train_one_epoch,
)


class RandomFaces(torch.utils.data.Dataset):
    """Random colour images with P-K-drawable identities, for timing the ResNet setting."""

    def __init__(self, identities: int, per_identity: int, size: int) -> None:
        self.labels = np.repeat(np.arange(identities), per_identity)
        self.size = size

    def __len__(self) -> int:
        return self.labels.size

    def __getitem__(self, index: int):
        generator = torch.Generator().manual_seed(int(index))
        return torch.randn(3, self.size, self.size, generator=generator), int(self.labels[index]), math.nan


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_training(config: TrainConfig, dataset, device: torch.device, batches: int, repeats: int) -> list[float]:
    """Return images per second of ``repeats`` timed epochs of ``batches`` P-K batches each."""
    model = initial_model(config, device)
    loss_fn = build_loss(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    amp_dtype = autocast_dtype(config.precision, device)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    sampler = build_sampler(config, np.asarray(dataset.labels), config.seed, batches)
    loader = torch.utils.data.DataLoader(
        _IndexedDataset(dataset), batch_sampler=sampler, num_workers=config.num_workers,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0),
    )
    rates = []
    for epoch in range(repeats + 1):
        sampler.set_epoch(epoch)
        synchronize(device)
        started = time.perf_counter()
        train_one_epoch(model, loader, loss_fn, optimizer, device, epoch, scaler=scaler,
                        amp_dtype=amp_dtype, progress=False)
        synchronize(device)
        elapsed = time.perf_counter() - started
        if epoch > 0:  # the first epoch warms up allocators and kernels
            rates.append(batches * config.P * config.K / elapsed)
    return rates


def time_network(config: TrainConfig, shape: tuple[int, ...], device: torch.device, steps: int, repeats: int) -> list[float]:
    """Return images per second of forward + backward + Adam on one random batch, no data loading."""
    model = initial_model(config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    amp_dtype = autocast_dtype(config.precision, device)
    images = torch.randn(config.P * config.K, *shape, device=device)
    rates = []
    for repeat in range(repeats + 1):
        synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                output = model(images)
            output.float().pow(2).mean().backward()
            optimizer.step()
        synchronize(device)
        if repeat > 0:
            rates.append(steps * images.shape[0] / (time.perf_counter() - started))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=("light", "resnet18"), default="light")
    parser.add_argument("--device", default="cpu", help="torch device, for example cpu or cuda")
    parser.add_argument("--batches", type=int, default=20, help="P-K batches per timed epoch")
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs after one warm-up epoch")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--P", type=int, default=None, help="identities per batch (default 10 light, 16 resnet18)")
    parser.add_argument("--K", type=int, default=None, help="images per identity (default 8 light, 4 resnet18)")
    arguments = parser.parse_args()
    device = torch.device(arguments.device)

    if arguments.network == "light":
        config = TrainConfig(network="light", embedding_dim=5, P=arguments.P or 10, K=arguments.K or 8,
                             normalize=True, num_workers=arguments.workers)
        dataset = EmbeddedMNIST()
        shape = (1, 28, 28)
    else:
        config = TrainConfig(network="resnet18", embedding_dim=10, P=arguments.P or 16, K=arguments.K or 4,
                             lr=1e-4, normalize=True, small_identities="augment",
                             num_workers=arguments.workers)
        dataset = RandomFaces(identities=64, per_identity=8, size=224)
        shape = (3, 224, 224)

    load_before = os.getloadavg()[0]
    training = time_training(config, dataset, device, arguments.batches, arguments.repeats)
    network = time_network(config, shape, device, arguments.batches, arguments.repeats)
    result = {
        "network": arguments.network,
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "precision": str(autocast_dtype(config.precision, device)),
        "batch": f"P={config.P} K={config.K} ({config.P * config.K} images)",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "training_images_per_s": round(statistics.median(training), 1),
        "training_images_per_s_all": [round(rate, 1) for rate in training],
        "network_only_images_per_s": round(statistics.median(network), 1),
        # Other processes share the CPU; a load average above the core count slows every figure.
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
