"""The serving side of LightGBM: the one-row scorer's two ways of summing leaves agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flightontime.features import FEATURE_INDEX, FEATURE_NAMES
from flightontime.model import predictor
from flightontime.model.bundle import Bundle


def test_row_sums_with_and_without_scipys_kernel_are_identical(
    small_bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = Bundle.load(small_bundle_dir)
    assert predictor._csr_matvecs is not None  # the installed scipy has the kernel
    rng = np.random.default_rng(7)
    rows = rng.uniform(0.0, 30.0, (200, len(FEATURE_NAMES)))
    categories = FEATURE_INDEX["destination"] + 1
    rows[:, :categories] = np.floor(rows[:, :categories])
    rows[::3, -5:] = np.nan  # weather missing on a third of them

    def scores() -> list[tuple[list[float], list[float]]]:
        out = []
        for row in rows.tolist():
            bundle._row_struct.pack_into(bundle._row, 0, *row)
            out.append(bundle._scorer.score(bundle._row_ptr))
        return out

    with_kernel = scores()
    monkeypatch.setattr(predictor, "_csr_matvecs", None)
    assert scores() == with_kernel
