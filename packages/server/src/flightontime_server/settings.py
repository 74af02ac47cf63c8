"""The HTTP adapter's one settings object, read from the environment (and nowhere else).

Every field is `FLIGHTONTIME_<NAME>` except the token's two, whose names the existing
deployments use. A bad value stops the server at start with a message naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta

PREFIX: Final = "FLIGHTONTIME_"
TOKEN_VARIABLE: Final = "PREDICTION_API_TOKEN"  # noqa: S105 (a variable name)
TOKEN_FILE_VARIABLE: Final = "PREDICTION_API_TOKEN_FILE"  # noqa: S105 (a variable name)
# Fields read from a variable without the prefix.
_UNPREFIXED: Final = {"api_token": TOKEN_VARIABLE, "api_token_file": TOKEN_FILE_VARIABLE}
_FIELD_PATH = re.compile(r"at `\$\.(\w+)`")


class SettingsError(ValueError):
    """A setting with a value that cannot be used; the message names the variable."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """FlightOnTime's HTTP server configuration."""

    # A bundle, a directory of bundles (each flight answered by its origin's country's, the
    # `default` one for the rest), or several of either separated by os.pathsep.
    model_dir: str = "models"
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=1, le=65535)] = 8000
    # None: one worker per available CPU.
    workers: Annotated[int, Meta(ge=1, le=64)] | None = None
    log_level: Annotated[str, Meta(pattern=r"(?i)^(critical|error|warning|info|debug)$")] = "info"
    # One JSON access line per request (observe.Observer); off, a busy worker saves what the
    # line costs per request (`make bench-asgi`), and the request metrics still count it.
    access_log: bool = True
    graceful_timeout_s: Annotated[float, Meta(gt=0)] = 20.0
    max_body_bytes: Annotated[int, Meta(gt=0)] = 2 * 1024 * 1024
    batch_max_flights: Annotated[int, Meta(ge=1)] = 1000
    # Concurrent POST /predict requests of a worker answered by one core call (batching.py);
    # also at most batch_max_flights flights per call.
    micro_batch: bool = True
    # Overrides the bundle's probability from which `previsao` is 1.
    decision_threshold: Annotated[float, Meta(gt=0.0, lt=1.0)] | None = None
    # How often a bundle that is not there yet is looked for.
    model_poll_interval_s: Annotated[float, Meta(gt=0)] = 1.0
    # Prometheus multiprocess files (a temporary directory when several workers and none set).
    metrics_dir: str | None = None
    insecure_no_auth: bool = False
    # An EC public key (PEM file): the bundle must carry a model-signing signature (model.sig)
    # made with its private key, else it is refused (flightontime_core.signing). Needs the
    # core's `signing` extra (the serving image built with SIGNING=1).
    model_public_key: str | None = None
    # onnxruntime threads per worker.
    threads: Annotated[int, Meta(ge=1, le=64)] = 1
    api_token: str | None = None
    api_token_file: str | None = None

    def __repr__(self) -> str:
        # The token never reaches a log or a traceback through this object.
        shown = {
            name: ("***" if name == "api_token" and value else value)
            for name, value in msgspec.structs.asdict(self).items()
        }
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in shown.items())})"

    @property
    def model_paths(self) -> list[str]:
        """The bundles or directories of bundles `model_dir` names, in order."""
        return [p for p in self.model_dir.split(os.pathsep) if p.strip()]

    @property
    def worker_count(self) -> int:
        """Worker processes to run: the setting, else one per available CPU."""
        return self.workers if self.workers is not None else available_cpus()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (the process environment by default); empty values count
        as unset. Raises SettingsError naming the variable of a bad value."""
        env = os.environ if environ is None else environ
        raw: dict[str, Any] = {}
        for name in cls.__struct_fields__:
            value = env.get(variable(name))
            if value is not None and value.strip() != "":
                raw[name] = value.strip()
        try:
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            found = _FIELD_PATH.search(str(exc))
            if found is None:
                raise SettingsError(f"invalid settings: {exc}") from None
            name = found.group(1)
            shown = "(hidden)" if name == "api_token" else repr(raw.get(name))
            reason = _FIELD_PATH.sub("", str(exc)).rstrip(" -")
            raise SettingsError(f"{variable(name)}={shown} is not valid: {reason}") from None

    def environ(self) -> dict[str, str]:
        """These settings as the variables `from_environ` reads (for worker processes)."""
        out: dict[str, str] = {}
        for name, value in msgspec.structs.asdict(self).items():
            if value is None:
                continue
            out[variable(name)] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


def variable(field: str) -> str:
    """The environment variable of a settings field."""
    return _UNPREFIXED.get(field, PREFIX + field.upper())
