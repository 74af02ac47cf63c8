"""The one version of the FlightOnTime packages and images (hatch reads it for all three)."""

__version__ = "0.2.0"
