"""FG-NET: 1,002 photos of 82 subjects aged 0-69, files named like ``001A02.JPG``.

``001A02.JPG`` is subject 001 at age 2. A trailing letter (``001A02a.JPG``) marks a further photo
at the same age. Extensions appear in either case (``.JPG``, ``.jpg``).
"""

from __future__ import annotations

import re
from pathlib import Path

from tfg_lib.aifr.datasets.base import Transform
from tfg_lib.aifr.datasets.folder import FolderDataset
from tfg_lib.aifr.datasets.transforms import face_transform

FGNET_PATTERN = re.compile(r"^(\d+)a(\d+)([a-z]?)\.jpe?g$", re.IGNORECASE)


class FGNET(FolderDataset):
    """FG-NET read from its ``images`` folder; names are the subject numbers padded to 3 digits.

    Parameters are those of :class:`~tfg_lib.aifr.datasets.cacd.CACD`; ``root`` is the folder of
    images or the ``FGNET`` folder that contains ``images/``.
    """

    dataset_name = "FG-NET"
    layout = (
        "JPEG files named SSSAaa.JPG, subject SSS at age aa with an optional trailing letter "
        "(for example 001A02.JPG, 001A02a.JPG), inside root or inside root/images/."
    )
    # NOTE: the FG-NET mirror address was not checked from this machine (no internet access).
    download = (
        "FGNET.zip, for example from https://yanweifu.github.io/FG_NET_data/ (the original "
        "FG-NET site is offline), then extract it with unzip."
    )
    max_depth = 0

    def locate(self, root: Path) -> Path:
        """Descend into ``root/images`` when the user passed the ``FGNET`` folder."""
        inner = root / "images"
        return inner if inner.is_dir() else root

    @staticmethod
    def parse(relative_path: str) -> tuple[str, float] | None:
        """Parse ``SSSAaa[x].JPG`` into (subject as 3 digits, age); None for any other name."""
        match = FGNET_PATTERN.match(relative_path)
        if match is None:
            return None
        return f"{int(match.group(1)):03d}", float(match.group(2))

    def default_transform(self) -> Transform:
        """Return :func:`~tfg_lib.aifr.datasets.transforms.face_transform` with its defaults."""
        return face_transform()
