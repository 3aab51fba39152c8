"""Benchmark one training step of the ConvAC networks, log-space pooling against direct products.

Run from the repository root::

    .venv/bin/python benchmarks/expressivity_convac.py            # markdown table on stdout
    .venv/bin/python benchmarks/expressivity_convac.py --threads 2

A step is forward, mean squared error against zeros, backward and one Adam update, on a batch of
random N(0, I) patches. "direct" evaluates the same shallow network with a plain ``torch.prod``
in linear space, which is the computation that log-space pooling replaces. The column "finite"
reports whether the float32 scores stayed finite. Times are the median of the repeats.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from tfg_lib.expressivity.networks import DeepConvAC, ShallowConvAC

PATCH_DIM, FUNCTIONS, COMPONENTS, RANK, BATCH = 4, 8, 16, 4, 256


def direct_shallow_scores(network: ShallowConvAC, patches: torch.Tensor) -> torch.Tensor:
    features = network.representation(patches)  # (B, N, M)
    channels = torch.einsum("bim,izm->biz", features, network.conv_weight)
    return channels.prod(dim=1) @ network.dense_weight.T


def step_time(network: torch.nn.Module, patches: torch.Tensor, score, repeats: int) -> tuple[float, bool]:
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    times = []
    finite = True
    for _ in range(repeats + 2):  # the first two are warm-up
        start = time.perf_counter()
        scores = score(network, patches)
        loss = scores.square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
        finite = finite and bool(torch.isfinite(scores).all())
    return statistics.median(times[2:]), finite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--repeats", type=int, default=30, help="measured steps per case (default 30)")
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)

    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{arguments.threads} thread(s), batch {BATCH}, s={PATCH_DIM}, M={FUNCTIONS}, Z={COMPONENTS}, r={RANK}")
    print("| N | network | pooling | ms per step | finite |")
    print("|---|---|---|---|---|")
    for num_patches in (4, 16, 64):
        generator = torch.Generator().manual_seed(0)
        patches = torch.randn(BATCH, num_patches, PATCH_DIM, generator=generator)
        cases = [
            ("shallow", "log space", ShallowConvAC(num_patches, PATCH_DIM, FUNCTIONS, COMPONENTS, generator=generator),
             lambda network, x: network(x)),
            ("shallow", "direct", ShallowConvAC(num_patches, PATCH_DIM, FUNCTIONS, COMPONENTS, generator=generator),
             direct_shallow_scores),
            ("deep", "log space", DeepConvAC(num_patches, PATCH_DIM, FUNCTIONS, RANK, generator=generator),
             lambda network, x: network(x)),
        ]
        for name, pooling, network, score in cases:
            seconds, finite = step_time(network, patches, score, arguments.repeats)
            print(f"| {num_patches} | {name} | {pooling} | {1e3 * seconds:.2f} | {'yes' if finite else 'no'} |")


if __name__ == "__main__":
    main()
