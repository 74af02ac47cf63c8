"""Kubernetes manifests (deploy/k8s): render, schema, restricted pods, probes, scaling, network.

Needs kubectl for kustomize (skipped without it); `make validate-k8s` installs a pinned one.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from flightontime_server.settings import Settings, SettingsError, variable

from .conftest import K8S, OVERLAYS, ROOT
from .k8s_schema import validate_documents, validate_object

Obj = dict[str, Any]


def of_kind(objs: list[Obj], kind: str) -> list[Obj]:
    return [o for o in objs if o["kind"] == kind]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_labels(deployment: Obj) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def container(deployment: Obj) -> Obj:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: Obj = containers[0]
    return result


def env(deployment: Obj) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(deployment)["env"]}


def to_cores(value: str | int | float) -> float:
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def to_bytes(value: str | int) -> int:
    """Kubernetes quantities (Mi, Gi) and Compose sizes (M, G = binary units, as Docker)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]i?)?[bB]?", str(value))
    assert match, value
    power = {"K": 1, "M": 2, "G": 3, "T": 4}.get((match.group(2) or " ")[0], 0)
    return int(float(match.group(1)) * 1024**power)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_matches_the_api_schema(render: Any, overlay: str) -> None:
    objs = render(overlay)
    assert validate_documents(objs) == []
    kinds = {o["kind"] for o in objs}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceAccount",
    } <= kinds
    assert all(o["metadata"].get("namespace") == "flightontime" for o in objs)


def test_schema_check_rejects_unknown_fields_and_wrong_types() -> None:
    bad_field = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "i", "readinessprobe": {}}]},
            },
        },
    }
    assert any("readinessprobe: unknown field" in e for e in validate_object(bad_field))
    bad_type = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"port": "eighty"}]},
    }
    assert any("port: expected int" in e for e in validate_object(bad_type))
    missing = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}, "spec": {}}
    assert validate_object(missing)  # containers is required
    removed = {"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "x"}}
    assert "not in the Kubernetes" in validate_object(removed)[0]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_meet_the_restricted_pod_security_standard(render: Any, overlay: str) -> None:
    for dep in of_kind(render(overlay), "Deployment"):
        pod = dep["spec"]["template"]["spec"]
        psc = pod["securityContext"]
        assert psc["runAsNonRoot"] is True
        assert psc["runAsUser"] == 1001
        assert psc["seccompProfile"]["type"] == "RuntimeDefault"
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key)
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["runAsUser"] == 1001
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc.get("privileged", False) is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert not sc["capabilities"].get("add")
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            assert not c.get("ports", [{}])[0].get("hostPort")
        allowed = {"emptyDir", "secret", "configMap", "projected", "downwardAPI", "ephemeral"}
        volumes = {v["name"]: v for v in pod["volumes"]}
        for v in volumes.values():
            assert set(v) - {"name"} <= allowed, v
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_graceful_termination(render: Any, overlay: str) -> None:
    for dep in of_kind(render(overlay), "Deployment"):
        c = container(dep)
        port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert port_names["http"] == Settings().port == 8000
        assert c["livenessProbe"]["httpGet"]["path"] == "/health"
        assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert c["startupProbe"]["httpGet"]["path"] in ("/health", "/ready")
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert c[probe]["httpGet"]["port"] == "http"
        # The server drains for FLIGHTONTIME_GRACEFUL_TIMEOUT_S after SIGTERM, which comes after
        # the preStop pause: the grace period must cover both.
        drain = float(
            env(dep).get("FLIGHTONTIME_GRACEFUL_TIMEOUT_S") or Settings().graceful_timeout_s
        )
        pause = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        grace = dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        assert grace > pause + drain + 5, (grace, pause, drain)
        assert env(dep)["FLIGHTONTIME_HOST"] == "0.0.0.0"
        # Every worker is ready before it accepts a connection: one 200 is the pod's readiness.
        assert c["readinessProbe"].get("successThreshold", 1) == 1


def package_version() -> str:
    about = ROOT / "packages" / "core" / "src" / "flightontime_core" / "__about__.py"
    found = re.search(r'^__version__ = "([^"]+)"', about.read_text(encoding="utf-8"), re.M)
    assert found, about
    return found.group(1)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_are_the_servers(render: Any, overlay: str) -> None:
    """Every FLIGHTONTIME_* variable is one the server reads, with a value it accepts; the
    workers' onnxruntime threads fit the CPU limit."""
    known = {variable(name) for name in Settings.__struct_fields__}
    for dep in of_kind(render(overlay), "Deployment"):
        variables = env(dep)
        ours = {k: v for k, v in variables.items() if k.startswith("FLIGHTONTIME_")}
        unknown = sorted(set(ours) - known)
        assert not unknown, f"variables the server does not read: {unknown}"
        assert all(isinstance(v, str) for v in ours.values()), ours
        try:
            settings = Settings.from_environ(ours)
        except SettingsError as exc:
            pytest.fail(f"{dep['metadata']['name']}: {exc}")
        assert settings.port == 8000
        assert settings.metrics_dir is not None
        assert settings.metrics_dir.startswith("/tmp/")  # the only writable path
        assert settings.insecure_no_auth is False
        limit = to_cores(container(dep)["resources"]["limits"]["cpu"])
        assert settings.worker_count * settings.threads <= limit, (
            settings.worker_count,
            settings.threads,
            limit,
        )


def test_base_image_is_the_packages_version() -> None:
    """The base's tag is the version docker-bake.hcl builds (`make image`)."""
    doc = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text(encoding="utf-8"))
    (image,) = doc["images"]
    assert image["name"] == "flightontime"  # the bake target `server`'s image
    assert image["newTag"] == package_version()


def compose_service() -> Obj | None:
    """The API service of docker/compose.yml (the one built from this repository)."""
    path = ROOT / "docker" / "compose.yml"
    if not path.is_file():
        return None
    services = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("services", {})
    built = [s for s in services.values() if isinstance(s, dict) and "build" in s]
    return built[0] if built else None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_match_the_compose_limits(render: Any, overlay: str) -> None:
    expected = {"cpu": (0.5, 2.0), "memory": (512 * 1024**2, 2 * 1024**3)}
    service = compose_service()
    if service is not None:
        res = service["deploy"]["resources"]
        expected = {
            "cpu": (to_cores(res["reservations"]["cpus"]), to_cores(res["limits"]["cpus"])),
            "memory": (
                to_bytes(res["reservations"]["memory"]),
                to_bytes(res["limits"]["memory"]),
            ),
        }
    for dep in of_kind(render(overlay), "Deployment"):
        r = container(dep)["resources"]
        assert (to_cores(r["requests"]["cpu"]), to_cores(r["limits"]["cpu"])) == expected["cpu"]
        assert (to_bytes(r["requests"]["memory"]), to_bytes(r["limits"]["memory"])) == expected[
            "memory"
        ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_token_comes_from_a_secret_file(render: Any, overlay: str) -> None:
    for dep in of_kind(render(overlay), "Deployment"):
        variables = env(dep)
        assert "PREDICTION_API_TOKEN" not in variables
        token_file = Path(variables["PREDICTION_API_TOKEN_FILE"])
        mounts = {m["name"]: m for m in container(dep)["volumeMounts"]}
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        (name,) = [n for n, m in mounts.items() if Path(m["mountPath"]) == token_file.parent]
        assert mounts[name]["readOnly"] is True
        secret = volumes[name]["secret"]
        assert secret["secretName"] == "flightontime-api-token"
        assert token_file.name in {item["path"] for item in secret["items"]}
    assert not of_kind(render(overlay), "Secret")  # created by the operator, never committed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_autoscaler_and_disruption_budget_fit_the_deployments(render: Any, overlay: str) -> None:
    objs = render(overlay)
    deployments = {d["metadata"]["name"]: d for d in of_kind(objs, "Deployment")}
    hpas = of_kind(objs, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas} == set(deployments)
    for hpa in hpas:
        spec = hpa["spec"]
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert 2 <= spec["minReplicas"] <= spec["maxReplicas"]
        (metric,) = spec["metrics"]
        assert metric["resource"]["name"] == "cpu"
        target = metric["resource"]["target"]
        limit = to_cores(
            container(deployments[spec["scaleTargetRef"]["name"]])["resources"]["limits"]["cpu"]
        )
        assert 0 < to_cores(target["averageValue"]) < limit  # scale before pods hit the limit
    pdbs = of_kind(objs, "PodDisruptionBudget")
    assert len(pdbs) == len(deployments)
    for pdb in pdbs:
        covered = [
            d
            for d in deployments.values()
            if matches(pdb["spec"]["selector"]["matchLabels"], pod_labels(d))
        ]
        assert len(covered) == 1
        assert pdb["spec"].get("maxUnavailable", 0) >= 1  # drains can always proceed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_the_right_pods(render: Any, overlay: str) -> None:
    objs = render(overlay)
    deployments = of_kind(objs, "Deployment")
    for svc in of_kind(objs, "Service"):
        selected = [d for d in deployments if matches(svc["spec"]["selector"], pod_labels(d))]
        assert len(selected) == 1, (svc["metadata"]["name"], len(selected))
        name = svc["metadata"]["name"]
        if name.endswith(("-blue", "-green")):
            assert selected[0]["metadata"]["name"] == name
        assert svc["spec"]["ports"][0]["targetPort"] == "http"
    if overlay == "production":
        live = next(s for s in of_kind(objs, "Service") if s["metadata"]["name"] == "flightontime")
        assert live["spec"]["selector"]["slot"] in ("blue", "green")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_admits_only_ingress_and_prometheus(render: Any, overlay: str) -> None:
    objs = render(overlay)
    deployments = of_kind(objs, "Deployment")
    for policy in of_kind(objs, "NetworkPolicy"):
        spec = policy["spec"]
        assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
        assert any(matches(spec["podSelector"]["matchLabels"], pod_labels(d)) for d in deployments)
        peers = []
        for rule in spec["ingress"]:
            assert rule.get("from"), "a rule without `from` admits every source"
            assert [p["port"] for p in rule["ports"]] == ["http"]
            peers += rule["from"]
        sources = set()
        for peer in peers:
            ns = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            pods = peer.get("podSelector", {}).get("matchLabels", {})
            assert "ipBlock" not in peer
            sources.add((ns, pods.get("app.kubernetes.io/name")))
        assert sources == {("ingress-nginx", None), ("monitoring", "prometheus")}
        # Outbound: DNS only.
        for rule in spec["egress"]:
            assert {p["port"] for p in rule["ports"]} == {53}


def test_production_runs_released_version_tags_from_the_registry(render: Any) -> None:
    for dep in of_kind(render("production"), "Deployment"):
        image = container(dep)["image"]
        repository, _, tag = image.rpartition(":")
        assert "/" in repository, f"{image}: no registry prefix"
        assert repository.endswith("/flightontime")
        assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", tag), f"{image}: not a release tag"
        assert container(dep)["imagePullPolicy"] == "Always"


def test_checkov_skips_are_inline_and_justified() -> None:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            annotations = ((doc or {}).get("metadata") or {}).get("annotations") or {}
            for key, value in annotations.items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = str(value).partition("=")
                    assert re.fullmatch(r"CKV2?_K8S_\d+", check), value
                    assert len(reason.split()) >= 5, f"{path}: {check} needs a reason"


def test_a_release_edits_only_the_production_overlay(tmp_path: Path) -> None:
    """The procedure of docs/kubernetes.md: new version on the idle slot, then switch."""
    from .conftest import kubectl

    binary = kubectl()
    if binary is None:
        pytest.skip("kubectl is not installed: `make k8s-tools`")
    import shutil
    import subprocess

    tree = tmp_path / "k8s"
    shutil.copytree(K8S, tree)
    kustomization = tree / "overlays" / "production" / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    green = text.index("name: flightontime-green")
    blue_tag = re.findall(r"value: flightontime:(\S+)", text[:green])[-1]
    green_tag = re.findall(r"value: flightontime:(\S+)", text[green:])[0]
    text = text[:green] + text[green:].replace(f"flightontime:{green_tag}", "flightontime:9.9.9", 1)
    text = text.replace(
        "path: /spec/selector/slot\n        value: blue",
        "path: /spec/selector/slot\n        value: green",
    )
    kustomization.write_text(text, encoding="utf-8")
    out = subprocess.run(
        [binary, "kustomize", str(tree / "overlays" / "production")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    objs = [d for d in yaml.safe_load_all(out) if d]
    images = {d["metadata"]["name"]: container(d)["image"] for d in of_kind(objs, "Deployment")}
    assert images["flightontime-green"].endswith("/flightontime:9.9.9")
    assert images["flightontime-blue"].endswith(f"/flightontime:{blue_tag}")
    selectors = {
        s["metadata"]["name"]: s["spec"]["selector"]["slot"] for s in of_kind(objs, "Service")
    }
    assert selectors == {
        "flightontime": "green",
        "flightontime-blue": "blue",
        "flightontime-green": "green",
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_autoscaler_alone_sets_the_replica_count(render: Any, overlay: str) -> None:
    # A `replicas` field would be re-applied by every `kubectl apply`, undoing the HPA's scaling.
    assert all("replicas" not in d["spec"] for d in of_kind(render(overlay), "Deployment"))
