"""Time the first and the second open of a CACD-sized folder (scan and check, then the index).

Writes ``--files`` copies of one small JPEG under CACD names (2,000 identities by default) into
a temporary folder, then opens it twice with :class:`tfg_lib.aifr.datasets.CACD`.

    python benchmarks/aifr_dataset_index.py --files 163446
"""

from __future__ import annotations

import argparse
import io
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tfg_lib.aifr.datasets import CACD


def write_folder(root: Path, files: int, identities: int) -> None:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG")
    data = buffer.getvalue()
    for index in range(files):
        identity = index % identities
        age = 14 + (index // identities) % 49
        (root / f"{age}_Person_{identity:04d}_Name_{index:06d}.jpg").write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=163_446, help="number of image files")
    parser.add_argument("--identities", type=int, default=2_000, help="number of people")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "CACD2000"
        root.mkdir()
        start = time.perf_counter()
        write_folder(root, arguments.files, arguments.identities)
        print(f"wrote {arguments.files} files in {time.perf_counter() - start:.1f} s")

        timings = []
        for attempt in ("first open (scan and check)", "second open (index)"):
            start = time.perf_counter()
            dataset = CACD(root, index_dir=Path(folder) / "index", progress=False)
            timings.append(time.perf_counter() - start)
            print(f"{attempt}: {timings[-1]:.2f} s, {len(dataset)} images, {dataset.num_identities} identities")
        print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")


if __name__ == "__main__":
    main()
