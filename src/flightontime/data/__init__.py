"""Flight data sources, airports and airlines; everything becomes one canonical table."""
