"""The settings Struct: defaults, environment values, and errors that name the variable."""

from __future__ import annotations

import pytest

from flightontime_cli.settings import Settings, SettingsError, env_name, load_settings


def test_defaults() -> None:
    s = load_settings({})
    assert s == Settings()
    assert s.model_dir == "models"
    assert s.port == 8000
    assert s.data_cache_dir == "data/raw"
    assert s.anac_base_url is None
    assert s.http_timeout_s is None
    assert s.http_retries is None
    assert s.threads == 1


def test_values_from_the_environment() -> None:
    s = load_settings(
        {
            "FLIGHTONTIME_MODEL_DIR": "/models/x",
            "FLIGHTONTIME_PORT": "9000",
            "FLIGHTONTIME_DATA_CACHE_DIR": "/cache",
            "FLIGHTONTIME_ANAC_BASE_URL": "http://127.0.0.1:1/vra",
            "FLIGHTONTIME_HTTP_TIMEOUT_S": "2.5",
            "FLIGHTONTIME_HTTP_RETRIES": "0",
            "FLIGHTONTIME_THREADS": "2",
            "FLIGHTONTIME_UNRELATED": "ignored",
            "FLIGHTONTIME_PREDICTION_API_TOKEN": "the server's, not ours",
        }
    )
    assert s == Settings(
        model_dir="/models/x",
        port=9000,
        data_cache_dir="/cache",
        anac_base_url="http://127.0.0.1:1/vra",
        http_timeout_s=2.5,
        http_retries=0,
        threads=2,
    )


def test_empty_values_keep_the_default() -> None:
    assert load_settings({"FLIGHTONTIME_PORT": "", "FLIGHTONTIME_MODEL_DIR": ""}) == Settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLIGHTONTIME_PORT", "eighty"),
        ("FLIGHTONTIME_PORT", "0"),
        ("FLIGHTONTIME_PORT", "70000"),
        ("FLIGHTONTIME_HTTP_TIMEOUT_S", "0"),
        ("FLIGHTONTIME_HTTP_RETRIES", "-1"),
        ("FLIGHTONTIME_THREADS", "many"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=f"^{name}='{value}': "):
        load_settings({name: value})


def test_env_names() -> None:
    assert env_name("model_dir") == "FLIGHTONTIME_MODEL_DIR"
