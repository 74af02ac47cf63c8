"""The `http` serving adapter (`flightontime serve`, `python -m flightontime_server`): uvicorn
with uvloop and httptools over the Litestar app, one worker per available CPU by default.

Options given here travel to uvicorn's worker processes through their environment (as the
settings' variables), the token too, so it never reaches a command line or a log.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any, Final

import msgspec

from flightontime_core.adapters import ServeOptions
from flightontime_core.contract import EXAMPLE_REQUEST
from flightontime_server.auth import NO_CREDENTIALS_MESSAGE, TokenConfigError, Tokens
from flightontime_server.settings import Settings, SettingsError

APP_FACTORY: Final = "flightontime_server.app:from_environment"
# Exit status of a configuration that cannot be served (as the first generation's).
CONFIG_ERROR: Final = 2
# Exit status of a bundle that fails verification or its self-test before any worker starts.
BUNDLE_ERROR: Final = 3


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    # uvicorn raises the signal it handled again once it has drained; ending here with 0
    # (instead of "killed by SIGTERM") reports the graceful stop as the success it is.
    raise SystemExit(0)


def _banner(token: str, host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104  # nosec B104 (display only)
    # indent=0: one line with a space after each separator, the values left as they are.
    body = msgspec.json.format(msgspec.json.encode(EXAMPLE_REQUEST), indent=0).decode()
    return (
        "\nNo PREDICTION_API_TOKEN set: generated a token for this run (shown once, not stored)."
        f"\n\n  {token}\n\nTry it:\n\n  curl -s http://{shown}:{port}/predict "
        f"-H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{body}'\n"
    )


def _settings(options: ServeOptions) -> Settings:
    """The environment's settings with the caller's options over them (checked alike)."""
    settings = Settings.from_environ()
    overrides: dict[str, Any] = {
        "model_dir": options.model_dir,
        "host": options.host,
        "port": options.port,
        "workers": options.workers,
    }
    changes = {k: v for k, v in overrides.items() if v is not None}
    if options.insecure_no_auth:
        changes["insecure_no_auth"] = True
    merged = msgspec.structs.replace(settings, **changes)
    # Through the environment's rules once more, so an option is held to its variable's bounds.
    return Settings.from_environ(merged.environ())


def _verify_bundles(settings: Settings) -> str | None:
    """Load, verify and self-test every bundle once, before any worker starts: why one was
    refused, or None. Bundles not there yet are left to the workers, which wait for them."""
    from flightontime_core.errors import BundleError
    from flightontime_core.service import PredictionService, find_bundles

    paths = settings.model_paths
    if not paths or not all(find_bundles(p) for p in paths):
        print(f"waiting for model bundles at {settings.model_dir}", file=sys.stderr, flush=True)
        return None
    try:
        service = PredictionService.load(
            paths,
            threads=1,
            decision_threshold=settings.decision_threshold,
            public_key=settings.model_public_key,
        )
    except (BundleError, ValueError, OSError) as exc:
        return str(exc)
    for model in service.models:
        countries = ",".join(model.manifest.countries) or "no country"
        print(
            f"bundle {model.bundle.path} verified: {model.version} ({countries})",
            file=sys.stderr,
            flush=True,
        )
    if not settings.model_public_key:
        print(
            "bundle signatures not checked: no FLIGHTONTIME_MODEL_PUBLIC_KEY (unsigned serving)",
            file=sys.stderr,
            flush=True,
        )
    return None


class HttpAdapter:
    """Serves the core's predictions over HTTP."""

    name = "http"
    description = "HTTP API (Litestar on uvicorn with uvloop and httptools)"

    def serve(self, options: ServeOptions) -> int:
        """Serve until SIGTERM/SIGINT, then drain; the process exit code."""
        try:
            settings = _settings(options)
            tokens = None if settings.insecure_no_auth else Tokens.from_settings(settings)
        except (SettingsError, TokenConfigError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return CONFIG_ERROR
        if tokens is not None and not tokens:
            if not options.generate_token:
                print(f"error: {NO_CREDENTIALS_MESSAGE}", file=sys.stderr)
                return CONFIG_ERROR
            token = secrets.token_urlsafe(32)
            settings = msgspec.structs.replace(settings, api_token=token)
            print(_banner(token, settings.host, settings.port), flush=True)
        refused = _verify_bundles(settings)
        if refused is not None:
            print(f"error: model bundle refused, not serving: {refused}", file=sys.stderr)
            return BUNDLE_ERROR
        workers = settings.worker_count
        created: Path | None = None
        metrics_dir = Path(settings.metrics_dir) if settings.metrics_dir else None
        if metrics_dir is None and workers > 1:
            metrics_dir = created = Path(tempfile.mkdtemp(prefix="flightontime-metrics-"))
        environ = settings.environ()
        if metrics_dir is not None:
            metrics_dir.mkdir(parents=True, exist_ok=True)
            # Files of a previous run would be summed into this run's counters.
            for stale in metrics_dir.glob("*.db"):
                stale.unlink()
            # prometheus_client reads it when a worker first imports it.
            environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        os.environ.update(environ)

        import uvicorn

        from flightontime_server.logging import log_config

        signal.signal(signal.SIGTERM, _exit_cleanly)
        signal.signal(signal.SIGINT, _exit_cleanly)
        fast = importlib.util.find_spec("uvloop") is not None
        try:
            uvicorn.run(
                APP_FACTORY,
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=workers,
                reload=options.reload,
                log_config=log_config(settings.log_level),
                log_level=settings.log_level.lower(),
                access_log=False,  # observe.Observer writes one JSON line per request
                server_header=False,
                timeout_graceful_shutdown=max(1, round(settings.graceful_timeout_s)),
                loop="uvloop" if fast else "auto",
                http="httptools",
                lifespan="on",
            )
        finally:
            if created is not None:
                shutil.rmtree(created, ignore_errors=True)
        return 0


HTTP_ADAPTER: Final = HttpAdapter()
