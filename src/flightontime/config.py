"""The one place that reads configuration from the environment."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """FlightOnTime configuration; every field can be set as FLIGHTONTIME_<NAME>."""

    model_config = SettingsConfigDict(
        env_prefix="FLIGHTONTIME_", extra="ignore", env_ignore_empty=True
    )

    # Model bundle served by the API and written by `train` by default.
    model_dir: Path = Path("models/default")

    # Authentication. Names kept from the existing deployment (no FLIGHTONTIME_ prefix).
    api_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("PREDICTION_API_TOKEN", "FLIGHTONTIME_API_TOKEN"),
    )
    api_token_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("PREDICTION_API_TOKEN_FILE", "FLIGHTONTIME_API_TOKEN_FILE"),
    )
    insecure_no_auth: bool = False

    # Server.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    graceful_timeout_s: float = Field(default=20.0, gt=0)

    # Request limits.
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    batch_max_flights: int = Field(default=1000, ge=1)

    # Overrides the bundle's decision threshold for `previsao` when set.
    decision_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)

    # What walks the trees: "auto" uses lignum (bit-exact, faster) once it has matched LightGBM
    # on probe rows at load, LightGBM otherwise; "lightgbm" always uses LightGBM.
    tree_engine: Literal["auto", "lightgbm"] = "auto"

    # How often the server looks for a bundle that is not there yet (mounted or copied in later).
    model_poll_interval_s: float = Field(default=1.0, gt=0)
    # Extra routes for bench/serving_bench.py (the HTTP floor); never on in production.
    bench_endpoints: bool = False

    # Prometheus multiprocess directory (needed with several workers); under /tmp in containers.
    metrics_dir: Path | None = None

    # Data download cache (ANAC open data).
    data_cache_dir: Path = Path("data/raw")
    anac_base_url: str = "https://sistemas.anac.gov.br/dadosabertos/Voos%20e%20opera%C3%A7%C3%B5es%20a%C3%A9reas/Voo%20Regular%20Ativo%20%28VRA%29"
    http_timeout_s: float = Field(default=60.0, gt=0)
    http_retries: int = Field(default=4, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
