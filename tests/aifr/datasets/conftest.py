"""Helpers that write tiny image folders in the real layouts, with generated pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def _write_jpeg(path: Path, seed: int = 0, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels, mode="RGB").save(path, format="JPEG")
    return path


@pytest.fixture
def write_jpeg():
    """Write a small random-noise JPEG at a path (suffix decides nothing: always JPEG bytes)."""
    return _write_jpeg


@pytest.fixture
def write_bad():
    """Write an unreadable file: 'empty' (zero bytes), 'corrupt' (random bytes), 'truncated'."""

    def write(path: Path, kind: str) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "empty":
            path.write_bytes(b"")
        elif kind == "corrupt":
            path.write_bytes(np.random.default_rng(5).integers(0, 256, 300, dtype=np.uint8).tobytes())
        elif kind == "truncated":
            _write_jpeg(path, seed=9, size=96)
            data = path.read_bytes()
            path.write_bytes(data[: len(data) // 2])
        else:
            raise ValueError(kind)
        return path

    return write


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    """A private scan-cache folder, so tests never touch the user's cache."""
    return tmp_path / "index"
