"""Checkov checks for Docker Compose files (checkov has no Compose framework of its own).

Loaded by `make scan-checkov` with `--external-checks-dir tests/deploy/checkov_compose` on the
`yaml` framework; each check looks at every service under `services:`. Skip one for a service
with a justified entry in the service's extension field (Compose ignores `x-` keys):
    x-checkov-skip:
      CKV_FOT_COMPOSE_2: the reason
(checkov's inline `# checkov:skip=...` comments also work, but for the whole file.)
"""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.yaml_doc.base_yaml_check import BaseYamlCheck
from checkov.yaml_doc.enums import BlockType

_SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|PRIVATE_KEY)", re.IGNORECASE)


def _items(value: Any) -> list[str]:
    """Compose lists may be written as lists or (environment) as maps."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [f"{k}={v}" for k, v in value.items() if not str(k).startswith("__")]
    return []


class _ServiceCheck(BaseYamlCheck):
    def __init__(self, name: str, check_id: str, category: CheckCategories) -> None:
        super().__init__(
            name=name,
            id=check_id,
            categories=(category,),
            supported_entities=("services",),
            block_type=BlockType.ARRAY,
        )

    def run(  # type: ignore[override]
        self,
        scanned_file: str,
        entity_configuration: dict[str, Any],
        entity_name: str,
        entity_type: str,
        skip_info: Any,
    ) -> Any:
        # Per-service justified skip (checkov's inline comments apply to the whole file here):
        #   x-checkov-skip: {CKV_FOT_COMPOSE_2: "the reason"}; an empty reason does not skip.
        skips = (
            entity_configuration.get("x-checkov-skip")
            if isinstance(entity_configuration, dict)
            else None
        )
        reason = str(skips.get(self.id) or "").strip() if isinstance(skips, dict) else ""
        if reason and not skip_info:
            skip_info = {"id": self.id, "suppress_comment": reason}
        return super().run(scanned_file, entity_configuration, entity_name, entity_type, skip_info)

    def scan_entity_conf(self, conf: dict[str, Any], entity_type: str) -> CheckResult:  # type: ignore[override]
        if not isinstance(conf, dict):
            return CheckResult.UNKNOWN
        return self.scan_service(conf)

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        raise NotImplementedError


class NotPrivileged(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service is not privileged",
            "CKV_FOT_COMPOSE_1",
            CheckCategories.GENERAL_SECURITY,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        return CheckResult.FAILED if service.get("privileged") is True else CheckResult.PASSED


class DropsAllCapabilities(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service drops all capabilities (cap_drop: [ALL])",
            "CKV_FOT_COMPOSE_2",
            CheckCategories.GENERAL_SECURITY,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        drops = [c.upper() for c in _items(service.get("cap_drop"))]
        return CheckResult.PASSED if "ALL" in drops else CheckResult.FAILED


class NoNewPrivileges(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service sets no-new-privileges",
            "CKV_FOT_COMPOSE_3",
            CheckCategories.GENERAL_SECURITY,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        opts = [o.replace(" ", "") for o in _items(service.get("security_opt"))]
        ok = any(
            o in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true")
            for o in opts
        )
        return CheckResult.PASSED if ok else CheckResult.FAILED


class HasResourceLimits(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service has CPU and memory limits",
            "CKV_FOT_COMPOSE_4",
            CheckCategories.GENERAL_SECURITY,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        memory = limits.get("memory") or service.get("mem_limit")
        cpus = limits.get("cpus") or service.get("cpus")
        return CheckResult.PASSED if memory and cpus else CheckResult.FAILED


class NoHostNamespaces(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service shares no host namespace (network, pid, ipc)",
            "CKV_FOT_COMPOSE_5",
            CheckCategories.NETWORKING,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        shared = [k for k in ("network_mode", "pid", "ipc") if service.get(k) == "host"]
        return CheckResult.FAILED if shared else CheckResult.PASSED


class NoEngineSocket(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service does not mount the container engine's socket",
            "CKV_FOT_COMPOSE_6",
            CheckCategories.GENERAL_SECURITY,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        volumes = service.get("volumes") or []
        # Short syntax "src:dst[:mode]" or long syntax {source: ...}.
        text = " ".join(
            str(v.get("source", "")) if isinstance(v, dict) else str(v) for v in volumes
        )
        # The socket itself, or a mount of the directory that holds it (read-only does not stop
        # a client from connecting to it).
        exposed = re.search(r"(docker|podman)\.sock|(^|\s)/(var/)?run/?(:|\s|$)", text)
        return CheckResult.FAILED if exposed else CheckResult.PASSED


class OwnImageReadOnly(_ServiceCheck):
    """The project's own image (a service with `build:`) runs on a read-only root file system."""

    def __init__(self) -> None:
        super().__init__(
            "Compose service built from this repository runs read_only",
            "CKV_FOT_COMPOSE_7",
            CheckCategories.GENERAL_SECURITY,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        if "build" not in service:
            return CheckResult.UNKNOWN
        return CheckResult.PASSED if service.get("read_only") is True else CheckResult.FAILED


class NoLiteralSecrets(_ServiceCheck):
    def __init__(self) -> None:
        super().__init__(
            "Compose service has no literal secret in its environment "
            "(use ${VAR} interpolation or secrets:)",
            "CKV_FOT_COMPOSE_8",
            CheckCategories.SECRETS,
        )

    def scan_service(self, service: dict[str, Any]) -> CheckResult:
        for item in _items(service.get("environment")):
            name, sep, value = item.partition("=")
            if (
                sep
                and _SECRET_NAME.search(name)
                and not name.upper().endswith("_FILE")
                and value not in ("", "None")
                and not value.startswith("${")
            ):
                return CheckResult.FAILED
        return CheckResult.PASSED


CHECKS = (
    NotPrivileged(),
    DropsAllCapabilities(),
    NoNewPrivileges(),
    HasResourceLimits(),
    NoHostNamespaces(),
    NoEngineSocket(),
    OwnImageReadOnly(),
    NoLiteralSecrets(),
)
