"""The FastAPI application: lifespan (bundle loading), routes, middlewares, OpenAPI."""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from flightontime.api import metrics
from flightontime.api.auth import Authenticator
from flightontime.api.errors import (
    BATCH_TOO_LARGE,
    INVALID_INPUT,
    NOT_READY,
    UNAUTHORIZED,
    WWW_AUTHENTICATE,
    ApiError,
    JSONResponse,
    error_body,
    install_error_handlers,
    pydantic_details,
)
from flightontime.api.inputs import InputError
from flightontime.api.middleware import BodyLimitMiddleware, ObservabilityMiddleware
from flightontime.api.schemas import (
    FLIGHT,
    VALID_BATCH,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    FlightRequest,
    HealthResponse,
    PredictionResponse,
)
from flightontime.api.service import Service
from flightontime.config import Settings, get_settings

logger = logging.getLogger("flightontime.api")

try:
    __version__ = version("flightontime")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

# Single predictions reach the metrics in bulk this often (see metrics.PendingPredictions).
METRICS_FLUSH_S = 1.0

# Routes that need a token; probes, metrics and docs do not.
PROTECTED_PATHS = frozenset({"/predict", "/predict/batch", "/model", "/_bench/echo"})


@dataclass
class ServiceState:
    """What the routes need: the loaded service, or why there is none yet."""

    service: Service | None = None
    failed: bool = False

    def version(self) -> str | None:
        """Model version being served, None before loading."""
        return self.service.version if self.service is not None else None

    def require(self) -> Service:
        """The service, or a 503 while the bundle is loading or after it failed."""
        if self.service is None:
            raise ApiError(
                503,
                NOT_READY,
                "Modelo com falha ao carregar; veja os logs do servidor."
                if self.failed
                else "Modelo ainda carregando; tente novamente em instantes.",
                headers={"Retry-After": "1"},
            )
        return self.service


class AuthMiddleware:
    """Token check before the body is read (so no unauthenticated client gets a 422 or 413)."""

    def __init__(self, app: ASGIApp, auth: Authenticator) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject protected paths without a valid token with 401 + WWW-Authenticate."""
        if scope["type"] != "http" or scope["path"] not in PROTECTED_PATHS:
            await self.app(scope, receive, send)
            return
        if self.auth.insecure:
            logger.warning("authentication is disabled (--insecure-no-auth): do not expose this")
            await self.app(scope, receive, send)
            return
        header: str | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        if self.auth.check(header):
            await self.app(scope, receive, send)
            return
        message = "Token ausente." if not header else "Token inválido."
        response = JSONResponse(
            error_body(
                UNAUTHORIZED,
                f"{message} Envie o cabeçalho Authorization com o token (puro ou Bearer).",
            ),
            status_code=401,
            headers={"WWW-Authenticate": WWW_AUTHENTICATE},
        )
        await response(scope, receive, send)


async def _load_when_present(state: ServiceState, settings: Settings) -> None:
    """Wait for the bundle to appear, load and verify it, run the canned prediction."""
    path = settings.model_dir
    if not (path / "manifest.json").is_file():
        logger.warning("no model bundle at %s yet; /ready answers 503 until one appears", path)
        while not (path / "manifest.json").is_file():
            await asyncio.sleep(settings.model_poll_interval_s)
    try:
        # Hashing and parsing the model is CPU work: keep the loop free for /health and /ready.
        service = await asyncio.to_thread(
            Service.load, path, settings.decision_threshold, settings.tree_engine
        )
    except Exception as exc:  # any failure leaves the server alive but never ready
        state.failed = True
        logger.error("model bundle at %s rejected, service will not become ready: %s", path, exc)
        return
    state.service = service
    # What is loaded now lives as long as the process (bundle, airports, holiday calendars,
    # ~300k objects): out of the cyclic collector's sight, a full collection no longer walks
    # them (measured: GC took a third of a 1000-flight batch's time before, 4% after).
    gc.freeze()
    metrics.MODEL_INFO.labels(
        version=service.version, thresholds=",".join(service.threshold_keys)
    ).set(1)
    logger.info(
        "model ready",
        extra={
            "fields": {
                "model_version": service.version,
                "threshold": service.threshold,
                "tree_engine": service.bundle.tree_engine,
                "tree_engine_note": service.bundle.tree_engine_note,
            }
        },
    )
    if settings.tree_engine == "auto" and service.bundle.tree_engine != "lignum":
        # Answers are the same, only slower: worth an operator's look, not a refusal.
        logger.warning("trees walked by LightGBM: %s", service.bundle.tree_engine_note)


def _error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Token ausente ou inválido.",
        413: "Corpo ou lote grande demais.",
        422: "Entrada inválida (campo e motivo em `detalhes`).",
        503: "Modelo ainda não carregado.",
    }
    return {code: {"model": ErrorResponse, "description": described[code]} for code in codes}


_SECURED: dict[str, Any] = {"security": [{"token": []}]}

# FastAPI's native OpenTelemetry hook looks up the global providers on every request (~10 µs
# of a ~150 µs request); this service exports its own Prometheus metrics and logs instead.
_NO_OTEL: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters
    else {}
)


def _body_doc(model: str) -> dict[str, Any]:
    # Bodies are parsed by pydantic straight from bytes (faster than FastAPI's json.loads +
    # validation, and independent of the Content-Type a client forgets), so the spec names them.
    ref = {"$ref": f"#/components/schemas/{model}"}
    return {
        **_SECURED,
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
    }


_BATCH = TypeAdapter(BatchRequest)


async def _parse(request: Request, schema: TypeAdapter[Any]) -> Any:
    """Validate the raw body against a schema; 422 in the API's shape otherwise."""
    return _parse_bytes(await request.body(), schema)


def _parse_bytes(body: bytes, schema: TypeAdapter[Any]) -> Any:
    """`_parse` for a body already read."""
    try:
        return schema.validate_json(body)
    except ValidationError as exc:
        raise ApiError(
            422, INVALID_INPUT, "Requisição inválida.", pydantic_details(exc.errors(), 0)
        ) from None


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (uvicorn factory); refuses to build without a token configured."""
    settings = settings or get_settings()
    auth = Authenticator.from_settings(settings)  # raises TokenConfigError: server won't start
    if auth.insecure:
        logger.warning("authentication is DISABLED (--insecure-no-auth); development use only")
    state = ServiceState()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loader = asyncio.create_task(_load_when_present(state, settings))
        flusher = asyncio.create_task(metrics.PENDING.flush_every(METRICS_FLUSH_S))
        try:
            yield
        finally:
            loader.cancel()
            flusher.cancel()
            metrics.PENDING.flush()
            metrics.mark_worker_exit()

    app = FastAPI(
        title="FlightOnTime",
        version=__version__,
        summary="Previsão de atraso na partida de voos.",
        description=(
            "Autenticação: cabeçalho `Authorization: <token>` ou `Authorization: Bearer <token>`"
            " em `/predict`, `/predict/batch` e `/model`. Erros sempre no formato "
            '`{"erro": {"codigo", "mensagem", "detalhes": [{"campo", "motivo"}]}}`.'
        ),
        default_response_class=JSONResponse,
        lifespan=lifespan,
        **_NO_OTEL,
    )
    app.state.service_state = state
    install_error_handlers(app)

    if settings.bench_endpoints:
        # First route, so the floor pays no more routing than /predict does.

        @app.post("/_bench/echo", include_in_schema=False)
        async def bench_echo(request: Request) -> Response:
            """HTTP floor for the benchmark: same stack and schema, no model work."""
            voo: FlightRequest = await _parse(request, FLIGHT)
            return JSONResponse(
                {"previsao": 0, "probabilidade": 0.0, "companhia": voo["companhia"]}
            )

    @app.post(
        "/predict",
        response_model=PredictionResponse,
        responses=_error_responses(401, 413, 422, 503),
        openapi_extra=_body_doc("FlightRequest"),
        summary="Previsão para um voo",
    )
    async def predict(request: Request) -> Response:
        """Probability that the flight departs late, with its reasons and warnings."""
        voo: FlightRequest = await _parse(request, FLIGHT)
        service = state.require()
        try:
            answer, observation = service.answer_one(voo)
        except InputError as exc:
            raise ApiError(422, INVALID_INPUT, "Voo inválido.", exc.detalhes) from None
        # Its metrics go in with the next bulk update: shared-memory writes the caller need
        # not wait for.
        observation.record_soon()
        return JSONResponse(answer)

    @app.post(
        "/predict/batch",
        response_model=BatchResponse,
        responses=_error_responses(401, 413, 422, 503),
        openapi_extra=_body_doc("BatchRequest"),
        summary="Previsão para vários voos",
    )
    async def predict_batch(request: Request) -> Response:
        """Several flights in one vectorised call; each bad flight gets its own error entry."""
        body = await request.body()
        valid = True
        try:
            # The common case, every flight valid: validated in one pass straight from bytes.
            voos: list[Any] = VALID_BATCH.validate_json(body)["voos"]
        except ValidationError:
            valid = False
            voos = _parse_bytes(body, _BATCH).voos
        if len(voos) > settings.batch_max_flights:
            raise ApiError(
                413,
                BATCH_TOO_LARGE,
                f"Lote com {len(voos)} voos; o limite é {settings.batch_max_flights}.",
                [{"campo": "voos", "motivo": f"no máximo {settings.batch_max_flights} voos"}],
            )
        service = state.require()
        if valid:
            return JSONResponse({"resultados": service.predict_requests(voos)})
        return JSONResponse({"resultados": service.predict_many(voos)})

    @app.get("/health", response_model=HealthResponse, summary="Vivacidade (sem autenticação)")
    async def health() -> Response:
        """The process answers; no model work."""
        return JSONResponse({"status": "ok"})

    @app.get(
        "/ready",
        response_model=HealthResponse,
        responses=_error_responses(503),
        summary="Prontidão (sem autenticação)",
    )
    async def ready() -> Response:
        """200 once the bundle is loaded, verified and has answered a canned prediction."""
        service = state.require()
        return JSONResponse({"status": "pronto", "versao_modelo": service.version})

    @app.get(
        "/model",
        responses=_error_responses(401, 503),
        openapi_extra=_SECURED,
        summary="Manifesto do modelo servido",
    )
    async def model() -> Response:
        """The bundle's manifest (version, data range, thresholds, metrics), no secrets."""
        return JSONResponse(state.require().manifest)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        """Prometheus exposition, summed over all workers."""
        metrics.PENDING.flush()  # this worker's latest; the others' are at most a second old
        content, content_type = metrics.exposition()
        return Response(content, media_type=content_type)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {})
            _, defs = TypeAdapter.json_schemas(
                [("flight", "validation", FLIGHT), ("batch", "validation", _BATCH)],
                ref_template="#/components/schemas/{model}",
            )
            components.setdefault("schemas", {}).update(defs["$defs"])
            components["securitySchemes"] = {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "O token puro (como o backend Java envia) ou `Bearer <token>`.",
                }
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # Outermost first in the request path: observability sees every answer, auth runs before
    # the body is read, the body limit before FastAPI parses it.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, auth=auth)
    app.add_middleware(
        ObservabilityMiddleware,
        model_version=state.version,
        routes=frozenset(getattr(r, "path", "") for r in app.routes),
    )
    return app
