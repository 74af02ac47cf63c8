"""The typed errors of the library: one `Problem` per field and reason, never a bare string.

A problem carries a stable `code` and its parameters; its text is rendered in the reader's
language (`flightontime_core.messages`), so every adapter answers in one language.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from flightontime_core.messages import DEFAULT_LANGUAGE, problem_text

Param = str | int | float


class Problem(msgspec.Struct, frozen=True):
    """One thing wrong with an input: the field (dotted path), a reason code, its parameters."""

    field: str
    code: str
    params: tuple[tuple[str, Param], ...] = ()

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The reason in words, in `language` ("en" or "pt")."""
        return problem_text(self.code, dict(self.params), language)


def problem(field: str, reason: str, /, **params: Param) -> Problem:
    """A `Problem` for `field` with reason code `reason` and keyword parameters."""
    return Problem(field, reason, tuple(sorted(params.items())))


class FlightOnTimeError(Exception):
    """Base class of every error this library raises on purpose."""


class FlightError(FlightOnTimeError, ValueError):
    """A flight that cannot be predicted, with every problem found (field and reason)."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("; ".join(f"{p.field}: {p.text()}" for p in self.problems))

    def __reduce__(self) -> tuple[type[FlightError], tuple[tuple[Problem, ...]]]:
        # Rebuilt from its problems (Dask ships errors between processes).
        return (type(self), (self.problems,))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FlightError) and other.problems == self.problems

    def __hash__(self) -> int:
        return hash(self.problems)


class BundleError(FlightOnTimeError):
    """A model bundle that cannot be used: missing, tampered, partial or of another format."""

    def __init__(self, file: str | None, reason: str) -> None:
        super().__init__(f"{file}: {reason}" if file else reason)
        self.file = file
        self.reason = reason

    def __reduce__(self) -> tuple[type[BundleError], tuple[str | None, str]]:
        return (type(self), (self.file, self.reason))


class NotReadyError(FlightOnTimeError):
    """The service has no verified model to answer with (still loading, or it failed)."""
