"""Tests of flightontime_core (a package, so module names do not clash with other test trees)."""
