"""The HTTP prediction service (FastAPI); import `flightontime.api.app` for the application."""
