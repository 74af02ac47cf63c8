"""CSV files as the table tests write and read them: plain text rows, a header first."""

from __future__ import annotations

import csv
from pathlib import Path


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write `rows` (the first row's keys are the header) and return the path."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    """Every row of a CSV file as text, keyed by its header."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))
