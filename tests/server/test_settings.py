"""Settings: one Struct from the environment, defaults, bad values named by their variable."""

from __future__ import annotations

import os

import pytest

from flightontime_server.settings import Settings, SettingsError, available_cpus


def test_defaults() -> None:
    s = Settings.from_environ({})
    assert s.model_dir == "models"  # every bundle of the directory
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.graceful_timeout_s == 20
    assert s.max_body_bytes == 2 * 1024 * 1024
    assert s.batch_max_flights == 1000
    assert s.micro_batch
    assert s.model_poll_interval_s == 1
    assert s.threads == 1
    assert s.decision_threshold is None
    assert not s.insecure_no_auth
    assert s.api_token is None
    assert s.api_token_file is None


def test_workers_default_to_the_available_cpus() -> None:
    assert Settings.from_environ({}).worker_count == available_cpus()
    assert available_cpus() == len(os.sched_getaffinity(0))
    assert Settings.from_environ({"FLIGHTONTIME_WORKERS": "3"}).worker_count == 3


def test_every_variable_is_read() -> None:
    env = {
        "FLIGHTONTIME_MODEL_DIR": "/m",
        "FLIGHTONTIME_HOST": "0.0.0.0",
        "FLIGHTONTIME_PORT": "9000",
        "FLIGHTONTIME_WORKERS": "2",
        "FLIGHTONTIME_LOG_LEVEL": "DEBUG",
        "FLIGHTONTIME_GRACEFUL_TIMEOUT_S": "5.5",
        "FLIGHTONTIME_MAX_BODY_BYTES": "1024",
        "FLIGHTONTIME_BATCH_MAX_FLIGHTS": "10",
        "FLIGHTONTIME_MICRO_BATCH": "false",
        "FLIGHTONTIME_DECISION_THRESHOLD": "0.4",
        "FLIGHTONTIME_MODEL_POLL_INTERVAL_S": "0.1",
        "FLIGHTONTIME_METRICS_DIR": "/tmp/m",
        "FLIGHTONTIME_INSECURE_NO_AUTH": "1",
        "FLIGHTONTIME_THREADS": "2",
        "PREDICTION_API_TOKEN": "a,b",
        "PREDICTION_API_TOKEN_FILE": "/run/secrets/token",
    }
    s = Settings.from_environ(env)
    assert s == Settings(
        model_dir="/m",
        host="0.0.0.0",
        port=9000,
        workers=2,
        log_level="DEBUG",
        graceful_timeout_s=5.5,
        max_body_bytes=1024,
        batch_max_flights=10,
        micro_batch=False,
        decision_threshold=0.4,
        model_poll_interval_s=0.1,
        metrics_dir="/tmp/m",
        insecure_no_auth=True,
        threads=2,
        api_token="a,b",
        api_token_file="/run/secrets/token",
    )
    # What the workers read back is the same settings.
    assert Settings.from_environ(s.environ()) == s


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_environ({"FLIGHTONTIME_PORT": "", "PREDICTION_API_TOKEN": " "}) == (
        Settings()
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FLIGHTONTIME_PORT", "http"),
        ("FLIGHTONTIME_PORT", "70000"),
        ("FLIGHTONTIME_WORKERS", "0"),
        ("FLIGHTONTIME_GRACEFUL_TIMEOUT_S", "-1"),
        ("FLIGHTONTIME_MAX_BODY_BYTES", "0"),
        ("FLIGHTONTIME_BATCH_MAX_FLIGHTS", "lots"),
        ("FLIGHTONTIME_DECISION_THRESHOLD", "1.5"),
        ("FLIGHTONTIME_MODEL_POLL_INTERVAL_S", "0"),
        ("FLIGHTONTIME_INSECURE_NO_AUTH", "sure"),
        ("FLIGHTONTIME_LOG_LEVEL", "loud"),
        ("FLIGHTONTIME_THREADS", "0"),
    ],
)
def test_bad_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable) as info:
        Settings.from_environ({variable: value})
    assert repr(value) in str(info.value)


def test_the_token_never_shows() -> None:
    s = Settings.from_environ({"PREDICTION_API_TOKEN": "s3cret-token-value-0123456789"})
    assert "s3cret" not in repr(s)
    assert "s3cret" not in str(s)
