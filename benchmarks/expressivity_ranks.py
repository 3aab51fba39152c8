"""Benchmark the structured rank of [A] against the dense SVD, and the certified paths.

Run from the repository root::

    .venv/bin/python benchmarks/expressivity_ranks.py           # default cases, markdown on stdout
    .venv/bin/python benchmarks/expressivity_ranks.py --large   # add the 6561-sided N = 16 cases

For each (N, M, r_0) one random HT model with standard normal entries (ranks all r_0) is
measured by every path whose matrix fits the limits. The paths: dense (build A, matricize,
float64 SVD), structured (core of side min(r_0, M)^(N/2), float64 SVD), certified (dense
matricization modulo 2^31 - 1) and certified structured (core modulo 2^31 - 1). Times are the median of ``--repeats`` runs;
memory is the peak of Python-tracked allocations (``tracemalloc``, which tracks numpy arrays but
not LAPACK's workspace).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from tfg_lib.expressivity import certified_rank, dense_rank, random_ht_model, structured_rank

CASES = [
    (4, 8, 2), (8, 2, 2), (8, 3, 2), (8, 4, 2), (8, 8, 2), (8, 3, 3),
    (16, 2, 2), (16, 3, 2), (16, 100, 2), (8, 100, 3),
]
LARGE_CASES = [(16, 3, 3), (16, 100, 3)]


def measure(function, repeats: int) -> tuple[float, float, object]:
    """Return (median seconds, peak MiB of the first run, result)."""
    tracemalloc.start()
    result = function()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per path (median)")
    parser.add_argument("--max-dense-side", type=int, default=729,
                        help="skip the dense paths where M^(N/2) exceeds this")
    parser.add_argument("--max-core-side", type=int, default=729,
                        help="skip the structured paths where min(r_0, M)^(N/2) exceeds this")
    parser.add_argument("--large", action="store_true",
                        help="add the 6561-sided cases (N=16, r_0=3): dense and core SVDs and "
                             "ranks modulo p of 6561 x 6561 matrices, minutes each")
    args = parser.parse_args()
    cases = CASES + (LARGE_CASES if args.large else [])
    max_dense = max(args.max_dense_side, 6561) if args.large else args.max_dense_side
    max_core = max(args.max_core_side, 6561) if args.large else args.max_core_side

    print(f"<!-- {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"numpy {np.__version__}, python {platform.python_version()} -->")
    print("| N | M | r_0 | side of [A] | side of core | path | rank | trustworthy | median s | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for N, M, r0 in cases:
        model = random_ht_model(N, M, (r0,) * (N.bit_length() - 1), seed=0)
        dense_side = M ** (N // 2)
        core_side = min(r0, M) ** (N // 2)
        paths = {}
        if dense_side <= max_dense:
            paths["dense"] = lambda: dense_rank(model)
            paths["certified"] = lambda: certified_rank(model)
        if core_side <= max_core:
            paths["structured"] = lambda: structured_rank(model)
            paths["certified structured"] = lambda: certified_rank(model, structured=True)
        repeats = 1 if max(dense_side, core_side) > 1000 else args.repeats
        for name, function in paths.items():
            seconds, peak, result = measure(function, repeats)
            if hasattr(result, "trustworthy"):
                trust = "yes" if result.trustworthy else "no"
            else:
                trust = "exact" if result.exact else "lower bound"
            print(f"| {N} | {M} | {r0} | {dense_side} | {core_side} | {name} | {result.rank} | "
                  f"{trust} | {seconds:.3g} | {peak:.3g} |", flush=True)


if __name__ == "__main__":
    main()
