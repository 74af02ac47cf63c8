"""What a prediction answers: the probabilities, the factors behind them and the notices."""

from __future__ import annotations

import msgspec

from flightontime_core.messages import DEFAULT_LANGUAGE, factor_text, notice_text

Param = str | int | float


class Notice(msgspec.Struct, frozen=True, gc=False):
    """A warning about how a flight was predicted (a code and its parameters)."""

    code: str
    params: tuple[tuple[str, Param], ...] = ()

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The notice in words, in `language` ("en" or "pt")."""
        return notice_text(self.code, self.params, language)


def notice(code: str, /, **params: Param) -> Notice:
    """A `Notice` with keyword parameters."""
    return Notice(code, tuple(sorted(params.items())))


class Factor(msgspec.Struct, frozen=True, gc=False):
    """One of the reasons behind a prediction.

    `group`: the feature group (time, weekday, holiday, airline, origin, destination, route,
    density, distance, or a weather field); `raises`: whether it pushed the delay probability
    up; `weight`: its contribution to the primary model's log-odds; `params`: what the
    sentence names (the hour, the airline and its historical rate, ...).
    """

    group: str
    raises: bool
    weight: float
    params: tuple[tuple[str, Param], ...] = ()

    def text(self, language: str = DEFAULT_LANGUAGE) -> str:
        """The factor as a sentence, in `language` ("en" or "pt")."""
        return factor_text(self.group, self.params, self.raises, language)


class Prediction(msgspec.Struct, frozen=True, gc=False):
    """The answer for one flight.

    `probability` is the chance of a departure delay of at least the primary threshold
    (15 minutes by default) and `delayed` is `probability >= decision_threshold`;
    `probabilities` maps every threshold in minutes to its chance (never increasing);
    `cancellation` is None when the model has no cancellation part; `factors` are the three
    strongest reasons, strongest first; `warnings` say what the prediction could not use.
    """

    delayed: bool
    probability: float
    probabilities: dict[int, float]
    cancellation: float | None
    factors: tuple[Factor, ...]
    warnings: tuple[Notice, ...]
    decision_threshold: float
    model_version: str
