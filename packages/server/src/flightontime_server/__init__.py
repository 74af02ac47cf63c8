"""FlightOnTime's HTTP adapter: a Litestar + msgspec API over flightontime-core.

`flightontime_server.app.create_app(settings, service=None)` builds the app;
`flightontime_server.adapter:HTTP_ADAPTER` (the `http` entry point of `flightontime serve`) runs
it under uvicorn, as `python -m flightontime_server` does. Importing this package imports
nothing else: prometheus_client must first be imported after PROMETHEUS_MULTIPROC_DIR is set.
"""
