"""Monitoring, for real: promtool on the configuration and rules, the real Prometheus (Debian's
package) scraping the real service on loopback, the metric names and labels used by the
dashboard and the alerts checked against the service's /metrics output, and the alert rules
firing on the live service."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
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

from .conftest import (
    BACKEND_REQUEST,
    DOCKER,
    MODEL_DIR,
    MONITORING,
    ROOT,
    Service,
    free_port,
    need,
    wait_until,
)

pytestmark = pytest.mark.ops

RULES = sorted((MONITORING / "rules").glob("*.yml"))
DASHBOARD = MONITORING / "grafana" / "dashboards" / "flightontime.json"
COMPOSE = DOCKER / "compose.yml"
COMPOSE_MONITORING = DOCKER / "compose.monitoring.yml"
# The metrics' one definition: the server's module (its names kept from the first generation).
METRICS_MODULE = ROOT / "packages" / "server" / "src" / "flightontime_server" / "metrics.py"
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
# A selector of a raw series with its optional label matchers, a matcher, a grouping clause.
SELECTOR = re.compile(r"\b(flightontime_[a-zA-Z0-9_]+)\s*(?:\{([^}]*)\})?")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*([a-zA-Z0-9_:]+)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)")
# Labels Prometheus adds to every scraped series (not in /metrics).
TARGET_LABELS = {"job", "instance"}
DECLARED = re.compile(r'\b(?:Counter|Gauge|Histogram|Summary)\(\s*"(flightontime_[a-z0-9_]+)"')


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


def loopback_config(
    tmp: Path,
    target: str,
    interval: str = "1s",
    *,
    alert_for: str | None = None,
    extra_targets: tuple[str, ...] = (),
) -> Path:
    """deploy/monitoring/prometheus.yml with the service on loopback and the repo's rule files;
    with `alert_for`, every alert's `for` shortened to it (the expressions unchanged), and
    `extra_targets` scraped by the same job."""
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["global"]["scrape_timeout"] = interval
    config["rule_files"] = [str(p) for p in RULES]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["flightontime"]["static_configs"] = [{"targets": [target, *extra_targets]}]
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
            for rule in group["rules"]:
                if alert_for is not None and "alert" in rule and "for" in rule:
                    rule["for"] = alert_for
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


def generate_reference(manifest: Path, *args: str) -> str:
    """deploy/monitoring/generate_reference_rules.py's output for `manifest`."""
    return subprocess.run(
        [sys.executable, str(MONITORING / "generate_reference_rules.py"), str(manifest), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def reference_values(text: str) -> dict[str, float]:
    doc = yaml.safe_load(text)
    return {
        r["record"]: float(re.fullmatch(r"vector\(([0-9.]+)\)", r["expr"]).group(1))  # type: ignore[union-attr]
        for g in doc["groups"]
        for r in g["rules"]
    }


def reference_versions(text: str) -> set[str]:
    doc = yaml.safe_load(text)
    return {r["labels"]["model_version"] for g in doc["groups"] for r in g["rules"]}


def test_reference_rules_come_from_the_model_card(tmp_path: Path) -> None:
    """The committed drift references equal what the generator makes of models/default."""
    generated = generate_reference(MODEL_DIR / "manifest.json")
    committed = (MONITORING / "rules" / "flightontime-reference.yml").read_text()
    values = reference_values

    print(generated)
    assert values(generated) == pytest.approx(values(committed), abs=0.0015), (
        "rules/flightontime-reference.yml is stale: run `make monitoring-reference`"
    )
    positive_rate = values(generated)["flightontime:reference_positive_rate"]
    assert 0.0 < positive_rate < 1.0
    # The numbers are the core manifest's: metrics.model.without_weather.<primary threshold>.
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    primary = str(manifest["metrics"]["primary_threshold"])
    assert primary == str(manifest["behaviour"]["thresholds"][0])
    block = manifest["metrics"]["model"]["without_weather"][primary]
    at = block["at_decision_threshold"]
    assert at["threshold"] == manifest["behaviour"]["decision_threshold"]
    assert positive_rate == pytest.approx(block["observed_rate"], abs=5e-5)
    assert values(generated)["flightontime:reference_atrasado_share"] == pytest.approx(
        at["recall"] * block["observed_rate"] / at["precision"], abs=5e-5
    )
    assert reference_versions(committed) == {manifest["model_version"]}, (
        "rules/flightontime-reference.yml names another model: run `make monitoring-reference`"
    )
    # With a forecast the model answers "Atrasado" less often (the alert's 0.20 covers both).
    with_weather = values(
        generate_reference(MODEL_DIR / "manifest.json", "--inputs", "with_weather")
    )
    print(f"with_weather: {with_weather}")
    gap = abs(
        with_weather["flightontime:reference_atrasado_share"]
        - values(generated)["flightontime:reference_atrasado_share"]
    )
    assert gap < 0.20


def test_reference_generator_refuses_what_is_no_manifest(tmp_path: Path) -> None:
    """A manifest of another bundle format (the first generation's were 1 and 2) is refused
    with the reason, not turned into references."""
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    old = tmp_path / "manifest.json"
    old.write_text(json.dumps({**manifest, "format": 2}))
    result = subprocess.run(
        [sys.executable, str(MONITORING / "generate_reference_rules.py"), str(old)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "format 2" in result.stderr
    assert not result.stdout


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
    compose = yaml.safe_load(COMPOSE_MONITORING.read_text())
    grafana_mounts = compose["services"]["grafana"]["volumes"]
    # Compose resolves the paths from docker/, the file's directory.
    assert (
        f"../deploy/monitoring/grafana/dashboards:{provider['options']['path']}:ro"
        in grafana_mounts
    )


def test_compose_monitoring_file() -> None:
    compose = yaml.safe_load(COMPOSE_MONITORING.read_text())
    services = compose["services"]
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith(("./", "../")):
                # Relative to docker/ (the Compose file's directory), inside the repository.
                resolved = (DOCKER / source).resolve()
                assert resolved.is_relative_to(ROOT), f"{name} mounts {source} from outside"
                assert resolved.exists(), f"{name} mounts missing {source}"
    # The datasource URL names the Prometheus service of the compose file.
    datasource = yaml.safe_load(
        (MONITORING / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"
    # With the production compose file: a valid merged project whose API container is the
    # scrape target of prometheus.yml.
    target = yaml.safe_load((MONITORING / "prometheus.yml").read_text())["scrape_configs"][0]
    host = target["static_configs"][0]["targets"][0].split(":")[0]
    if COMPOSE.exists() and (tool := _compose_tool()):
        result = subprocess.run(
            [
                *tool,
                "-f",
                str(COMPOSE.relative_to(ROOT)),
                "-f",
                str(COMPOSE_MONITORING.relative_to(ROOT)),
                "config",
            ],
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


def exposed_labels(text: str) -> dict[str, dict[str, set[str]]]:
    """Series name -> label name -> the values /metrics shows for it."""
    labels: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            of_series = labels.setdefault(sample.name, {})
            for label, value in sample.labels.items():
                of_series.setdefault(label, set()).add(value)
    return labels


def declared_metrics() -> set[str]:
    """The flightontime_* metrics packages/server/.../metrics.py declares (counters without
    the `_total` prometheus_client adds back)."""
    names = set(DECLARED.findall(METRICS_MODULE.read_text(encoding="utf-8")))
    return {name.removesuffix("_total") for name in names}


def label_problems(expr: str, labels: dict[str, dict[str, set[str]]]) -> list[str]:
    """Labels an expression reads from raw flightontime_* series that the scrape does not have:
    matcher names, exact matcher values (`=`, or `=~` without regex syntax; Grafana variables
    and real regexes skipped) and the labels of its `by (...)` / `without (...)` clauses."""
    problems: list[str] = []
    selected: set[str] = set()
    for name, matchers in SELECTOR.findall(expr):
        if name not in labels:
            continue  # a missing name is reported by the name check
        selected.add(name)
        for label, op, value in MATCHER.findall(matchers or ""):
            if label in TARGET_LABELS:
                continue
            if label not in labels[name]:
                problems.append(f"{name}{{{label}{op}...}}: {name} has no label {label!r}")
                continue
            literal = "$" not in value and not re.search(r"[.*+?()\[\]|^\\]", value)
            if op in ("=", "=~") and literal and value not in labels[name][label]:
                problems.append(
                    f"{name}{{{label}{op}{value!r}}}: no such value "
                    f"(the scrape has {sorted(labels[name][label])})"
                )
    if selected:
        available = TARGET_LABELS | {label for name in selected for label in labels[name]}
        for clause in GROUPING.findall(expr):
            for label in (part.strip() for part in clause.split(",")):
                if label and label not in available:
                    problems.append(f"by/without ({label}): not a label of {sorted(selected)}")
    return problems


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
    # Every metric the server declares (flightontime_server/metrics.py, the one definition) is
    # exposed by the live service and used somewhere (dashboard or rules).
    promised = declared_metrics()
    families = {
        f.name for f in text_string_to_metric_families(text) if f.name.startswith("flightontime_")
    }
    print(f"declared in metrics.py: {sorted(promised)}")
    assert promised, f"no metric found in {METRICS_MODULE}"
    assert families == promised, (
        f"metrics.py declares {sorted(promised)}, /metrics exposes {sorted(families)}"
    )
    unused = {
        name
        for name in promised
        if not any(u == name or u.startswith(name) or name.startswith(u) for u in used)
    }
    assert not unused, f"metrics in metrics.py never shown or alerted on: {sorted(unused)}"


def test_every_label_in_dashboard_and_alerts_exists(
    service: Service, traffic: dict[str, int]
) -> None:
    """The labels (and label values) the expressions select and group by are the scrape's."""
    text = httpx.get(f"{service.url}/metrics", timeout=5).text
    labels = exposed_labels(text)
    problems = [
        f"{problem}   in: {' '.join(expr.split())}"
        for expr in rule_expressions() + dashboard_expressions()
        for problem in label_problems(expr, labels)
    ]
    assert not problems, "\n".join(problems)
    # The dashboard's template variables read labels the scrape has, and their defaults exist.
    board = json.loads(DASHBOARD.read_text())
    for var in board["templating"]["list"]:
        if var["type"] != "query":
            continue
        found = LABEL_VALUES.fullmatch(var["query"]["query"].strip())
        assert found, var["query"]["query"]
        name, label = found.groups()
        assert label in labels.get(name, {}), f"${var['name']}: {name} has no label {label}"
        default = var["current"]["value"]
        for value in default if isinstance(default, list) else [default]:
            assert value in labels[name][label], (var["name"], value, labels[name][label])
    # What the traffic fixture sent is there under the labels the rules read.
    requests = labels["flightontime_http_requests_total"]
    assert {"/predict", "/predict/batch"} <= requests["route"]
    assert {"200", "401", "422"} <= requests["status"]
    assert "POST" in requests["method"]
    assert labels["flightontime_predictions_total"]["status"] == {"Atrasado", "Pontual"}
    assert labels["flightontime_inference_seconds_count"]["kind"] == {"single", "batch"}
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    info = labels["flightontime_model_info"]
    assert info["version"] == {manifest["model_version"]}
    assert info["thresholds"] == {",".join(str(t) for t in manifest["behaviour"]["thresholds"])}
    # Probes and scrapes are not counted.
    assert not requests["route"] & {"/health", "/ready", "/metrics"}


def test_reference_rules_from_the_served_manifest(
    tmp_path: Path, service: Service, traffic: dict[str, int]
) -> None:
    """GET /model answers the core's manifest: the generator reads it like the file."""
    r = httpx.get(f"{service.url}/model", headers=service.headers(), timeout=10)
    assert r.status_code == 200, r.text
    served = r.json()
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    assert served["model_version"] == manifest["model_version"]
    assert served["behaviour"]["thresholds"] == manifest["behaviour"]["thresholds"]
    assert served["metrics"]["model"] == manifest["metrics"]["model"]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(served))
    assert reference_values(generate_reference(path)) == reference_values(
        generate_reference(MODEL_DIR / "manifest.json")
    )
    assert httpx.get(f"{service.url}/model", timeout=10).status_code == 401


@contextlib.contextmanager
def running_prometheus(tmp_path: Path, config: Path) -> Iterator[str]:
    """The Debian prometheus binary on a free loopback port with `config`; its URL."""
    binary = need("prometheus")
    port = free_port()
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


@pytest.fixture
def prometheus(tmp_path: Path, service: Service) -> Iterator[str]:
    """Prometheus scraping the service every second, the rules as shipped (1 s intervals)."""
    config = loopback_config(tmp_path, service.url.removeprefix("http://"))
    with running_prometheus(tmp_path, config) as url:
        yield url


def query(url: str, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def finite(result: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The query result if it holds a series whose value is a number (not NaN), else empty."""
    if result and math.isfinite(float(result[0]["value"][1])):
        return result
    return []


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
    assert versions == {manifest["model_version"]}, versions

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
            client.post("/predict", json=BACKEND_REQUEST, headers=service.headers())
            time.sleep(0.5)
    for record in (
        "flightontime:prediction_probability:mean_rate1h",
        "flightontime:predictions_atrasado:ratio_rate1h",
        "flightontime:http_requests:rate5m",
        "flightontime:reference_positive_rate",
    ):
        # The ratios are absent until the window holds an increase of their denominator.
        result = wait_until(lambda r=record: finite(query(prometheus, r)), 30, record)
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


# --- the alerts firing on the live service ----------------------------------------------------

# Early-morning flights on routes the model knows: each answered "Pontual" with a probability far
# below the model card's delay rate (about 0.03 to 0.09 for models/default), so a batch of them is
# traffic that has drifted from the test window on both drift signals.
DRIFTED_FLIGHTS = [
    {
        "companhia": airline,
        "origem": origin,
        "destino": destination,
        "data_partida": f"2013-11-{day:02d}T06:{minute:02d}:00",
    }
    for airline, origin, destination in (("US", "LGA", "DCA"), ("DL", "LGA", "ATL"))
    for day in (12, 13, 14)
    for minute in range(0, 60, 1)
]  # 360 flights
FAST_FOR = "1s"


def alerts(url: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()
    return body["data"]["alerts"]  # type: ignore[no-any-return]


def firing(url: str, name: str) -> list[dict[str, Any]]:
    return [a for a in alerts(url) if a["labels"]["alertname"] == name and a["state"] == "firing"]


def test_alerts_fire_on_the_live_service(tmp_path: Path, service: Service) -> None:
    """The shipped alert expressions, their `for` cut to 1 s, against the live service and a
    dead second target of the same job: FlightOnTimeDown fires for the dead target only,
    FlightOnTimeNoPredictions while no prediction arrives and not after; a batch of drifted
    traffic fires both drift alerts; the error, latency and version alerts stay quiet."""
    live = service.url.removeprefix("http://")
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    config = loopback_config(tmp_path, live, alert_for=FAST_FOR, extra_targets=(dead,))
    with running_prometheus(tmp_path, config) as url:
        started = time.monotonic()
        # Both targets scraped once (before that, `absent(up)` alone would fire the alert).
        wait_until(
            lambda: len(query(url, 'up{job="flightontime"}')) == 2, 60, "both targets scraped"
        )
        assert {
            s["metric"]["instance"]: s["value"][1] for s in query(url, 'up{job="flightontime"}')
        } == {live: "1", dead: "0"}

        def down_instances() -> set[str] | None:
            instances = {a["labels"].get("instance", "") for a in firing(url, "FlightOnTimeDown")}
            return instances if instances == {dead} else None

        wait_until(down_instances, 60, f"FlightOnTimeDown firing for {dead} alone")
        down = firing(url, "FlightOnTimeDown")
        assert down[0]["labels"]["severity"] == "critical"
        assert down[0]["annotations"]["summary"] == f"FlightOnTime is down ({dead})"
        idle = wait_until(
            lambda: firing(url, "FlightOnTimeNoPredictions"), 60, "FlightOnTimeNoPredictions"
        )
        print(
            f"after {time.monotonic() - started:.1f}s: FlightOnTimeDown firing for {dead}, "
            f"FlightOnTimeNoPredictions firing ({idle[0]['annotations']['summary']})"
        )

        before = {
            q: float(query(url, q)[0]["value"][1])
            for q in (
                "flightontime_prediction_probability_count",
                "flightontime_prediction_probability_sum",
            )
        }
        sent = time.monotonic()
        r = httpx.post(
            f"{service.url}/predict/batch",
            json={"voos": DRIFTED_FLIGHTS},
            headers=service.headers(),
            timeout=60,
        )
        assert r.status_code == 200, r.text[:500]
        answers = r.json()["resultados"]
        assert len(answers) == len(DRIFTED_FLIGHTS)
        assert all(a.get("status") == "Pontual" for a in answers), "a drifted flight was late"
        mean = sum(a["probabilidade"] for a in answers) / len(answers)
        print(f"sent {len(answers)} drifted flights, mean probability {mean:.4f}, all Pontual")

        for name in ("FlightOnTimeDriftAtrasadoShare", "FlightOnTimeDriftMeanProbability"):
            fired = wait_until(lambda n=name: firing(url, n), 60, name)
            print(
                f"{name} firing after {time.monotonic() - sent:.1f}s: "
                f"{fired[0]['annotations']['summary']} (value {fired[0]['value']})"
            )
            assert fired[0]["labels"]["severity"] == "warning"
        share = float(query(url, "flightontime:predictions_atrasado:ratio_rate1h")[0]["value"][1])
        count = float(query(url, "flightontime:predictions:count1h")[0]["value"][1])
        mean_seen = float(
            query(url, "flightontime:prediction_probability:mean_rate1h")[0]["value"][1]
        )
        after = {q: float(query(url, q)[0]["value"][1]) for q in before}
        print(
            f"Atrasado share {share}, predictions (1 h, extrapolated) {count:.0f}, "
            f"mean {mean_seen:.4f}; probability histogram count/sum {before} -> {after}"
        )
        assert share == 0.0
        assert count >= 200
        # The scraped histogram grew by exactly the batch (rate() over a few seconds of samples
        # extrapolates _sum and _count differently near their start, so the recorded mean is
        # only required to be as far from the reference as the alert needs).
        count_key, sum_key = before
        assert after[count_key] - before[count_key] == len(answers)
        assert (after[sum_key] - before[sum_key]) / len(answers) == pytest.approx(mean, abs=1e-4)
        reference = float(query(url, "flightontime:reference_positive_rate")[0]["value"][1])
        assert mean_seen < reference - 0.10
        wait_until(
            lambda: not firing(url, "FlightOnTimeNoPredictions"),
            60,
            "FlightOnTimeNoPredictions to resolve",
        )
        names = {a["labels"]["alertname"] for a in alerts(url)}
        print(f"alerts pending/firing at the end: {sorted(names)}")
        assert not names & {
            "FlightOnTimeHighErrorRate",
            "FlightOnTimeHighLatencyP99",
            "FlightOnTimeMixedModelVersions",
        }
        assert {a["labels"]["instance"] for a in firing(url, "FlightOnTimeDown")} == {dead}
