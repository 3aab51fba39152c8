"""The notebook pipeline: run notebooks with papermill in named profiles, with provenance.

Only this sub-package imports papermill. Entry point: ``tfg-run`` (see :mod:`.cli`).
"""
