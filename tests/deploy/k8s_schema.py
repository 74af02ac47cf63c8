"""Strict offline validation of Kubernetes manifests against the API schema.

The schema is the one the official `kubernetes` Python client is generated from (its models carry
every field's JSON name and type; client 3X.Y is generated from Kubernetes 1.3X). Each object is
checked two ways:

1. a strict walk of the document against the model's `openapi_types`/`attribute_map`: an unknown
   field (a typo, a field at the wrong level) or a value of the wrong type is an error with its
   path, which the client's own deserializer would silently drop;
2. the client's deserializer (`ApiClient.deserialize`) with client-side validation on: required
   fields and the enumerations the models know.

Usage: python tests/deploy/k8s_schema.py FILE.yaml [FILE.yaml ...]   (exit 1 on any error)
"""

from __future__ import annotations

import inspect
import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes import client

# Older clients spell containers `list[X]` / `dict(str, X)`, newer ones `List[X]` / `Dict[str, X]`.
_LIST = re.compile(r"^[Ll]ist\[(.+)\]$")
_DICT = re.compile(r"^(?:dict\(str, (.+)\)|Dict\[str, (.+)\])$")
_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
    "bytes": (str,),
}


def kubernetes_version() -> str:
    """The Kubernetes minor release the client's models come from (client 33.x -> 1.33)."""
    return f"1.{kubernetes.__version__.split('.')[0]}"


def model_name(api_version: str, kind: str) -> str:
    """`apps/v1` + `Deployment` -> `V1Deployment`; `autoscaling/v2` + `HorizontalPodAutoscaler`
    -> `V2HorizontalPodAutoscaler`."""
    version = api_version.rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + kind


class _Response:
    """What an older `ApiClient.deserialize` reads: an object with `.data` (JSON text)."""

    def __init__(self, data: Any) -> None:
        self.data = json.dumps(data)


def _deserialize(doc: dict[str, Any], type_name: str) -> None:
    """The client's own deserializer (both generator generations of its signature)."""
    api = client.ApiClient()
    if "content_type" in inspect.signature(api.deserialize).parameters:
        api.deserialize(json.dumps(doc), type_name, "application/json")
    else:
        api.deserialize(_Response(doc), type_name)


def _walk(value: Any, type_name: str, path: str, errors: list[str]) -> None:
    if value is None:
        return
    if type_name == "object":
        return
    if type_name in _PRIMITIVES:
        allowed = _PRIMITIVES[type_name]
        if isinstance(value, bool) and bool not in allowed:
            errors.append(f"{path}: expected {type_name}, got a boolean ({value!r})")
        elif not isinstance(value, allowed):
            errors.append(f"{path}: expected {type_name}, got {type(value).__name__} ({value!r})")
        return
    if match := _LIST.match(type_name):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _walk(item, match.group(1), f"{path}[{i}]", errors)
        return
    if match := _DICT.match(type_name):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for key, item in value.items():
            if not isinstance(key, str):
                errors.append(f"{path}: map key {key!r} is not a string")
            _walk(item, match.group(1) or match.group(2), f"{path}.{key}", errors)
        return
    model = getattr(client.models, type_name, None)
    if model is None:
        errors.append(f"{path}: the schema has no type {type_name}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({type_name}), got {type(value).__name__}")
        return
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    for key, item in value.items():
        attr = by_json.get(key)
        if attr is None:
            errors.append(f"{path}.{key}: unknown field (not in {type_name})")
            continue
        _walk(item, model.openapi_types[attr], f"{path}.{key}", errors)


def validate_object(doc: dict[str, Any]) -> list[str]:
    """Errors for one object (empty when it is valid)."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return ["apiVersion and kind are required"]
    name = (doc.get("metadata") or {}).get("name", "?")
    where = f"{kind}/{name}"
    type_name = model_name(api_version, kind)
    if getattr(client.models, type_name, None) is None:
        version = kubernetes_version()
        return [f"{where}: {api_version} {kind} is not in the Kubernetes {version} API"]
    errors: list[str] = []
    _walk(doc, type_name, where, errors)
    if not (doc.get("metadata") or {}).get("name"):
        errors.append(f"{where}: metadata.name is required")
    if not errors:
        try:
            _deserialize(doc, type_name)
        except (ValueError, TypeError) as exc:
            errors.append(f"{where}: {exc}")
    return errors


def validate_documents(docs: Iterable[Any]) -> list[str]:
    """Errors for a stream of YAML documents; also duplicate objects."""
    errors: list[str] = []
    seen: set[tuple[str, str, str, str]] = set()
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            errors.append(f"a document is not an object: {doc!r:.60}")
            continue
        errors.extend(validate_object(doc))
        meta = doc.get("metadata") or {}
        key = (
            str(doc.get("apiVersion")),
            str(doc.get("kind")),
            str(meta.get("namespace", "")),
            str(meta.get("name", "")),
        )
        if key in seen:
            errors.append(f"duplicate object {key}")
        seen.add(key)
    return errors


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for name in argv:
        docs = list(yaml.safe_load_all(Path(name).read_text(encoding="utf-8")))
        errors = validate_documents(docs)
        kinds = ", ".join(sorted({str(d.get("kind")) for d in docs if isinstance(d, dict)}))
        if errors:
            failed = True
            print(f"FAIL {name}: {len(errors)} error(s)")
            for error in errors:
                print(f"  - {error}")
        else:
            count = sum(1 for d in docs if d)
            print(
                f"ok   {name}: {count} objects ({kinds}) valid against the Kubernetes "
                f"{kubernetes_version()} API schema"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
