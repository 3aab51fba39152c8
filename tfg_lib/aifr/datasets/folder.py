"""Scan an image folder into a sample table, count bad files, and cache the scan in an index.

A scan lists the files under a root and parses identity name and age from each relative path
with the data set's parser. It then checks each matching file cheaply, without decoding it. A
zero-byte file, a JPEG without its start marker or without its end marker (FF D9) in the last
KiB, a PNG without its IEND chunk, and any other file that PIL cannot identify count as
unreadable and are skipped. Names that do not parse are counted and skipped as well. Both
counts are reported once per construction through a :class:`DatasetFileWarning` that lists the
first few paths.

The scan is cached in a JSON index keyed on the sorted relative file names and the modification
times of the folders, so a second open of a large folder only lists names.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from tfg_lib.aifr.datasets.base import (
    FaceDatasetBase,
    Transform,
    make_samples,
    missing_data_error,
    sample_sort_key,
)

logger = logging.getLogger(__name__)

INDEX_FORMAT = 2
INDEX_DIR_VARIABLE = "TFG_DATA_INDEX_DIR"
REPORTED_PATHS = 5
TAIL_BYTES = 1024

Parser = Callable[[str], "tuple[str, float] | None"]


class DatasetFileWarning(UserWarning):
    """Files of a data set folder were skipped: names off the layout or unreadable images."""


@dataclass
class FolderScan:
    """Result of scanning a folder: the parsed files and the skipped ones (relative paths)."""

    paths: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    ages: list[float] = field(default_factory=list)
    bad_names: list[str] = field(default_factory=list)
    bad_images: list[str] = field(default_factory=list)


def default_index_dir() -> Path:
    """Return the index folder: ``$TFG_DATA_INDEX_DIR`` or ``~/.cache/tfg_lib/dataset_index``."""
    configured = os.environ.get(INDEX_DIR_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "tfg_lib" / "dataset_index"


def list_files(root: Path, max_depth: int) -> tuple[list[str], list[int]]:
    """List relative file paths under ``root`` down to ``max_depth`` folder levels, sorted.

    Hidden entries (names starting with a dot) are ignored. Returns the paths with ``/`` as the
    separator, and the modification times in nanoseconds of every folder visited.
    """
    files: list[str] = []
    folder_times: list[int] = []
    pending = [(root, "", 0)]
    while pending:
        folder, prefix, depth = pending.pop()
        folder_times.append(os.stat(folder).st_mtime_ns)
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                relative = prefix + entry.name
                if entry.is_dir():
                    if depth < max_depth:
                        pending.append((Path(entry.path), relative + "/", depth + 1))
                else:
                    files.append(relative)
    files.sort()
    return files, folder_times


def image_is_readable(path: Path) -> bool:
    """Check an image file without decoding its pixels; see the module docstring for the rules."""
    try:
        size = path.stat().st_size
        if size == 0:
            return False
        with open(path, "rb") as handle:
            head = handle.read(16)
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return False
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" in tail
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail
    try:
        with Image.open(path) as image:
            image.verify()
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return False
    return True


# NOTE: the key covers file names and folder modification times only, so a file rewritten in
# place under the same name keeps its cached entry. Open with use_index=False after such edits.
def _index_key(dataset_name: str, parser_version: str, files: list[str], folder_times: list[int]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{INDEX_FORMAT}|{dataset_name}|{parser_version}\n".encode())
    digest.update("\n".join(files).encode("utf-8", "surrogateescape"))
    digest.update(repr(sorted(folder_times)).encode())
    return digest.hexdigest()


def _index_path(index_dir: Path, dataset_name: str, root: Path) -> Path:
    root_digest = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogateescape")).hexdigest()
    slug = "".join(char for char in dataset_name.lower() if char.isalnum())
    return index_dir / f"{slug}-{root_digest[:16]}.json"


def _read_index(path: Path, key: str) -> FolderScan | None:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("key") != key:
        return None
    try:
        ages = [math.nan if age is None else float(age) for age in content["ages"]]
        return FolderScan(
            list(content["paths"]), list(content["names"]), ages,
            list(content["bad_names"]), list(content["bad_images"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _write_index(path: Path, key: str, root: Path, scan: FolderScan) -> None:
    from tfg_lib.figures import write_text_atomic

    content = {
        "format": INDEX_FORMAT,
        "key": key,
        "root": str(root.resolve()),
        "paths": scan.paths,
        "names": scan.names,
        "ages": [None if math.isnan(age) else age for age in scan.ages],
        "bad_names": scan.bad_names,
        "bad_images": scan.bad_images,
    }
    try:
        write_text_atomic(path, json.dumps(content, separators=(",", ":")))
    except OSError as error:
        logger.warning("could not write the dataset index %s (%s); the next open rescans", path, error)


def scan_folder(
    root: Path,
    dataset_name: str,
    parse: Parser,
    max_depth: int,
    parser_version: str = "1",
    check_images: bool = True,
    index_dir: Path | None = None,
    use_index: bool = True,
    progress: bool = False,
) -> FolderScan:
    """List, parse and check the files under ``root``, reusing a cached index when it matches."""
    files, folder_times = list_files(root, max_depth)
    key = _index_key(dataset_name, f"{parser_version}|check={check_images}", files, folder_times)
    index_path = _index_path(index_dir or default_index_dir(), dataset_name, root)
    if use_index:
        cached = _read_index(index_path, key)
        if cached is not None:
            logger.info("read the %s index %s (%d images)", dataset_name, index_path, len(cached.paths))
            return cached

    from tqdm.auto import tqdm

    scan = FolderScan()
    for relative in tqdm(files, desc=f"scanning {dataset_name}", unit="file", disable=not progress):
        parsed = parse(relative)
        if parsed is None:
            scan.bad_names.append(relative)
            continue
        if check_images and not image_is_readable(root / relative):
            scan.bad_images.append(relative)
            continue
        name, age = parsed
        scan.paths.append(relative)
        scan.names.append(name)
        scan.ages.append(float(age))
    # Store the rows in sample order, so that reading the index needs no sort.
    order = sorted(range(len(scan.paths)),
                   key=lambda row: sample_sort_key(scan.paths[row], scan.names[row], scan.ages[row]))
    scan.paths = [scan.paths[row] for row in order]
    scan.names = [scan.names[row] for row in order]
    scan.ages = [scan.ages[row] for row in order]
    if use_index:
        _write_index(index_path, key, root, scan)
    return scan


def _stacklevel_outside_package() -> int:
    """Return the ``warnings.warn`` stacklevel of the first caller outside this sub-package."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package_dir):
        frame, level = frame.f_back, level + 1
    return level


def report_skipped(dataset_name: str, root: Path, scan: FolderScan) -> None:
    """Warn once about names off the layout and once about unreadable images."""
    stacklevel = _stacklevel_outside_package()
    for paths, what in (
        (scan.bad_names, "file names do not match the layout and were skipped"),
        (scan.bad_images, "images are empty or corrupt and were skipped"),
    ):
        if paths:
            shown = ", ".join(paths[:REPORTED_PATHS]) + (", ..." if len(paths) > REPORTED_PATHS else "")
            warnings.warn(
                f"{dataset_name}: {len(paths)} {what} under {str(root)!r}: {shown}",
                DatasetFileWarning,
                stacklevel=stacklevel,
            )


class FolderDataset(FaceDatasetBase):
    """A data set read from image files whose relative paths encode identity and age.

    Subclasses set ``dataset_name``, ``layout``, ``download``, ``max_depth`` and implement
    :meth:`parse`; they may override :meth:`locate` to accept the parent of the image folder.

    Attributes
    ----------
    root : Path
        The folder the images were read from (after :meth:`locate`).
    bad_names, bad_images : list of str
        Relative paths skipped because the name does not parse or the file is unreadable.
    """

    layout = ""
    download = ""
    max_depth = 0
    parser_version = "1"

    def __init__(
        self,
        root: str | os.PathLike[str],
        transform: Transform | None = None,
        check_images: bool = True,
        index_dir: str | os.PathLike[str] | None = None,
        use_index: bool = True,
        progress: bool = True,
    ) -> None:
        super().__init__(transform)
        for name, value in (("check_images", check_images), ("use_index", use_index), ("progress", progress)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be a bool; got {value!r}.")
        if not isinstance(root, (str, os.PathLike)) or str(root) == "":
            raise missing_data_error(self.dataset_name, root, self.layout, self.download, "was not given")
        requested = Path(root).expanduser()
        if not requested.is_dir():
            raise missing_data_error(self.dataset_name, requested, self.layout, self.download)
        self.root = self.locate(requested)

        scan = scan_folder(
            self.root, self.dataset_name, self.parse, self.max_depth, self.parser_version,
            check_images, None if index_dir is None else Path(index_dir).expanduser(),
            use_index, progress,
        )
        if not scan.paths:
            problem = "is empty" if not (scan.bad_names or scan.bad_images) else (
                f"holds no usable image ({len(scan.bad_names)} names off the layout, "
                f"{len(scan.bad_images)} unreadable images)"
            )
            raise missing_data_error(self.dataset_name, self.root, self.layout, self.download, problem)
        self.bad_names = scan.bad_names
        self.bad_images = scan.bad_images
        report_skipped(self.dataset_name, self.root, scan)

        prefix = str(self.root) + "/"
        paths = [prefix + relative for relative in scan.paths]
        self._samples = make_samples(paths, scan.names, scan.ages, presorted=True)
        logger.info(
            "%s: %d images of %d identities from %s", self.dataset_name, len(self),
            self.num_identities, self.root,
        )

    def locate(self, root: Path) -> Path:
        """Return the folder that contains the images, given the folder the user passed."""
        return root

    @staticmethod
    def parse(relative_path: str) -> tuple[str, float] | None:
        """Return (identity name, age) for a relative path, or None if it is off the layout."""
        raise NotImplementedError

    def load_image(self, index: int) -> Image.Image:
        """Decode image ``index`` as RGB; raise ``OSError`` naming the file if decoding fails."""
        path = self._samples["path"].iat[index]
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except (OSError, UnidentifiedImageError) as error:
            raise OSError(
                f"{self.dataset_name}: could not decode {path!r} ({error}); the cheap check at "
                "scan time passed it, so the file is damaged inside. Remove or replace the file."
            ) from error

