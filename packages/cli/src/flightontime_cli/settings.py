"""The command line's settings: one Struct read from FLIGHTONTIME_* environment variables.

This is the only module of the package that reads `os.environ`. A setting left unset (or set
to an empty string) keeps its default; None means "the core's own default", so the core's
constants are not copied here (and their modules, which import pandas, are not imported).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Final

import msgspec

PREFIX: Final = "FLIGHTONTIME_"


class SettingsError(ValueError):
    """An environment variable whose value is not of its setting's type or range."""


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """FlightOnTime's command-line settings; each field is FLIGHTONTIME_<FIELD NAME>."""

    # What `predict`, `score` and `serve` answer with: a bundle, or a directory of bundles
    # (each flight answered by the bundle of its origin's country, `default` for the rest).
    model_dir: str = "models"
    # The port `healthcheck` probes on 127.0.0.1 (the server's own port setting).
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8000
    # Where `data anac` caches the downloaded months (under <dir>/anac).
    data_cache_dir: str = "data/raw"
    # The ANAC portal's VRA folder; None: the core's default URL.
    anac_base_url: str | None = None
    # Per-request timeout and retries of the ANAC downloader; None: the core's defaults.
    http_timeout_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    http_retries: Annotated[int, msgspec.Meta(ge=0)] | None = None
    # onnxruntime threads per call for `predict`, `score` and `verify`.
    threads: Annotated[int, msgspec.Meta(ge=1, le=256)] = 1


FIELDS: Final = Settings.__struct_fields__


def env_name(field: str) -> str:
    """The environment variable of a setting ("model_dir" -> "FLIGHTONTIME_MODEL_DIR")."""
    return PREFIX + field.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from `environ` (the process environment by default); SettingsError names the
    variable and the reason when a value does not fit."""
    source = os.environ if environ is None else environ
    raw = {field: value for field in FIELDS if (value := source.get(env_name(field), "")) != ""}
    try:
        # strict=False: environment values are text, converted to each field's type.
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        # msgspec says "... - at `$.port`"; name the variable the user actually set.
        message = str(exc)
        for field in FIELDS:
            marker = f" - at `$.{field}`"
            if message.endswith(marker):
                reason = message[: -len(marker)]
                raise SettingsError(f"{env_name(field)}={raw[field]!r}: {reason}") from None
        raise SettingsError(message) from None
