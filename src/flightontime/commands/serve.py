"""`flightontime serve`, `predict` and `healthcheck`: the service's command line."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from flightontime.config import get_settings

# The Java contract's example request, used in the printed curl line.
_EXAMPLE_BODY = (
    '{"companhia": "AZU", "origem": "SBKP", "destino": "SBRP", '
    '"data_partida": "2025-11-10T14:30:00", "distancia_m": 218000}'
)


def register(app: typer.Typer) -> None:
    """Add the serving commands to the CLI."""
    app.command("serve")(serve)
    app.command("predict")(predict)
    app.command("healthcheck")(healthcheck)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the signal it handled once shutdown is complete; ending here with 0
    # (instead of the default "killed by SIGTERM") reports the graceful stop as success.
    raise SystemExit(0)


def _print_token_banner(token: str, host: str, port: int) -> None:
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104  # nosec B104 (display only, not a bind)
    url = f"http://{shown_host}:{port}/predict"
    typer.echo(
        "\nNo PREDICTION_API_TOKEN set: generated a token for this run (shown once, not stored)."
        f"\n\n  {token}\n\nTry it:\n\n  curl -s {url} -H 'Authorization: Bearer {token}' "
        f"-H 'Content-Type: application/json' -d '{_EXAMPLE_BODY}'\n"
    )
    sys.stdout.flush()


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port.")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Worker processes.")] = None,
    model: Annotated[Path | None, typer.Option(help="Model bundle directory.")] = None,
    insecure_no_auth: Annotated[
        bool, typer.Option("--insecure-no-auth", help="Serve without authentication (dev only).")
    ] = False,
    generate_token: Annotated[
        bool,
        typer.Option("--generate-token", help="Without a configured token, make one and print it."),
    ] = False,
) -> None:
    """Serve the prediction API (uvicorn; graceful shutdown on SIGTERM)."""
    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers

    # Workers are fresh processes that build their Settings from the environment: options given
    # here travel to them that way (the token too, so it never reaches a command line or a log).
    if model is not None:
        os.environ["FLIGHTONTIME_MODEL_DIR"] = str(model)
    if insecure_no_auth:
        os.environ["FLIGHTONTIME_INSECURE_NO_AUTH"] = "true"

    from flightontime.api.auth import NO_CREDENTIALS_MESSAGE, TokenConfigError, load_tokens

    try:
        tokens = load_tokens(settings)
    except TokenConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not tokens and not insecure_no_auth:
        if not generate_token:
            typer.echo(f"error: {NO_CREDENTIALS_MESSAGE}", err=True)
            raise typer.Exit(2)
        token = secrets.token_urlsafe(32)
        os.environ["PREDICTION_API_TOKEN"] = token
        _print_token_banner(token, host, port)

    created_metrics_dir: Path | None = None
    metrics_dir = settings.metrics_dir
    if metrics_dir is None and workers > 1:
        metrics_dir = created_metrics_dir = Path(tempfile.mkdtemp(prefix="flightontime-metrics-"))
    if metrics_dir is not None:
        metrics_dir.mkdir(parents=True, exist_ok=True)
        # Files left by a previous run would be summed into this run's counters.
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
        # prometheus_client reads this when the workers first import it.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    get_settings.cache_clear()

    import uvicorn

    from flightontime.api.logs import log_config

    signal.signal(signal.SIGTERM, _exit_cleanly)
    signal.signal(signal.SIGINT, _exit_cleanly)
    try:
        uvicorn.run(
            "flightontime.api.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config(settings.log_level),
            log_level=settings.log_level.lower(),
            access_log=False,  # our middleware logs one JSON line per request
            server_header=False,
            timeout_graceful_shutdown=max(1, round(settings.graceful_timeout_s)),
            loop="auto",
            http="auto",
        )
    finally:
        if created_metrics_dir is not None:
            shutil.rmtree(created_metrics_dir, ignore_errors=True)


def predict(
    companhia: Annotated[str, typer.Option(help="Airline code, ICAO (AZU) or IATA (AD).")],
    origem: Annotated[str, typer.Option(help="Origin airport, ICAO or IATA.")],
    destino: Annotated[str, typer.Option(help="Destination airport, ICAO or IATA.")],
    data_partida: Annotated[
        str, typer.Option(help="Scheduled departure, e.g. 2025-11-10T14:30:00 (origin local).")
    ],
    distancia_m: Annotated[float | None, typer.Option(help="Distance in metres.")] = None,
    clima: Annotated[str | None, typer.Option(help='Weather JSON, e.g. {"vento_kmh": 30}.')] = None,
    model: Annotated[Path | None, typer.Option(help="Model bundle directory.")] = None,
) -> None:
    """Predict one flight without a server; prints the same JSON as POST /predict."""
    import orjson
    from pydantic import ValidationError

    from flightontime.api.errors import INVALID_INPUT, error_body, pydantic_details
    from flightontime.api.inputs import InputError
    from flightontime.api.schemas import flight_from_values
    from flightontime.api.service import Service

    settings = get_settings()
    payload: dict[str, object] = {
        "companhia": companhia,
        "origem": origem,
        "destino": destino,
        "data_partida": data_partida,
    }
    if distancia_m is not None:
        payload["distancia_m"] = distancia_m
    try:
        if clima is not None:
            payload["clima"] = orjson.loads(clima)
        request = flight_from_values(payload)
    except orjson.JSONDecodeError as exc:
        typer.echo(f"error: --clima is not JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as exc:
        body = error_body(INVALID_INPUT, "Voo inválido.", pydantic_details(exc.errors(), 0))
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode(), err=True)
        raise typer.Exit(2) from None
    try:
        service = Service.load(
            model or settings.model_dir, settings.decision_threshold, settings.tree_engine
        )
    except Exception as exc:  # the bundle's own error names the file and the reason
        typer.echo(f"error: cannot load the model bundle: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        answer = service.predict_one(request)
    except InputError as exc:
        body = error_body(INVALID_INPUT, "Voo inválido.", exc.detalhes)
        typer.echo(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode(), err=True)
        raise typer.Exit(2) from None
    typer.echo(orjson.dumps(answer, option=orjson.OPT_INDENT_2).decode())


def healthcheck(
    url: Annotated[str | None, typer.Option(help="Readiness URL.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds before giving up.")] = 3.0,
) -> None:
    """Exit 0 when the service answers 200 on its readiness URL (container HEALTHCHECK)."""
    target = url or f"http://127.0.0.1:{get_settings().port}/ready"
    if not target.startswith(("http://", "https://")):
        typer.echo(f"not ready: unsupported URL {target}", err=True)
        raise typer.Exit(1)
    try:
        # No proxies: the probe is for this host, and proxy variables must not reroute it.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(target, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        typer.echo(f"not ready: {exc}", err=True)
        raise typer.Exit(1) from None
    if status != 200:
        typer.echo(f"not ready: HTTP {status}", err=True)
        raise typer.Exit(1)
    typer.echo("ready")
