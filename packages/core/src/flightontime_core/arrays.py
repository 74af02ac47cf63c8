"""Small numpy helpers the columnar path shares."""

from __future__ import annotations

from typing import Final

import numpy as np

# Up to this many values, a dictionary interns faster than numpy's sort-based unique (whose
# fixed cost dominates a batch of one); beyond it, the sort is the faster of the two.
_SMALL: Final = 64


def distinct(values: np.ndarray) -> tuple[list[int], np.ndarray]:
    """The distinct values of a 1-d integer array and, for each element, the index of its
    value among them (intp). The same grouping whatever the size; the order of the distinct
    values is first-seen for small arrays and ascending for large ones."""
    if values.size <= _SMALL:
        seen: dict[int, int] = {}
        listed = values.tolist()
        for value in listed:
            seen.setdefault(value, len(seen))
        if len(seen) == values.size:  # every value distinct: each element is its own
            return list(seen), np.arange(values.size, dtype=np.intp)
        index = np.fromiter(map(seen.__getitem__, listed), np.intp, values.size)
        return list(seen), index
    unique, inverse = np.unique(values, return_inverse=True)
    return unique.tolist(), inverse.astype(np.intp).ravel()
