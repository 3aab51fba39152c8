"""CACD2000, the Cross-Age Celebrity Dataset: about 163,000 photos of 2,000 celebrities aged 14-62.

Files sit in one folder and are named ``AGE_Name_NNNN.jpg``: the first token is the age in
years, the last the photo number, and everything between is the name, which can have several
parts, hyphens and apostrophes (``53_Robin_Williams_0001.jpg``, ``23_Jean-Claude_O'Neil_0003.jpg``).
"""

from __future__ import annotations

import re
from pathlib import Path

from tfg_lib.aifr.datasets.base import Transform
from tfg_lib.aifr.datasets.folder import FolderDataset
from tfg_lib.aifr.datasets.transforms import face_transform

CACD_PATTERN = re.compile(r"^(\d{1,3})_(.+)_(\d+)\.jpe?g$", re.IGNORECASE)


class CACD(FolderDataset):
    """CACD2000 read from its folder of JPEG files; identity ids follow sorted names.

    Parameters
    ----------
    root : str or path
        The ``CACD2000`` folder of the archive, or the folder that contains it.
    transform : callable, optional
        PIL image -> tensor; defaults to :func:`~tfg_lib.aifr.datasets.transforms.face_transform`
        (224x224 RGB, ImageNet normalisation).
    check_images : bool
        Skip zero-byte and truncated files at scan time (reads 16 bytes and the last KiB of each).
    index_dir : str or path, optional
        Folder of the scan cache; defaults to ``$TFG_DATA_INDEX_DIR`` or
        ``~/.cache/tfg_lib/dataset_index``.
    use_index : bool
        Read and write the scan cache.
    progress : bool
        Show a progress bar while scanning.

    Raises
    ------
    FileNotFoundError
        If ``root`` is missing, empty or contains no file named in the CACD layout.
    """

    dataset_name = "CACD2000"
    layout = (
        "JPEG files named AGE_Name_NNNN.jpg (for example 53_Robin_Williams_0001.jpg) directly "
        "inside root or inside root/CACD2000/."
    )
    download = (
        "CACD2000.tar.gz from the CACD project page https://bcsiriuschen.github.io/CARC/, "
        "then extract it with tar -xzf."
    )
    max_depth = 0

    def locate(self, root: Path) -> Path:
        """Descend into ``root/CACD2000`` when the user passed the folder above it."""
        inner = root / "CACD2000"
        return inner if inner.is_dir() else root

    @staticmethod
    def parse(relative_path: str) -> tuple[str, float] | None:
        """Parse ``AGE_Name_NNNN.jpg`` into (name, age); None for any other name."""
        match = CACD_PATTERN.match(relative_path)
        if match is None:
            return None
        return match.group(2), float(match.group(1))

    def default_transform(self) -> Transform:
        """Return :func:`~tfg_lib.aifr.datasets.transforms.face_transform` with its defaults."""
        return face_transform()
