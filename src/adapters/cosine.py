"""Cosine similarity of stored float32 vectors to a query vector: the one formula both the vector store
and the keyword index score passages by, so a passage scores the same whichever of them holds its vector."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def cosine_similarities(stored: npt.NDArray[np.float32], query: Sequence[float]) -> list[float]:
    """The cosine of each row of `stored` (n x dimensions) with `query`; 0 for a zero vector."""
    target = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(stored, axis=1) * (np.linalg.norm(target) or 1.0)
    cosines = stored @ target / np.where(norms == 0, 1.0, norms)
    return [float(c) for c in cosines]
