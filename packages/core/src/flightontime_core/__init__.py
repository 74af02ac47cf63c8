"""FlightOnTime: will a flight leave late, and how likely is it?

    from flightontime_core import Flight, load_model
    model = load_model("models/default")
    p = model.predict(Flight(airline="AA", origin="JFK", destination="LAX",
                             departure="2013-11-10T14:30:00"))
    p.delayed, p.probability, p.probabilities, p.cancellation, p.factors, p.warnings

A table of flights goes through the same one path as columns, with no object per flight:

    answers = model.predict_table(FlightTable.from_arrow(arrow_table))  # contract's columns
    answers.probabilities, answers.delayed, answers.factor_texts("en"), answers.errors

Importing this package needs only numpy, onnxruntime, msgspec and the reference data
(airportsdata, holidays, tzdata); training lives in `flightontime_core.training` (the [train]
extra).
"""

from flightontime_core.__about__ import __version__
from flightontime_core.errors import (
    BundleError,
    FlightError,
    FlightOnTimeError,
    NotReadyError,
    Problem,
)
from flightontime_core.flight_table import FlightTable
from flightontime_core.flights import WEATHER_FIELDS, Flight, Weather
from flightontime_core.model import Model, load_model
from flightontime_core.prediction import Factor, Notice, Prediction
from flightontime_core.prediction_table import PredictionTable
from flightontime_core.service import PredictionService, SelfTestError

__all__ = [
    "WEATHER_FIELDS",
    "BundleError",
    "Factor",
    "Flight",
    "FlightError",
    "FlightOnTimeError",
    "FlightTable",
    "Model",
    "NotReadyError",
    "Notice",
    "Prediction",
    "PredictionService",
    "PredictionTable",
    "Problem",
    "SelfTestError",
    "Weather",
    "__version__",
    "load_model",
]
