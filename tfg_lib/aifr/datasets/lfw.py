"""LFW, Labeled Faces in the Wild: 13,233 photos of 5,749 people, one folder per person.

``<root>/George_W_Bush/George_W_Bush_0001.jpg``. The plain (``lfw``), funneled (``lfw_funneled``)
and deep-funneled (``lfw-deepfunneled``) archives share this layout. LFW records no ages.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from tfg_lib.aifr.datasets.base import Transform, missing_data_error
from tfg_lib.aifr.datasets.folder import FolderDataset
from tfg_lib.aifr.datasets.transforms import face_transform

logger = logging.getLogger(__name__)

LFW_PATTERN = re.compile(r"^(.+)_(\d+)\.jpe?g$", re.IGNORECASE)
LFW_VARIANTS = {"deepfunneled": "lfw-deepfunneled", "funneled": "lfw_funneled", "plain": "lfw"}


class LFW(FolderDataset):
    """LFW read from its folder of person folders; ages are NaN.

    Parameters
    ----------
    root : str or path
        The folder of person folders, or the folder that contains ``lfw``, ``lfw_funneled`` or
        ``lfw-deepfunneled``.
    variant : {"deepfunneled", "funneled", "plain"} or None
        Which archive to read when ``root`` contains more than one; None takes the only one
        present, preferring deep-funneled, then funneled, then plain.
    **kwargs
        ``transform``, ``check_images``, ``index_dir``, ``use_index``, ``progress`` as for
        :class:`~tfg_lib.aifr.datasets.cacd.CACD`.
    """

    dataset_name = "LFW"
    layout = (
        "one folder per person holding Name_NNNN.jpg files (for example "
        "George_W_Bush/George_W_Bush_0001.jpg), inside root or inside root/lfw, "
        "root/lfw_funneled or root/lfw-deepfunneled."
    )
    download = (
        "lfw.tgz or lfw-deepfunneled.tgz from the LFW page http://vis-www.cs.umass.edu/lfw/, "
        "then extract it with tar -xzf."
    )
    max_depth = 1

    def __init__(self, root: str | os.PathLike[str], variant: str | None = None, **kwargs) -> None:
        if variant is not None and variant not in LFW_VARIANTS:
            raise ValueError(
                f"variant={variant!r} is not an LFW archive; use one of "
                f"{', '.join(map(repr, LFW_VARIANTS))} or None."
            )
        self.variant = variant
        super().__init__(root, **kwargs)

    def locate(self, root: Path) -> Path:
        """Descend into the archive folder of ``variant`` when ``root`` contains it."""
        present = {key: root / folder for key, folder in LFW_VARIANTS.items() if (root / folder).is_dir()}
        if self.variant is not None:
            folder = LFW_VARIANTS[self.variant]
            if self.variant in present:
                return present[self.variant]
            if root.name == folder:
                return root
            raise missing_data_error(
                self.dataset_name, root / folder, self.layout, self.download,
                f"was not found (variant={self.variant!r})",
            )
        if len(present) > 1:
            logger.info("LFW: %s contains %s; reading %s", root, sorted(present), next(iter(present)))
        return next(iter(present.values()), root)

    @staticmethod
    def parse(relative_path: str) -> tuple[str, float] | None:
        """Parse ``Name/Name_NNNN.jpg`` into (Name, NaN); None if the file and folder disagree."""
        parts = relative_path.split("/")
        if len(parts) != 2:
            return None
        folder, file_name = parts
        match = LFW_PATTERN.match(file_name)
        if match is None or match.group(1) != folder:
            return None
        return folder, float("nan")

    def default_transform(self) -> Transform:
        """Return :func:`~tfg_lib.aifr.datasets.transforms.face_transform` with its defaults."""
        return face_transform()
