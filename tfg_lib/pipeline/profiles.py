"""Profiles: named sets of parameter values per notebook, read from ``notebooks/profiles.yaml``.

The file maps a profile name to notebooks (paths relative to ``notebooks/``) and each notebook
to the parameter values that differ from the notebook's own defaults::

    quick:
      mnist_overview.ipynb: {}
    full:
      aifr/mnist_reproduction.ipynb:
        epochs: 20
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROFILES_FILE = "profiles.yaml"


class ProfileError(ValueError):
    """An unknown profile, or a profiles file that does not have the expected shape."""


def load_profiles(notebooks_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and shape-check the profiles file of ``notebooks_dir``."""
    path = Path(notebooks_dir) / PROFILES_FILE
    if not path.is_file():
        raise ProfileError(f"profiles file {path} not found; create it with at least 'quick: {{}}'.")
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict):
        raise ProfileError(f"{path}: the top level must map profile names to notebooks.")
    profiles: dict[str, dict[str, dict[str, Any]]] = {}
    for profile, notebooks in content.items():
        notebooks = notebooks or {}
        if not isinstance(notebooks, dict):
            raise ProfileError(f"{path}: profile {profile!r} must map notebook paths to parameters.")
        for notebook, values in notebooks.items():
            if values is not None and not isinstance(values, dict):
                raise ProfileError(
                    f"{path}: profile {profile!r}, notebook {notebook!r}: expected a mapping of "
                    f"parameter names to values, got {values!r}."
                )
        profiles[str(profile)] = {str(name): dict(values or {}) for name, values in notebooks.items()}
    return profiles


def profile_values(
    profiles: dict[str, dict[str, dict[str, Any]]], profile: str, notebook_key: str
) -> dict[str, Any]:
    """Return the values ``profile`` sets for the notebook at ``notebook_key``."""
    if profile not in profiles:
        raise ProfileError(
            f"unknown profile {profile!r}; the profiles file defines: {', '.join(sorted(profiles))}."
        )
    return dict(profiles[profile].get(notebook_key, {}))


def check_profile_notebooks(
    profiles: dict[str, dict[str, dict[str, Any]]], known_notebooks: set[str]
) -> None:
    """Raise if a profile names a notebook that does not exist."""
    for profile, notebooks in profiles.items():
        for notebook in notebooks:
            if notebook not in known_notebooks:
                raise ProfileError(
                    f"profile {profile!r} names notebook {notebook!r}, which does not exist under "
                    "notebooks/; fix the path or remove the entry."
                )
