"""FlightOnTime: will a flight leave late, and how likely is it?

    from flightontime_core import Flight, load_model
    model = load_model("models/default")
    p = model.predict(Flight(airline="AA", origin="JFK", destination="LAX",
                             departure="2013-11-10T14:30:00"))
    p.delayed, p.probability, p.probabilities, p.cancellation, p.factors, p.warnings

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
from flightontime_core.flights import WEATHER_FIELDS, Flight, Weather
from flightontime_core.model import Model, load_model
from flightontime_core.prediction import Factor, Notice, Prediction
from flightontime_core.service import PredictionService, SelfTestError

__all__ = [
    "WEATHER_FIELDS",
    "BundleError",
    "Factor",
    "Flight",
    "FlightError",
    "FlightOnTimeError",
    "Model",
    "NotReadyError",
    "Notice",
    "Prediction",
    "PredictionService",
    "Problem",
    "SelfTestError",
    "Weather",
    "__version__",
    "load_model",
]
