"""Build docker-bake.hcl's targets with podman where `docker buildx bake` is not available.

  python scripts/bake.py [GROUP|TARGET ...]          build (default: the group "default")
  python scripts/bake.py --print release             the resolved definition, as `bake --print`
  python scripts/bake.py --dry-run release           the podman commands, nothing run
  python scripts/bake.py release --insecure-registry push to a plain-HTTP registry (loopback)
  python scripts/bake.py release --load              build with the release tags, push nothing

It reads the bake file with python-hcl2's parser and evaluates it as bake does: variables take
their default unless an environment variable of the same name is set; `function` blocks, the
expressions and the few standard-library functions the file uses; `inherits` (maps merged key by
key, the last parent and then the target itself winning; annotations and attestations
appended); groups of groups. Each target is then built with exactly its Dockerfile (relative to
its context, as in bake), context, build stage, build arguments, labels and tags, always with
--pull=never and the Docker image format (podman keeps HEALTHCHECK only in that format); an
output of type=registry pushes every tag. What podman cannot do here is reported on stderr,
never dropped silently: platforms other than this machine's, attestations (SBOM, provenance),
and manifest annotations (the Docker format has none; the labels carry the same keys).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_FILE = ROOT / "docker-bake.hcl"

# Target attributes: how `inherits` combines them (bake's Target.Merge) and whether podman can
# honour them here.
MAP_ATTRIBUTES = ("args", "labels", "contexts")
APPENDED_ATTRIBUTES = ("annotations", "attest", "cache-from", "secret", "ssh")
BUILT = {"context", "dockerfile", "target", "args", "labels", "tags", "no-cache", "pull"}
REPORTED = {"platforms", "attest", "annotations", "output", "cache-from", "cache-to"}
IGNORED = {"description", "inherits"}
# Attributes this script cannot turn into a podman build: refused rather than half-built.
REFUSED = {"contexts", "dockerfile-inline", "secret", "ssh", "matrix", "name", "call", "network"}


class BakeError(Exception):
    """The bake file cannot be read, evaluated or built the way bake would."""


# ---------------------------------------------------------------------------------------------
# Values: str, int, float, bool, None, list, dict (cty's string, number, bool, null, tuple, object).


def _text(value: Any) -> str:
    """A value in a string template (cty's conversion to string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float, str)):
        return str(value)
    if value is None:
        raise BakeError("a null value cannot be interpolated into a string")
    raise BakeError(f"a {type(value).__name__} cannot be interpolated into a string")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):  # cty converts these strings
        return value == "true"
    raise BakeError(f"expected a bool, got {value!r}")


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise BakeError(f"expected a number, got {value!r}")
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                pass
    raise BakeError(f"expected a number, got {value!r}")


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise BakeError(f"expected a list, got {value!r}")


def _substr(text: Any, offset: Any, length: Any) -> str:
    s, start, n = _text(text), int(_number(offset)), int(_number(length))
    if start < 0:
        start = max(0, len(s) + start)
    return s[start:] if n < 0 else s[start : start + n]


def _join(sep: Any, *lists: Any) -> str:
    return _text(sep).join(_text(v) for lst in lists for v in _list(lst))


def _slice(lst: Any, start: Any, end: Any) -> list[Any]:
    items, a, b = _list(lst), int(_number(start)), int(_number(end))
    if not 0 <= a <= b <= len(items):
        raise BakeError(f"slice({items!r}, {a}, {b}): index out of range")
    return items[a:b]


def _concat(*lists: Any) -> list[Any]:
    return [v for lst in lists for v in _list(lst)]


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    raise BakeError("coalesce: no non-null, non-empty argument")


def _length(value: Any) -> int:
    if isinstance(value, (str, list, dict)):
        return len(value)
    raise BakeError(f"length of {value!r}")


# The go-cty standard-library functions bake offers that this script implements (others raise).
STDLIB: dict[str, Callable[..., Any]] = {
    "concat": _concat,
    "join": _join,
    "split": lambda sep, s: _text(s).split(_text(sep)),
    "slice": _slice,
    "substr": _substr,
    "upper": lambda s: _text(s).upper(),
    "lower": lambda s: _text(s).lower(),
    "replace": lambda s, old, new: _text(s).replace(_text(old), _text(new)),
    "regex_replace": lambda s, pattern, new: re.sub(_text(pattern), _text(new), _text(s)),
    "trimprefix": lambda s, p: _text(s).removeprefix(_text(p)),
    "trimsuffix": lambda s, p: _text(s).removesuffix(_text(p)),
    "trimspace": lambda s: _text(s).strip(),
    "length": _length,
    "contains": lambda lst, v: v in _list(lst),
    "coalesce": _coalesce,
    "equal": lambda a, b: a == b,
    "notequal": lambda a, b: a != b,
    "and": lambda *v: all(_bool(x) for x in v),
    "or": lambda *v: any(_bool(x) for x in v),
    "not": lambda v: not _bool(v),
}

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(raw: str) -> str:
    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] in "uU":
            return chr(int(code[1:], 16))
        return _ESCAPES[code]

    return re.sub(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[ntr\"\\])", one, raw)


@dataclass
class UserFunction:
    name: str
    params: list[str]
    variadic: str | None
    result: Tree[Token]


def _skip(node: Any) -> bool:
    """Punctuation and comments: parse tree children that carry no value."""
    if isinstance(node, Token):
        return True
    return bool(node.data == "new_line_or_comment")


def _kids(node: Tree[Token]) -> list[Tree[Token]]:
    return [c for c in node.children if not _skip(c)]


def _token(node: Tree[Token]) -> str:
    (tok,) = [c for c in node.children if isinstance(c, Token)]
    return str(tok)


def _key(node: Tree[Token]) -> str:
    """An attribute or block name / label: identifier, keyword or "string"."""
    if node.data in ("identifier", "keyword", "literal_value"):
        return _token(node)
    if node.data == "string":
        return "".join(_unescape(str(p.children[0])) for p in _kids(node))
    raise BakeError(f"unexpected name {node.data}")


class Evaluator:
    """Evaluates HCL expressions over the bake file's variables and functions."""

    def __init__(self, variables: Callable[[str], Any], functions: dict[str, UserFunction]):
        self.variables = variables
        self.functions = functions

    def eval(self, node: Tree[Token], scope: Mapping[str, Any]) -> Any:
        kind = node.data
        kids = _kids(node)
        if kind == "expr_term":
            if not kids:
                raise BakeError("empty expression")
            return self.eval(kids[0], scope)
        if kind == "literal_value":
            return {"true": True, "false": False, "null": None}[_token(node)]
        if kind == "int_lit":
            return int(_token(node))
        if kind == "float_lit":
            return float(_token(node))
        if kind == "string":
            return self._string(node, scope)
        if kind == "identifier":
            name = _token(node)
            if name in scope:
                return scope[name]
            return self.variables(name)
        if kind == "tuple":
            return [self.eval(k, scope) for k in kids]
        if kind == "object":
            out: dict[str, Any] = {}
            for elem in kids:
                key_node, value_node = _kids(elem)
                (inner,) = _kids(key_node)
                key = self._object_key(inner, scope)
                out[key] = self.eval(value_node, scope)
            return out
        if kind == "conditional":
            cond, yes, no = kids
            return self.eval(yes if _bool(self.eval(cond, scope)) else no, scope)
        if kind == "binary_op":
            return self._binary(kids, scope)
        if kind == "unary_op":
            op = next(str(c) for c in node.children if isinstance(c, Token))
            value = self.eval(kids[0], scope)
            return (not _bool(value)) if op == "!" else -_number(value)
        if kind == "function_call":
            return self._call(kids, scope)
        if kind == "index_expr_term":
            base, index = kids
            container = self.eval(base, scope)
            if index.data == "short_index":
                key: Any = int(_token(index))
            else:
                key = self.eval(_kids(index)[0], scope)
            try:
                return container[int(_number(key)) if isinstance(container, list) else key]
            except (IndexError, KeyError, TypeError) as exc:
                raise BakeError(f"index {key!r} not in {container!r}") from exc
        if kind == "get_attr_expr_term":
            base, attr = kids
            container = self.eval(base, scope)
            name = _key(_kids(attr)[0])
            if not isinstance(container, dict) or name not in container:
                raise BakeError(f"no attribute {name!r} in {container!r}")
            return container[name]
        if kind == "for_tuple_expr":
            return self._for_tuple(kids, scope)
        raise BakeError(f"scripts/bake.py does not evaluate HCL {kind!r} expressions")

    def _object_key(self, node: Tree[Token], scope: Mapping[str, Any]) -> str:
        # `{ name = v }`: a bare identifier is the key itself, not a variable.
        if node.data == "expr_term":
            (inner,) = _kids(node)
            if inner.data == "identifier":
                return _token(inner)
            return _text(self.eval(inner, scope))
        return _key(node)

    def _string(self, node: Tree[Token], scope: Mapping[str, Any]) -> str:
        parts: list[str] = []
        for part in _kids(node):
            (piece,) = part.children
            if isinstance(piece, Token):
                if piece.type == "ESCAPED_INTERPOLATION" or piece.type == "ESCAPED_DIRECTIVE":
                    parts.append(str(piece)[1:])
                else:
                    parts.append(_unescape(str(piece)))
            elif piece.data == "interpolation":
                parts.append(_text(self.eval(_kids(piece)[0], scope)))
            else:
                raise BakeError(f"scripts/bake.py does not evaluate template {piece.data!r}")
        return "".join(parts)

    def _binary(self, kids: list[Tree[Token]], scope: Mapping[str, Any]) -> Any:
        left = self.eval(kids[0], scope)
        for term in kids[1:]:
            op_node, right_node = _kids(term)
            op = _token(op_node)
            if op == "&&":
                left = _bool(left) and _bool(self.eval(right_node, scope))
                continue
            if op == "||":
                left = _bool(left) or _bool(self.eval(right_node, scope))
                continue
            right = self.eval(right_node, scope)
            if op == "==":
                left = left == right
            elif op == "!=":
                left = left != right
            elif op in ("<", ">", "<=", ">="):
                a, b = _number(left), _number(right)
                left = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
            elif op in ("+", "-", "*", "/", "%"):
                a, b = _number(left), _number(right)
                left = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}.get(
                    op, a % b if b else None
                )
                if left is None:
                    raise BakeError("division by zero")
            else:
                raise BakeError(f"operator {op}")
        return left

    def _call(self, kids: list[Tree[Token]], scope: Mapping[str, Any]) -> Any:
        name = _token(kids[0])
        args: list[Any] = []
        if len(kids) > 1:
            args = [self.eval(a, scope) for a in _kids(kids[1])]
        if name in self.functions:
            fn = self.functions[name]
            if len(args) < len(fn.params) or (fn.variadic is None and len(args) > len(fn.params)):
                raise BakeError(f"{name}() takes {len(fn.params)} arguments, got {len(args)}")
            local = dict(zip(fn.params, args, strict=False))
            if fn.variadic is not None:
                local[fn.variadic] = args[len(fn.params) :]
            # A function sees its parameters, the variables and the other functions only.
            return self.eval(fn.result, local)
        if name in STDLIB:
            try:
                return STDLIB[name](*args)
            except TypeError as exc:
                raise BakeError(f"{name}(): {exc}") from exc
        raise BakeError(f"function {name}() is not available in scripts/bake.py")

    def _for_tuple(self, kids: list[Tree[Token]], scope: Mapping[str, Any]) -> list[Any]:
        intro, body, *cond = kids
        parts = _kids(intro)
        names = [_token(p) for p in parts if p.data == "identifier"]
        source = self.eval(parts[-1], scope)
        items = list(source.items()) if isinstance(source, dict) else list(enumerate(source))
        out = []
        for key, value in items:
            local = dict(scope)
            if len(names) == 2:
                local[names[0]], local[names[1]] = key, value
            else:
                local[names[0]] = value
            if cond and not _bool(self.eval(_kids(cond[0])[0], local)):
                continue
            out.append(self.eval(body, local))
        return out


def _env_value(raw: str, default: Any) -> Any:
    """An environment override, typed like the variable's default (bake's rule)."""
    if isinstance(default, bool):
        low = raw.strip()
        if low in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if low in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise BakeError(f"{raw!r} is not a bool")
    if isinstance(default, (int, float)):
        return _number(raw)
    return raw


@dataclass
class BakeFile:
    """The evaluated bake file: variables, groups and targets (inherits resolved)."""

    path: Path
    environ: Mapping[str, str]
    variables: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    raw_targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = DEFAULT_FILE, environ: Mapping[str, str] | None = None) -> BakeFile:
        env = os.environ if environ is None else environ
        tree = hcl2.parses_to_tree(path.read_text())
        (body,) = _kids(tree)
        var_nodes: dict[str, Tree[Token] | None] = {}
        attr_nodes: dict[str, Tree[Token]] = {}
        functions: dict[str, UserFunction] = {}
        group_nodes: dict[str, Tree[Token]] = {}
        target_nodes: dict[str, Tree[Token]] = {}
        for item in _kids(body):
            if item.data == "attribute":
                name_node, value = _kids(item)
                attr_nodes[_key(name_node)] = value
                continue
            kind, *labels, block_body = _kids(item)
            block = _key(kind)
            names = [_key(label) for label in labels]
            if len(names) != 1:
                raise BakeError(f"{block} block needs exactly one label, has {names}")
            attrs = _attributes(block_body)
            if block == "variable":
                var_nodes[names[0]] = attrs.get("default")
            elif block == "function":
                params = _kids(attrs["params"])[0] if "params" in attrs else None
                variadic = attrs.get("variadic_param")
                functions[names[0]] = UserFunction(
                    names[0],
                    [_token(_kids(p)[0]) for p in _kids(params)] if params is not None else [],
                    _token(_kids(variadic)[0]) if variadic is not None else None,
                    attrs["result"],
                )
            elif block == "group":
                group_nodes[names[0]] = block_body
            elif block == "target":
                target_nodes[names[0]] = block_body
            else:
                raise BakeError(f"unknown block type {block!r}")

        bake = cls(path=path, environ=env)
        resolving: list[str] = []

        def variable(name: str) -> Any:
            if name in bake.variables:
                return bake.variables[name]
            if name not in var_nodes and name not in attr_nodes:
                raise BakeError(f"There is no variable named {name!r}")
            if name in resolving:
                raise BakeError(f"variables refer to each other: {' -> '.join(resolving)}")
            resolving.append(name)
            try:
                node = var_nodes.get(name, attr_nodes.get(name))
                default = None if node is None else evaluator.eval(node, {})
                if name in var_nodes and name in env:
                    value = _env_value(env[name], default)
                else:
                    value = default
            finally:
                resolving.pop()
            bake.variables[name] = value
            return value

        evaluator = Evaluator(variable, functions)
        for name in [*var_nodes, *attr_nodes]:
            variable(name)
        for name, node in group_nodes.items():
            attrs = _attributes(node)
            bake.groups[name] = [_text(t) for t in _list(evaluator.eval(attrs["targets"], {}))]
        for name, node in target_nodes.items():
            bake.raw_targets[name] = {
                key: evaluator.eval(value, {}) for key, value in _attributes(node).items()
            }
        return bake

    def target(self, name: str) -> dict[str, Any]:
        """A target with its `inherits` applied (bake's merge), and bake's defaults."""
        merged = self._inherited(name, ())
        merged.setdefault("context", ".")
        merged.setdefault("dockerfile", "Dockerfile")
        return merged

    def _inherited(self, name: str, _chain: tuple[str, ...]) -> dict[str, Any]:
        if name not in self.raw_targets:
            raise BakeError(f"failed to find target {name!r}")
        if name in _chain:
            raise BakeError(f"inherits cycle: {' -> '.join((*_chain, name))}")
        own = self.raw_targets[name]
        merged: dict[str, Any] = {}
        for parent in own.get("inherits", []):
            _merge(merged, self._inherited(parent, (*_chain, name)))
        _merge(merged, {k: v for k, v in own.items() if k != "inherits"})
        return merged

    def resolve(self, names: Sequence[str]) -> list[str]:
        """Target names of groups and targets, groups expanded, each target once, in order."""
        out: list[str] = []

        def add(name: str, chain: tuple[str, ...]) -> None:
            if name in chain:
                raise BakeError(f"group cycle: {' -> '.join((*chain, name))}")
            if name in self.groups:  # a group wins over a target of the same name
                for member in self.groups[name]:
                    add(member, (*chain, name))
            elif name in self.raw_targets:
                if name not in out:
                    out.append(name)
            else:
                raise BakeError(f"failed to find target {name!r}")

        for name in names:
            add(name, ())
        return out

    def print_definition(self, names: Sequence[str]) -> dict[str, Any]:
        """What `docker buildx bake --print NAMES` prints (the keys this file uses)."""
        targets = self.resolve(names)
        groups = {n: {"targets": list(self.groups[n])} for n in names if n in self.groups}
        if "default" not in groups:
            groups["default"] = {"targets": list(names)}
        shown = {}
        for name in targets:
            t = self.target(name)
            shown[name] = {
                k: t[k]
                for k in (
                    "annotations",
                    "attest",
                    "context",
                    "dockerfile",
                    "args",
                    "labels",
                    "tags",
                    "target",
                    "platforms",
                    "output",
                )
                if k in t
            }
        return {"group": groups, "target": shown}


def _attributes(body: Tree[Token]) -> dict[str, Tree[Token]]:
    out: dict[str, Tree[Token]] = {}
    for item in _kids(body):
        if item.data != "attribute":
            raise BakeError("nested blocks are not part of bake's format")
        name_node, value = _kids(item)
        out[_key(name_node)] = value
    return out


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if key in MAP_ATTRIBUTES and isinstance(value, dict):
            merged = dict(base.get(key) or {})
            merged.update({k: v for k, v in value.items() if v is not None or k not in merged})
            base[key] = merged
        elif key in APPENDED_ATTRIBUTES and value is not None:
            items = [*(base.get(key) or []), *value]
            if key == "attest":  # one attestation per type, the last one wins
                by_type: dict[str, str] = {}
                for item in items:
                    kind = dict(p.split("=", 1) for p in item.split(",") if "=" in p).get("type")
                    by_type[kind or item] = item
                items = list(by_type.values())
            base[key] = items
        elif value is not None:
            base[key] = value


# ---------------------------------------------------------------------------------------------
def native_platform() -> str:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        machine, machine
    )
    return f"linux/{arch}"


def _can_emulate(platform_name: str) -> bool:
    arch = platform_name.split("/")[1]
    qemu = {"arm64": "qemu-aarch64", "amd64": "qemu-x86_64"}.get(arch, f"qemu-{arch}")
    return Path("/proc/sys/fs/binfmt_misc", qemu).exists()


@dataclass
class Build:
    """One target's podman build (and pushes), and what podman cannot do of it."""

    name: str
    definition: dict[str, Any]
    argv: list[str]
    push: list[list[str]]
    reports: list[str]

    @property
    def tags(self) -> list[str]:
        return list(self.definition.get("tags") or [])


def plan(
    bake: BakeFile,
    names: Sequence[str],
    *,
    engine: str = "podman",
    no_cache: bool = False,
    push: bool = False,
    insecure_registry: bool = False,
    load: bool = False,
) -> list[Build]:
    """The podman command lines that build `names` (groups or targets) as bake would; `load`
    is bake's --load (every output replaced by type=docker: local images, nothing pushed)."""
    builds = []
    for name in bake.resolve(names):
        t = bake.target(name)
        refused = sorted(k for k in t if k in REFUSED)
        unknown = sorted(k for k in t if k not in BUILT | REPORTED | IGNORED | REFUSED)
        if refused or unknown:
            raise BakeError(f"target {name}: cannot build {refused + unknown} with podman here")
        context = Path(t["context"])
        dockerfile = Path(t["dockerfile"])
        if not dockerfile.is_absolute():
            dockerfile = context / dockerfile  # bake: the Dockerfile is relative to the context
        argv = [engine, "build", "--pull=never", "--format", "docker", "-f", str(dockerfile)]
        reports: list[str] = []
        if t.get("pull"):
            reports.append("pull=true: no registry to pull base images from; built --pull=never")
        if t.get("target"):
            argv += ["--target", t["target"]]
        for key, value in sorted((t.get("args") or {}).items()):
            if value is not None:  # null: the Dockerfile's ARG default
                argv += ["--build-arg", f"{key}={_text(value)}"]
        for key, value in sorted((t.get("labels") or {}).items()):
            if value is not None:
                argv += ["--label", f"{key}={_text(value)}"]
        for tag in t.get("tags") or []:
            argv += ["-t", tag]
        if no_cache or t.get("no-cache"):
            argv.append("--no-cache")
        platforms = list(t.get("platforms") or [])
        if platforms:
            here = native_platform()
            buildable = [p for p in platforms if p == here or _can_emulate(p)]
            skipped = [p for p in platforms if p not in buildable]
            if not buildable:
                raise BakeError(f"target {name}: none of {platforms} can be built here")
            if len(buildable) > 1:
                raise BakeError(f"target {name}: multi-platform podman builds are not wired up")
            argv += ["--platform", buildable[0]]
            if skipped:
                reports.append(
                    f"platforms {', '.join(skipped)} not built: no emulator for them on this "
                    f"machine (buildx builds them with QEMU); built {buildable[0]} only"
                )
        if t.get("attest"):
            reports.append(
                f"attestations {'; '.join(t['attest'])} not produced: podman has no build "
                "attestations (buildx attaches them to the pushed index)"
            )
        if t.get("annotations"):
            reports.append(
                f"{len(t['annotations'])} annotations not written: podman builds the Docker "
                "image format here (HEALTHCHECK), whose manifest has no annotations; the labels "
                "carry the same org.opencontainers.image.* keys"
            )
        for key in ("cache-from", "cache-to"):
            if t.get(key):
                reports.append(f"{key} ignored: podman uses its local layer cache")
        argv.append(str(context))
        outputs = ["type=docker"] if load else list(t.get("output") or [])
        to_registry = push or any(_output_type(o) == "registry" for o in outputs)
        for out in outputs:
            if _output_type(out) not in ("registry", "docker", "image"):
                raise BakeError(f"target {name}: output {out!r} is not supported with podman")
        pushes = []
        if to_registry:
            tls = ["--tls-verify=false"] if insecure_registry else []
            for tag in t.get("tags") or []:
                pushes.append([engine, "push", *tls, tag])
        builds.append(Build(name, t, argv, pushes, reports))
    return builds


def _output_type(output: str) -> str:
    fields = dict(p.split("=", 1) for p in output.split(",") if "=" in p)
    return fields.get("type", output)


def _run(argv: list[str], cwd: Path) -> None:
    print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
    proc = subprocess.run(argv, cwd=cwd, check=False)  # noqa: S603
    if proc.returncode:
        raise BakeError(f"{argv[0]} {argv[1]} failed with exit status {proc.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", default=["default"], metavar="GROUP|TARGET")
    parser.add_argument("-f", "--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--print", action="store_true", help="print the definition, build nothing")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--push", action="store_true", help="push every tag (output=registry)")
    parser.add_argument(
        "--load", action="store_true", help="local images only (output=type=docker), no push"
    )
    parser.add_argument(
        "--insecure-registry", action="store_true", help="push over plain HTTP (a loopback one)"
    )
    parser.add_argument("--metadata-file", type=Path, help="write each target's pushed digest")
    parser.add_argument("--engine", default=os.environ.get("CONTAINER_ENGINE", "podman"))
    args = parser.parse_args(argv)
    if args.load and args.push:
        parser.error("--load and --push exclude each other")
    try:
        bake = BakeFile.load(args.file)
        if args.print:
            print(json.dumps(bake.print_definition(args.names), indent=2, sort_keys=True))
            return 0
        builds = plan(
            bake,
            args.names,
            engine=args.engine,
            no_cache=args.no_cache,
            push=args.push,
            insecure_registry=args.insecure_registry,
            load=args.load,
        )
        cwd = args.file.resolve().parent  # bake resolves contexts from where it runs
        metadata: dict[str, dict[str, str]] = {}
        for build in builds:
            for report in build.reports:
                print(f"[bake] {build.name}: {report}", file=sys.stderr)
            if args.dry_run:
                for command in [build.argv, *build.push]:
                    print(shlex.join(command))
                continue
            _run(build.argv, cwd)
            digest = ""
            for command in build.push:
                with tempfile.NamedTemporaryFile("r", suffix=".digest") as handle:
                    _run([*command[:2], "--digestfile", handle.name, *command[2:]], cwd)
                    digest = Path(handle.name).read_text().strip()
                print(f"[bake] pushed {command[-1]}@{digest}", file=sys.stderr)
            metadata[build.name] = {"image.name": ",".join(build.tags)}
            if digest:
                metadata[build.name]["containerimage.digest"] = digest
        if args.metadata_file and not args.dry_run:
            args.metadata_file.write_text(json.dumps(metadata, indent=2) + "\n")
    except BakeError as exc:
        print(f"bake: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
