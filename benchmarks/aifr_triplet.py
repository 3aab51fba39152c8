"""Benchmark the triplet losses and Rank@k against a brute-force loop and reference libraries.

Run from the repository root::

    .venv/bin/python benchmarks/aifr_triplet.py            # every case, markdown table on stdout
    .venv/bin/python benchmarks/aifr_triplet.py --quick    # smaller sizes, for a smoke run
    .venv/bin/python benchmarks/aifr_triplet.py --threads 1  # torch, faiss and BLAS on one thread

Each case runs in its own subprocess, so its peak resident memory (``ru_maxrss``) is measured
from a clean start: the value reported is the peak during the measured calls minus the peak
before them (inputs already built). Times are medians of several repeats. The Batch Hard
implementations are timed interleaved in one process, round by round.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

BATCH_HARD = dict(P=16, K=8, dim=128)
BATCH_ALL = dict(P=128, K=8, dim=128)
RANK = dict(n=50_000, dim=128, identities=5_000, ks=(1, 5))


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(function, repeats: int) -> tuple[float, float, object]:
    """Return the median wall-clock and CPU seconds (all threads) of ``repeats`` calls, and a result.

    CPU time is the fairer comparison on a machine shared with other jobs: waiting for a core
    adds wall-clock time but no CPU time.
    """
    wall, cpu = [], []
    result = None
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def batch(P, K, dim, seed=0):
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(P * K, dim, generator=generator)
    labels = torch.arange(P).repeat_interleave(K)
    return embeddings, labels


# --------------------------------------------------------------------------------------------
# Loss implementations measured
# --------------------------------------------------------------------------------------------


def brute_batch_hard(x, labels, margin):
    """Batch Hard as a Python loop over anchors with one distance per pair."""
    labels = labels.tolist()
    terms = []
    for a in range(len(labels)):
        positives = [torch.norm(x[a] - x[p]) for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [torch.norm(x[a] - x[n]) for n in range(len(labels)) if labels[n] != labels[a]]
        terms.append(torch.relu(torch.stack(positives).max() - torch.stack(negatives).min() + margin))
    return torch.stack(terms).mean()


def pml_batch_hard():
    from pytorch_metric_learning import distances, losses, miners, reducers

    distance = distances.LpDistance(normalize_embeddings=False)
    loss = losses.TripletMarginLoss(margin=1.0, distance=distance, reducer=reducers.MeanReducer())
    miner = miners.BatchHardMiner(distance=distances.LpDistance(normalize_embeddings=False))
    return lambda x, labels: loss(x, labels, miner(x, labels))


def pml_batch_all():
    from pytorch_metric_learning import distances, losses, reducers

    distance = distances.LpDistance(normalize_embeddings=False)
    loss = losses.TripletMarginLoss(margin=1.0, distance=distance, reducer=reducers.MeanReducer())
    return lambda x, labels: loss(x, labels)


def forward_backward(loss, x, labels):
    x = x.detach().clone().requires_grad_()
    value = loss(x, labels)
    value.backward()
    return float(value.detach())


# --------------------------------------------------------------------------------------------
# Cases, each run in a subprocess
# --------------------------------------------------------------------------------------------


def case_batch_hard(implementation: str, quick: bool) -> dict:
    """Time the three Batch Hard implementations interleaved, round by round.

    A change in the load of the machine then affects all of them alike. ``implementation`` is
    ignored.
    """
    from tfg_lib.aifr.losses import BatchHardTripletLoss

    x, labels = batch(**BATCH_HARD)
    losses = {
        "ours": BatchHardTripletLoss(margin=1.0),
        "pml": pml_batch_hard(),
        "brute_force": lambda e, y: brute_batch_hard(e, y, 1.0),
    }
    rounds = 3 if quick else 10
    repeats = {"ours": 20, "pml": 20, "brute_force": 1}
    wall = {name: [] for name in losses}
    cpu = {name: [] for name in losses}
    values = {name: forward_backward(loss, x, labels) for name, loss in losses.items()}  # warm-up
    for _ in range(rounds):
        for name, loss in losses.items():
            wall_seconds, cpu_seconds, _ = timed(lambda: forward_backward(loss, x, labels), repeats[name])
            wall[name].append(wall_seconds)
            cpu[name].append(cpu_seconds)
    return {
        name: dict(
            seconds=statistics.median(wall[name]),
            cpu_seconds=statistics.median(cpu[name]),
            value=values[name],
            peak_mib=float("nan"),
        )
        for name in losses
    }


def case_batch_all(implementation: str, quick: bool) -> dict:
    from tfg_lib.aifr.losses import BatchAllTripletLoss

    sizes = dict(BATCH_ALL, P=32) if quick else BATCH_ALL
    x, labels = batch(**sizes)
    loss = {"ours": BatchAllTripletLoss(margin=1.0), "pml": pml_batch_all()}[implementation]
    baseline = peak_rss_mib()
    seconds, cpu_seconds, value = timed(lambda: forward_backward(loss, x, labels), 3)
    batch_size = sizes["P"] * sizes["K"]
    return dict(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        value=value,
        peak_mib=peak_rss_mib() - baseline,
        batch_size=batch_size,
        dense_cube_mib=batch_size**3 * 4 / 2**20,
    )


def rank_data(quick: bool):
    sizes = dict(RANK, n=5_000, identities=500) if quick else RANK
    rng = np.random.default_rng(0)
    labels = rng.permutation(np.arange(sizes["n"]) % sizes["identities"])
    centres = rng.normal(size=(sizes["identities"], sizes["dim"])).astype(np.float32)
    embeddings = centres[labels] + 1.2 * rng.normal(size=(sizes["n"], sizes["dim"])).astype(np.float32)
    return embeddings, labels, sizes["ks"]


def hits_from_neighbours(neighbours, labels, ks):
    # neighbours excludes the query; returns {k: Rank@k}.
    positive = labels[neighbours] == labels[:, None]
    return {k: float(positive[:, :k].any(axis=1).mean()) for k in ks}


def case_rank(implementation: str, quick: bool) -> dict:
    x, labels, ks = rank_data(quick)
    k_max = max(ks)
    baseline = peak_rss_mib()

    def drop_query(index):
        not_self = index != np.arange(len(x))[:, None]
        order = np.argsort(~not_self, axis=1, kind="stable")[:, :k_max]
        return np.take_along_axis(index, order, axis=1)

    if implementation in ("ours", "ours_torch"):
        from tfg_lib.aifr.metrics import retrieval_ranks

        backend = "auto" if implementation == "ours" else "torch"
        seconds, cpu_seconds, ranks = timed(lambda: retrieval_ranks(x, labels, ks, backend=backend), 1)
    elif implementation == "faiss":
        import faiss

        def run():
            index = faiss.IndexFlatL2(x.shape[1])
            index.add(x)
            _, neighbours = index.search(x, k_max + 1)
            return hits_from_neighbours(drop_query(neighbours), labels, ks)

        seconds, cpu_seconds, ranks = timed(run, 1)
    else:
        from sklearn.neighbors import NearestNeighbors

        def run():
            model = NearestNeighbors(n_neighbors=k_max + 1, algorithm="brute").fit(x)
            _, neighbours = model.kneighbors(x)
            return hits_from_neighbours(drop_query(neighbours), labels, ks)

        seconds, cpu_seconds, ranks = timed(run, 1)
    return dict(
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        ranks={str(k): v for k, v in ranks.items()},
        peak_mib=peak_rss_mib() - baseline,
    )


CASES = {"batch_hard": case_batch_hard, "batch_all": case_batch_all, "rank": case_rank}
PLAN = [
    ("batch_hard", "all"),
    ("batch_all", "ours"),
    ("batch_all", "pml"),
    ("rank", "faiss"),
    ("rank", "ours"),
    ("rank", "sklearn"),
    ("rank", "ours_torch"),
]


def limit_threads(threads: int) -> None:
    """Use ``threads`` threads in torch, faiss and the BLAS behind numpy and scikit-learn."""
    import faiss
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    threadpool_limits(threads)


def run_in_subprocess(case: str, implementation: str, quick: bool, threads: int | None) -> dict:
    command = [sys.executable, __file__, "--case", case, "--implementation", implementation]
    if quick:
        command.append("--quick")
    if threads:
        command += ["--threads", str(threads)]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def report(results: dict, quick: bool, threads: int | None, load: tuple) -> str:
    options = " --quick" if quick else ""
    if threads:
        options += f" --threads {threads}"
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {threads or torch.get_num_threads()} threads, "
        f"python {platform.python_version()}, torch {torch.__version__}; "
        f"load average before / after: {load[0]:.1f} / {load[1]:.1f}",
        f"Command: `.venv/bin/python benchmarks/aifr_triplet.py{options}`",
        "",
        "| case | implementation | wall-clock (s) | CPU time (s) | peak RSS increase (MiB) | result |",
        "|---|---|---|---|---|---|",
    ]
    for (case, implementation), result in results.items():
        loss_or_ranks = result.get("value", result.get("ranks"))
        peak = "-" if result["peak_mib"] != result["peak_mib"] else f"{result['peak_mib']:.0f}"
        lines.append(
            f"| {case} | {implementation} | {result['seconds']:.4f} | {result['cpu_seconds']:.4f} | {peak} | {loss_or_ranks} |"
        )
    hard = {impl: r for (case, impl), r in results.items() if case == "batch_hard"}
    rank = {impl: r for (case, impl), r in results.items() if case == "rank"}
    def ratio(table, slow, fast, key):
        return table[slow][key] / table[fast][key]

    lines += [
        "",
        "Ratios as wall-clock / CPU time:",
        "",
        f"- Batch Hard (P={BATCH_HARD['P']}, K={BATCH_HARD['K']}, d={BATCH_HARD['dim']}), forward + backward: "
        f"brute force / ours = {ratio(hard, 'brute_force', 'ours', 'seconds'):.0f}x / "
        f"{ratio(hard, 'brute_force', 'ours', 'cpu_seconds'):.0f}x, "
        f"pytorch-metric-learning / ours = {ratio(hard, 'pml', 'ours', 'seconds'):.2f}x / "
        f"{ratio(hard, 'pml', 'ours', 'cpu_seconds'):.2f}x.",
        f"- Rank@k: ours / faiss = {ratio(rank, 'ours', 'faiss', 'seconds'):.2f}x / "
        f"{ratio(rank, 'ours', 'faiss', 'cpu_seconds'):.2f}x, "
        f"torch fallback / faiss = {ratio(rank, 'ours_torch', 'faiss', 'seconds'):.2f}x / "
        f"{ratio(rank, 'ours_torch', 'faiss', 'cpu_seconds'):.2f}x, "
        f"scikit-learn / faiss = {ratio(rank, 'sklearn', 'faiss', 'seconds'):.2f}x / "
        f"{ratio(rank, 'sklearn', 'faiss', 'cpu_seconds'):.2f}x; "
        f"same answers: {len({json.dumps(r['ranks']) for r in rank.values()}) == 1}.",
    ]
    batch_all = {impl: r for (case, impl), r in results.items() if case == "batch_all"}
    lines.append(
        f"- Batch All at B={batch_all['ours']['batch_size']}: peak RSS increase "
        f"{batch_all['ours']['peak_mib']:.0f} MiB for ours against {batch_all['ours']['dense_cube_mib']:.0f} MiB "
        "for one dense float32 B x B x B tensor."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--threads", type=int, help="threads for torch, faiss and BLAS (default: their own)")
    parser.add_argument("--case", choices=sorted(CASES), help="run one case in this process (internal)")
    parser.add_argument("--implementation", help="implementation of --case (internal)")
    arguments = parser.parse_args()

    if arguments.case:
        if arguments.threads:
            limit_threads(arguments.threads)
        print(json.dumps(CASES[arguments.case](arguments.implementation, arguments.quick)))
        return

    results = {}
    load_before = os.getloadavg()[0]
    for case, implementation in PLAN:
        result = run_in_subprocess(case, implementation, arguments.quick, arguments.threads)
        print(f"{case} {implementation}: {result}", file=sys.stderr)
        if implementation == "all":
            results.update({(case, name): value for name, value in result.items()})
        else:
            results[(case, implementation)] = result
    print(report(results, arguments.quick, arguments.threads, (load_before, os.getloadavg()[0])))


if __name__ == "__main__":
    main()
