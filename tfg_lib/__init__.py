"""Companion library to a thesis on tensor expressivity and triplet-loss face recognition.

Part A lives in :mod:`tfg_lib.expressivity`, Part B in :mod:`tfg_lib.aifr`, the notebook runner
in :mod:`tfg_lib.pipeline`, and the shared figure style in :mod:`tfg_lib.figures`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tfg-lib")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
