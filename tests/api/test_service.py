"""Service helpers that the single and batch paths share."""

from __future__ import annotations

import numpy as np

from flightontime.api.service import round4


def test_round4_gives_numpys_digits() -> None:
    # A flight alone (round4) and in a batch (np.round) must show the same four decimals.
    rng = np.random.default_rng(7)
    values = np.concatenate(
        [
            rng.random(200_000),
            np.arange(0, 10_001) / 10_000 + 0.00005,  # every half-way point between digits
            [0.0, 1.0, 0.99995, 0.00005, 5e-324, 1 - 2**-53],
        ]
    )
    expected = np.round(values, 4)
    got = np.array([round4(v) for v in values.tolist()])
    assert np.array_equal(got, expected)
