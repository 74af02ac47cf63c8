"""Monitoring, for real: promtool on the configuration and rules, the real Prometheus (Debian's
package) scraping the real service on loopback, and the metric names used by the dashboard and
the alerts checked against the service's /metrics output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .conftest import MODEL_DIR, MONITORING, ROOT, Service, free_port, need, wait_until

pytestmark = pytest.mark.ops

RULES = sorted((MONITORING / "rules").glob("*.yml"))
DASHBOARD = MONITORING / "grafana" / "dashboards" / "flightontime.json"
ALERT_NAMES = {
    "FlightOnTimeDown",
    "FlightOnTimeHighErrorRate",
    "FlightOnTimeHighLatencyP99",
    "FlightOnTimeNoPredictions",
    "FlightOnTimeDriftAtrasadoShare",
    "FlightOnTimeDriftMeanProbability",
    "FlightOnTimeMixedModelVersions",
}
METRIC_NAME = re.compile(r"\b(flightontime_[a-zA-Z0-9_]+)")
RECORDED_NAME = re.compile(r"\b(flightontime:[a-zA-Z0-9_:]+)")


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    print(f"$ {' '.join(cmd)}\n{result.stdout}{result.stderr}")
    return result


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in RULES:
        groups += yaml.safe_load(path.read_text())["groups"]
    return groups


def rule_expressions() -> list[str]:
    return [rule["expr"] for group in rule_groups() for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    return exprs


def loopback_config(tmp: Path, target: str, interval: str = "1s") -> Path:
    """deploy/monitoring/prometheus.yml with the service on loopback and the repo's rule files."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["global"]["scrape_timeout"] = interval
    config["rule_files"] = [str(p) for p in RULES]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["flightontime"]["static_configs"] = [{"targets": [target]}]
    # No cAdvisor here; the recording-rule groups' own 30 s interval is kept short for the test.
    config["scrape_configs"] = [jobs["flightontime"]]
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    rules_dir = tmp / "rules"
    rules_dir.mkdir()
    fast_rules = []
    for rule_path in RULES:
        doc = yaml.safe_load(rule_path.read_text())
        for group in doc["groups"]:
            group["interval"] = interval
        fast = rules_dir / rule_path.name
        fast.write_text(yaml.safe_dump(doc, sort_keys=False))
        fast_rules.append(str(fast))
    config["rule_files"] = fast_rules
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# --- static checks --------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    result = run(need("promtool"), "check", "rules", *map(str, RULES))
    assert result.returncode == 0
    names = {rule.get("alert") for group in rule_groups() for rule in group["rules"]}
    assert names >= ALERT_NAMES


def test_promtool_alert_unit_tests() -> None:
    result = run(need("promtool"), "test", "rules", str(MONITORING / "tests" / "alerts-test.yml"))
    assert result.returncode == 0
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_config(tmp_path: Path) -> None:
    # The shipped file as it is (its rule glob points into the Prometheus container) ...
    assert (
        run(need("promtool"), "check", "config", str(MONITORING / "prometheus.yml")).returncode == 0
    )
    # ... and as the tests run it, with the repo's rule files loaded.
    result = run("promtool", "check", "config", str(loopback_config(tmp_path, "127.0.0.1:1")))
    assert result.returncode == 0
    assert "SUCCESS" in result.stdout + result.stderr


def test_reference_rules_come_from_the_model_card(tmp_path: Path) -> None:
    """The committed drift references equal what the generator makes of models/default."""
    generated = subprocess.run(
        [
            sys.executable,
            str(MONITORING / "generate_reference_rules.py"),
            str(MODEL_DIR / "manifest.json"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (MONITORING / "rules" / "flightontime-reference.yml").read_text()

    def values(text: str) -> dict[str, float]:
        doc = yaml.safe_load(text)
        return {
            r["record"]: float(re.fullmatch(r"vector\(([0-9.]+)\)", r["expr"]).group(1))  # type: ignore[union-attr]
            for g in doc["groups"]
            for r in g["rules"]
        }

    print(generated)
    assert values(generated) == pytest.approx(values(committed), abs=0.0015), (
        "rules/flightontime-reference.yml is stale: run `make monitoring-reference`"
    )
    positive_rate = values(generated)["flightontime:reference_positive_rate"]
    assert 0.0 < positive_rate < 1.0


def test_dashboard_and_provisioning() -> None:
    board = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(p["title"] for p in board["panels"]).lower()
    for needed in (
        "request rate",
        "latency",
        "error rate",
        "predictions by class",
        "probability distribution",
        "model version",
        "cpu",
        "memory",
    ):
        assert needed in titles, needed
    datasource = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
    provider = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "dashboards" / "flightontime.yml").read_text()
    )["providers"][0]
    compose = yaml.safe_load((ROOT / "docker-compose.monitoring.yml").read_text())
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    assert (
        f"./deploy/monitoring/grafana/dashboards:{provider['options']['path']}:ro" in grafana_mounts
    )


def test_compose_monitoring_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.monitoring.yml").read_text())
    services = compose["services"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    # The datasource URL names the Prometheus service of the compose file.
    datasource = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    # With the production compose file: a valid merged project whose API container is the
    # scrape target of prometheus.yml.
    target = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"][0]
    host = target["static_configs"][0]["targets"][0].split(":")[0]
    if (ROOT / "docker-compose.yml").exists() and (tool := _compose_tool()):
        result = subprocess.run(
            [*tool, "-f", "docker-compose.yml", "-f", "docker-compose.monitoring.yml", "config"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={
                **os.environ,
                "GRAFANA_ADMIN_PASSWORD": "x",
                "PREDICTION_API_TOKEN": "x",
            },
        )
        assert result.returncode == 0, result.stderr
        merged = yaml.safe_load(result.stdout)
        names = {svc.get("container_name", key) for key, svc in merged["services"].items()}
        assert host in names | set(merged["services"]), (
            f"scrape target {host} is no compose service"
        )
        assert {"prometheus", "grafana"} <= set(merged["services"])


def _compose_tool() -> list[str] | None:
    import shutil

    if shutil.which("podman-compose"):
        return ["podman-compose"]
    if shutil.which("docker"):
        return ["docker", "compose"]
    return None


# --- against the running service --------------------------------------------------------------


def exposed_names(text: str) -> set[str]:
    """Every series name /metrics can answer a query for (histogram suffixes included)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        for sample in family.samples:
            names.add(sample.name)
        if family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_count", "_sum")}
        if family.type == "counter":
            names.add(family.name + "_total")
    return names


def test_every_metric_in_dashboard_and_alerts_exists(
    service: Service, traffic: dict[str, int]
) -> None:
    text = httpx.get(f"{service.url}/metrics", timeout=5).text
    exposed = exposed_names(text)
    used = {
        name
        for expr in rule_expressions() + dashboard_expressions()
        for name in METRIC_NAME.findall(expr)
    }
    print(f"flightontime_* names used by the rules and the dashboard: {sorted(used)}")
    assert used, "no flightontime_* metric found in the expressions"
    missing = sorted(used - exposed)
    assert not missing, f"used by the dashboard or alerts but not exposed by /metrics: {missing}"
    # Recorded series (flightontime:...) used anywhere must be defined by a recording rule.
    recorded = {
        rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule
    }
    used_recorded = {
        name
        for expr in rule_expressions() + dashboard_expressions()
        for name in RECORDED_NAME.findall(expr)
    }
    assert used_recorded <= recorded, sorted(used_recorded - recorded)
    # Every metric the architecture promises is used somewhere (dashboard or rules).
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    promised = set(re.findall(r"`(flightontime_[a-z_]+)`", architecture))
    unused = {
        name
        for name in promised
        if not any(u == name or u.startswith(name) or name.startswith(u) for u in used)
    }
    assert not unused, (
        f"metrics in docs/architecture.md never shown or alerted on: {sorted(unused)}"
    )


@pytest.fixture
def prometheus(tmp_path: Path, service: Service) -> Iterator[str]:
    """The Debian prometheus binary on a free loopback port, scraping the service every second."""
    binary = need("prometheus")
    port = free_port()
    config = loopback_config(tmp_path, service.url.removeprefix("http://"))
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
                "--web.enable-lifecycle",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200,
            60,
            "Prometheus to become ready",
        )
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        print(log.read_text(errors="replace")[-2000:])


def query(url: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def test_prometheus_scrapes_the_service(
    prometheus: str, service: Service, traffic: dict[str, int]
) -> None:
    started = time.monotonic()
    up = wait_until(lambda: query(prometheus, 'up{job="flightontime"} == 1'), 60, "up == 1")
    info = wait_until(
        lambda: query(prometheus, "flightontime_model_info"), 60, "flightontime_model_info"
    )
    print(
        f"series present after {time.monotonic() - started:.1f}s: up={up[0]['value'][1]} "
        f"model_info={info[0]['metric']}"
    )
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    versions = {s["metric"]["version"] for s in info}
    assert versions & {str(manifest.get("model_version")), str(manifest.get("version"))}, versions

    predictions = wait_until(
        lambda: query(prometheus, "sum(flightontime_predictions_total)"),
        30,
        "the prediction counter",
    )
    # The traffic fixture made 16 single predictions and a batch of 2.
    assert float(predictions[0]["value"][1]) >= traffic["predict"] + 2

    # More traffic while Prometheus watches, so rate()-based recording rules get a value.
    with httpx.Client(base_url=service.url, timeout=10) as client:
        for _ in range(5):
            from .conftest import BACKEND_REQUEST

            client.post("/predict", json=BACKEND_REQUEST, headers=service.headers())
            time.sleep(0.5)
    for record in (
        "flightontime:prediction_probability:mean_rate1h",
        "flightontime:predictions_atrasado:ratio_rate1h",
        "flightontime:http_requests:rate5m",
        "flightontime:reference_positive_rate",
    ):
        result = wait_until(lambda r=record: query(prometheus, r), 30, record)
        print(f"{record} = {result[0]['value'][1]}")
    mean = float(
        query(prometheus, "flightontime:prediction_probability:mean_rate1h")[0]["value"][1]
    )
    assert 0.0 <= mean <= 1.0

    # Every rule loaded and evaluated without error.
    groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    bad = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    assert not bad, bad
    loaded_alerts = {r["name"] for r in rules if r["type"] == "alerting"}
    assert loaded_alerts == ALERT_NAMES
    firing = {
        a["labels"]["alertname"]
        for a in httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    }
    print(f"{len(rules)} rules healthy; alerts pending/firing now: {sorted(firing) or 'none'}")
    assert "FlightOnTimeDown" not in firing
