"""Applying a stored calibration: the vectorised and the one-value forms, and what is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from flightontime_core.bundle import Calibration
from flightontime_core.calibration import (
    EPS,
    calibrate,
    check,
    logit,
    sigmoid,
)

PLATT = Calibration(method="platt", a=0.8, b=-0.3)
ISOTONIC = Calibration(method="isotonic", x=(0.1, 0.3, 0.6, 0.9), y=(0.05, 0.2, 0.2, 0.7))
GRID = np.r_[0.0, 1e-9, np.linspace(0.0, 1.0, 1001), 1.0 - 1e-9, 1.0, 0.05, 0.95]


def test_none_is_the_identity() -> None:
    assert np.array_equal(calibrate(Calibration(), GRID), GRID)


def test_platt_is_a_sigmoid_of_the_logit() -> None:
    expected = 1.0 / (
        1.0 + np.exp(-(0.8 * np.log(GRID.clip(EPS, 1 - EPS) / (1 - GRID.clip(EPS, 1 - EPS))) - 0.3))
    )
    assert np.allclose(calibrate(PLATT, GRID), expected, rtol=1e-12, atol=1e-15)
    identity = Calibration(method="platt", a=1.0, b=0.0)
    inner = GRID[(GRID > EPS) & (GRID < 1 - EPS)]
    assert np.allclose(calibrate(identity, inner), inner, rtol=1e-9)


def test_isotonic_interpolates_between_knots_and_is_flat_beyond() -> None:
    out = calibrate(ISOTONIC, np.array([0.0, 0.1, 0.2, 0.45, 0.9, 1.0]))
    assert out.tolist() == pytest.approx([0.05, 0.05, 0.125, 0.2, 0.7, 0.7])
    assert np.all(np.diff(calibrate(ISOTONIC, np.sort(GRID))) >= 0)


@pytest.mark.parametrize(
    "calibration", [Calibration(), PLATT, ISOTONIC], ids=["none", "platt", "isotonic"]
)
def test_one_value_gets_the_floats_it_gets_among_others(calibration: Calibration) -> None:
    # Serving calibrates one flight as a one-row array and a batch as one array: the same
    # value must give the same float either way.
    together = calibrate(calibration, GRID)
    alone = [float(calibrate(calibration, GRID[i : i + 1])[0]) for i in range(GRID.size)]
    assert alone == together.tolist()


def test_logit_and_sigmoid_are_inverse_and_safe() -> None:
    z = np.array([-30.0, -5.0, 0.0, 2.5, 30.0])
    assert np.allclose(logit(sigmoid(z[1:-1])), z[1:-1])
    with np.errstate(all="raise"):  # no overflow warnings at the extremes
        assert sigmoid(np.array([-1e4, 1e4])).tolist() == [0.0, 1.0]
        assert np.isfinite(logit(np.array([0.0, 1.0]))).all()
    assert logit(np.array([0.0]))[0] == pytest.approx(math.log(EPS / (1 - EPS)))


@pytest.mark.parametrize(
    ("calibration", "words"),
    [
        (Calibration(method="magic"), "unknown calibration method"),
        (Calibration(method="isotonic", x=(0.5,), y=(0.5,)), "non-decreasing"),
        (Calibration(method="isotonic", x=(0.0, 1.0), y=(0.9, 0.1)), "non-decreasing"),
        (Calibration(method="isotonic", x=(1.0, 0.0), y=(0.1, 0.9)), "non-decreasing"),
        (Calibration(method="isotonic", x=(0.0, 0.5, 1.0), y=(0.1, 0.9)), "non-decreasing"),
    ],
)
def test_unusable_calibrations_are_refused(calibration: Calibration, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check(calibration)


def test_usable_calibrations_pass_the_check() -> None:
    for calibration in (Calibration(), PLATT, ISOTONIC):
        check(calibration)
