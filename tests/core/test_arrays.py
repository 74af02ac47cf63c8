"""The columnar path's grouping helper: every element finds its value, whatever the size."""

from __future__ import annotations

import numpy as np
import pytest

from flightontime_core.arrays import distinct


@pytest.mark.parametrize("size", [0, 1, 5, 64, 65, 1000])
@pytest.mark.parametrize("spread", [3, 10**9])  # repeated values; (almost surely) all distinct
def test_distinct_groups_every_element_under_its_value(size: int, spread: int) -> None:
    values = np.random.default_rng(size + spread).integers(0, spread, size)
    found, index = distinct(values)
    assert index.dtype == np.intp
    assert index.shape == values.shape
    assert len(found) == len(set(values.tolist()))
    assert np.array(found, dtype=np.int64)[index].tolist() == values.tolist()


def test_distinct_keeps_first_seen_order_for_a_few_values() -> None:
    found, index = distinct(np.array([7, 3, 7, 9, 3]))
    assert found == [7, 3, 9]
    assert index.tolist() == [0, 1, 0, 2, 1]
