"""Part B: age-invariant face recognition as retrieval in an embedding learned with triplet loss.

Submodules are imported on demand, so ``import tfg_lib.aifr`` stays light:
:mod:`~tfg_lib.aifr.sampling` (P-K batches), :mod:`~tfg_lib.aifr.distances`,
:mod:`~tfg_lib.aifr.losses` (Batch Hard, Batch All, explicit triplets) and
:mod:`~tfg_lib.aifr.metrics` (Rank@k, silhouette, cluster distances).
"""
