"""The application factory: settings and a core service -> a Litestar app.

The lifespan loads the bundles before the worker accepts connections (or waits for them when they
are not there yet) into the serving state (`app.state.serving`), which the handlers receive
through dependency injection (`state.DEPENDENCIES`); a middleware checks tokens before the body
is read, `request_max_body_size` bounds the body, the body DTOs (`body.py`) hand it to the core,
the exception handlers give the one error shape, and Litestar generates the OpenAPI document
from the handlers' Structs, and the docs page (its assets served from the swagger-ui-bundle
package, no CDN). `asgi_app` wraps it with the request
observer (access log, request id, request metrics) for uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from litestar import Litestar, Request, Response, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.types import ASGIApp
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from flightontime_core import __version__
from flightontime_core.errors import BundleError
from flightontime_core.service import PredictionService, find_bundles
from flightontime_server import metrics
from flightontime_server.auth import token_check
from flightontime_server.errors import exception_handlers
from flightontime_server.observe import Observer
from flightontime_server.routes.health import health, prometheus, ready
from flightontime_server.routes.model import model
from flightontime_server.routes.openapi import SECURITY
from flightontime_server.routes.predict import predict, predict_batch
from flightontime_server.settings import Settings
from flightontime_server.state import DEPENDENCIES, ServingState

logger = logging.getLogger("flightontime_server")

# Predictions reach the metrics in bulk this often (metrics.PendingPredictions): often enough
# that each flush is short; the requests that arrive during one wait for all of it.
METRICS_FLUSH_S: Final = 0.05
ASSETS: Final = "/docs/assets"

DESCRIPTION: Final = (
    "Previsão de atraso na partida de voos. Autenticação: cabeçalho `Authorization: <token>` "
    "ou `Authorization: Bearer <token>` em `/predict`, `/predict/batch` e `/model`. Erros "
    'sempre no formato `{"erro": {"codigo", "mensagem", "detalhes": [{"campo", "motivo", '
    '"tipo"}]}}`. Respostas em português; `Accept-Language: en` para inglês.'
)


def bundles_present(settings: Settings) -> bool:
    """True when every configured path holds a bundle (or a directory of them)."""
    paths = settings.model_paths
    return bool(paths) and all(find_bundles(p) for p in paths)


async def load_bundles(state: ServingState, settings: Settings) -> None:
    """Load and verify every bundle, run their self-tests, then serve them; a failure leaves
    `state` failed (never ready) and raises BundleError."""
    try:
        # Hashing and checking the bundles is CPU work: the loop stays free for the probes.
        service = await asyncio.to_thread(
            PredictionService.load,
            settings.model_paths,
            threads=settings.threads,
            decision_threshold=settings.decision_threshold,
            public_key=settings.model_public_key,
        )
    except (BundleError, ValueError, OSError) as exc:
        state.failed = True
        logger.error("model bundle rejected, service will not become ready: %s", exc)
        raise BundleError(None, str(exc)) from None
    if settings.model_public_key:
        logger.info("model signatures verified with %s", settings.model_public_key)
    else:
        logger.warning("model signatures not checked (no FLIGHTONTIME_MODEL_PUBLIC_KEY)")
    became_ready(state, service)


async def load_when_present(state: ServingState, settings: Settings) -> None:
    """Wait for the bundles that are not there yet, then load them (`load_bundles`)."""
    if not bundles_present(settings):
        logger.warning(
            "no model bundle at %s yet; /ready answers 503 until one appears", settings.model_dir
        )
        while not bundles_present(settings):
            await asyncio.sleep(settings.model_poll_interval_s)
    with contextlib.suppress(BundleError):  # logged, and the state says failed
        await load_bundles(state, settings)


def became_ready(state: ServingState, service: PredictionService) -> None:
    """Serve `service` from now on."""
    state.serve(service)
    # What is loaded now lives as long as the process: out of the cyclic collector's sight, a
    # full collection no longer walks it on the request path.
    gc.freeze()
    for served in service.models:
        metrics.set_model_info(served.version, served.thresholds)
    logger.info(
        "model ready",
        extra={
            "fields": {
                "model_version": service.version,
                "bundles": [
                    {"version": m.version, "countries": list(m.manifest.countries)}
                    for m in service.models
                ],
                "thresholds": list(service.thresholds),
                "decision_threshold": service.decision_threshold,
            }
        },
    )


# Litestar's OpenAPI router serves its plugins under `path` with a catch-all 404 page (HTML)
# for the rest of that path, so it stays under /schema; the documented paths of the API,
# /openapi.json and /docs, are routes of their own rendering the same document.
_JSON = JsonRenderPlugin(path="/openapi.json")
_SWAGGER = SwaggerRenderPlugin(
    path="/docs",
    js_url=f"{ASSETS}/swagger-ui-bundle.js",
    css_url=f"{ASSETS}/swagger-ui.css",
    standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
    favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
)


def _openapi() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="FlightOnTime",
        version=__version__,
        summary="Previsão de atraso na partida de voos.",
        description=DESCRIPTION,
        path="/schema",
        render_plugins=[_JSON],
        components=Components(
            security_schemes={
                "token": SecurityScheme(
                    type="apiKey",
                    name="Authorization",
                    security_scheme_in="header",
                    description="O token puro (como o backend Java envia) ou `Bearer <token>`.",
                )
            }
        ),
    )


def _docs_routes() -> list[HTTPRouteHandler]:
    rendered: dict[str, bytes] = {}

    def render(request: Request[Any, Any, Any], plugin: OpenAPIRenderPlugin) -> Response[bytes]:
        body = rendered.get(plugin.media_type)
        if body is None:  # the document is fixed once the app is built: rendered once
            document = request.app.openapi_schema.to_schema()
            body = rendered[plugin.media_type] = plugin.render(request, document)
        return Response(body, media_type=plugin.media_type)

    @get("/openapi.json", include_in_schema=False)
    async def openapi_json(request: Request[Any, Any, Any]) -> Response[bytes]:
        """The OpenAPI document."""
        return render(request, _JSON)

    @get("/docs", include_in_schema=False)
    async def docs(request: Request[Any, Any, Any]) -> Response[bytes]:
        """Swagger UI over the document, its assets served by this app."""
        return render(request, _SWAGGER)

    @get("/redoc", include_in_schema=False)
    async def redoc() -> Redirect:
        """The first generation's second docs page: the one docs page now."""
        return Redirect(path="/docs")

    return [openapi_json, docs, redoc]


def create_app(settings: Settings, service: PredictionService | None = None) -> Litestar:
    """The Litestar app for `settings`; with `service` it is ready at once, otherwise its
    lifespan loads `settings.model_dir`. Raises auth.TokenConfigError when no token is
    configured (and authentication is not disabled) or the token file cannot be read."""
    check = token_check(settings)
    state = ServingState(micro_batch=settings.micro_batch, max_flights=settings.batch_max_flights)
    pending = state.pending

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        loader = None
        if service is not None:
            became_ready(state, service)
        elif bundles_present(settings):
            # Before this worker accepts a connection: it never answers /ready with 503 once
            # another worker said 200, and a bundle it cannot load stops it.
            await load_bundles(state, settings)
        else:
            loader = asyncio.create_task(load_when_present(state, settings))
        flusher = asyncio.create_task(pending.flush_every(METRICS_FLUSH_S))
        try:
            yield
        finally:
            if loader is not None:
                loader.cancel()
            flusher.cancel()
            pending.flush()
            metrics.mark_worker_exit()

    assets = create_static_files_router(
        path=ASSETS, directories=[swagger_ui_path], include_in_schema=False
    )
    # The token's routes: the token is checked before the body is read.
    protected = Router(
        path="/",
        route_handlers=[predict, predict_batch, model],
        middleware=[check],
        security=SECURITY,
    )
    app = Litestar(
        route_handlers=[protected, health, ready, prometheus, assets, *_docs_routes()],
        dependencies=DEPENDENCIES,
        lifespan=[lifespan],
        exception_handlers=exception_handlers(settings.max_body_bytes),
        request_max_body_size=settings.max_body_bytes,
        openapi_config=_openapi(),
        logging_config=None,
        debug=False,
    )
    # Litestar deep-copies a State given to it: these are shared, so set on the app's own.
    app.state.serving = state
    app.state.settings = settings
    return app


def asgi_app(app: Litestar) -> ASGIApp:
    """`app` behind the request observer (what uvicorn serves)."""
    state: ServingState = app.state.serving
    known = frozenset(route.path for route in app.routes)
    settings: Settings = app.state.settings
    return Observer(app, state.version, known, access_log=settings.access_log)


def from_environment() -> ASGIApp:
    """uvicorn's factory in each worker: settings from the environment, the observed app."""
    return asgi_app(create_app(Settings.from_environ()))
