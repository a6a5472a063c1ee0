"""Seeded random streams: every shuffle, augmentation and split is a pure function of integers (no global RNG)."""
from __future__ import annotations

import numpy as np
import torch

def _seed_of(*words: int) -> int:
    """A well-mixed 63-bit seed from integers (NumPy's SeedSequence), for independent torch.Generator streams."""
    state = np.random.SeedSequence([int(w) for w in words]).generate_state(1, dtype=np.uint64)[0]
    return int(state) >> 1  # shift a Python int: NumPy 1.26 refuses np.uint64 >> int (no common type)


def _generator(*words: int) -> torch.Generator:
    return torch.Generator().manual_seed(_seed_of(*words))


_ORDER, _AUGMENT, _SPLIT, _TEST = 1, 2, 3, 4  # stream ids, so that the generators never share a seed
