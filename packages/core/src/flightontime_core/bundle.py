"""The model bundle on disk: a directory with an ONNX graph, feature tables, a manifest that
hashes every file and every behaviour-changing field, and the model card.

Layout (every file listed with its sha256 in `manifest.json`):
    manifest.json         format, versions, behaviour (hashed), data, split, metrics, self-test
    model.onnx            every model in one graph: one session.run answers a whole batch
    feature_tables.json   vocabularies, smoothed historical rates, schedule density
    evaluation.json       curves and bins behind the model card's plots
    model_card.md, *.png  the model card

Loading never runs code from the bundle (no pickle anywhere): the graph is data for
onnxruntime, the rest is JSON.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Final

import msgspec

from flightontime_core.errors import BundleError
from flightontime_core.features import FEATURE_DEFINITION, FEATURE_NAMES, FeatureTables

# 3: scikit-learn models in one ONNX graph (formats 1-2 were LightGBM text models).
BUNDLE_FORMAT: Final = 3
MANIFEST_FILE: Final = "manifest.json"
GRAPH_FILE: Final = "model.onnx"
TABLES_FILE: Final = "feature_tables.json"
EVALUATION_FILE: Final = "evaluation.json"
CANCELLATION: Final = "cancelled"


class Calibration(msgspec.Struct, frozen=True, kw_only=True):
    """A map from a model's raw probability to a calibrated one ("none" is the identity)."""

    method: str = "none"  # "none", "platt" or "isotonic"
    a: float = 1.0  # platt: sigmoid(a * logit(p) + b)
    b: float = 0.0
    x: tuple[float, ...] = ()  # isotonic knots (raw probability), increasing
    y: tuple[float, ...] = ()  # isotonic values at the knots, non-decreasing


class ModelSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One model of a variant: its log-odds columns, what it answers, its calibration."""

    key: str  # "15", "30", "60" (minutes) or "cancelled"
    # The graph output's columns of its members' log-odds; its probability is the mean of
    # theirs (one column for a single model, several for an average of models).
    columns: tuple[int, ...]
    given: int | None = None  # delay models: the threshold it is conditional on
    label: str = ""
    calibration: Calibration = Calibration()


class ExplanationSpec(msgspec.Struct, frozen=True, kw_only=True):
    """The primary model's decision-path contributions, summed per feature group."""

    first_column: int  # the graph output's columns from here on, one per group, log-odds
    groups: tuple[str, ...]
    # The members' mean baseline and tree roots: contributions + bias = their mean log-odds.
    bias: float


class Variant(msgspec.Struct, frozen=True, kw_only=True):
    """The models that answer one kind of request, on their own graph input and output."""

    name: str  # "weather": flights sent with a forecast; "plain": flights without one
    graph_input: str
    graph_output: str  # (n, log-odds columns + groups) float32: log-odds, then contributions
    models: tuple[ModelSpec, ...]  # delay models in threshold order, then cancellation
    explanation: ExplanationSpec


WEATHER_VARIANT: Final = "weather"
PLAIN_VARIANT: Final = "plain"


class Behaviour(msgspec.Struct, frozen=True, kw_only=True):
    """Every manifest field that changes an answer; hashed into the model version."""

    feature_names: tuple[str, ...]
    feature_definition: int
    weather_fields: tuple[str, ...]  # empty: trained without weather (no weather variant)
    thresholds: tuple[int, ...]  # minutes; the first is the primary answer
    decision_threshold: float
    variants: tuple[Variant, ...]


class SelfTestCase(msgspec.Struct, frozen=True, kw_only=True):
    """A flight on a route the model knows and the probabilities it gave at training time."""

    airline: str
    origin: str
    destination: str
    departure: str
    distance_m: float | None = None
    weather: dict[str, float] | None = None
    probabilities: dict[str, float]  # threshold minutes (and "cancelled") -> probability


class Manifest(msgspec.Struct, kw_only=True):
    """manifest.json. `behaviour` and `files` are verified at load; the rest describes."""

    format: int
    model_version: str
    created: str = ""
    package_version: str = ""
    behaviour: Behaviour
    files: dict[str, str]  # plain file name -> sha256
    # ISO 3166-1 alpha-2 countries of the training flights' origins, sorted: a service routes a
    # flight from one of them to this bundle. Not hashed: a bundle written before it reads as ().
    countries: tuple[str, ...] = ()
    self_test: tuple[SelfTestCase, ...] = ()
    cancellation: dict[str, Any] = {}
    data: dict[str, Any] = {}
    split: dict[str, Any] = {}
    label: dict[str, Any] = {}
    training: dict[str, Any] = {}
    metrics: dict[str, Any] = {}


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def content_version(files: dict[str, str], behaviour: Behaviour) -> str:
    """Model version from content: the same files and behaviour give the same version."""
    lines = [f"{name} {digest}" for name, digest in sorted(files.items())]
    lines.append(msgspec.json.encode(behaviour).decode())
    return "m-" + sha256_bytes("\n".join(lines).encode())[:16]


def _hashed_files(files: dict[str, str]) -> dict[str, str]:
    # The version covers what answers, not the card or the evaluation curves.
    return {n: d for n, d in files.items() if n in (GRAPH_FILE, TABLES_FILE)}


def encode_manifest(manifest: Manifest) -> bytes:
    """manifest.json's bytes: indented JSON, one order of keys."""
    return msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n"


class Bundle:
    """A verified bundle: its manifest, the graph's bytes and the feature tables."""

    def __init__(self, path: Path, manifest: Manifest, graph: bytes, tables: FeatureTables) -> None:
        self.path = path
        self.manifest = manifest
        self.graph = graph
        self.tables = tables

    @property
    def behaviour(self) -> Behaviour:
        """The behaviour-changing part of the manifest."""
        return self.manifest.behaviour

    @classmethod
    def read(cls, path: Path | str, *, signed_manifest: str | None = None) -> Bundle:
        """Read and verify a bundle; raises BundleError naming the file and the reason.

        `signed_manifest`: the manifest's sha256 as a verified signature states it. The manifest
        is then checked on the very bytes parsed here, and every file on the very bytes loaded
        against the manifest's hashes, so nothing is read twice between check and use."""
        path = Path(path)
        if not path.is_dir():
            raise BundleError(None, f"no model bundle directory at {path}")
        manifest = read_manifest(path, signed_manifest)
        contents = {
            name: read_verified(path, name, digest) for name, digest in manifest.files.items()
        }
        for required in (GRAPH_FILE, TABLES_FILE):
            if required not in contents:
                raise BundleError(required, "required file not listed in the manifest")
        expected = content_version(_hashed_files(manifest.files), manifest.behaviour)
        if manifest.model_version != expected:
            raise BundleError(
                MANIFEST_FILE,
                "model_version does not match the files and behaviour fields (manifest edited?)",
            )
        try:
            tables = FeatureTables.from_json(contents[TABLES_FILE])
        except ValueError as exc:
            raise BundleError(TABLES_FILE, f"unreadable feature tables: {exc}") from None
        return cls(path, manifest, contents[GRAPH_FILE], tables)


def read_manifest(path: Path, signed: str | None = None) -> Manifest:
    """The manifest of a bundle directory, checked for format and feature specification (and
    against `signed`, the sha256 a verified signature states for it, when given)."""
    try:
        raw = (path / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        raise BundleError(MANIFEST_FILE, "missing: not a model bundle (or a partial one)") from None
    if signed is not None and sha256_bytes(raw) != signed:
        raise BundleError(
            MANIFEST_FILE, "sha256 differs from the signed one (changed after the signature check)"
        )
    try:
        head = msgspec.json.decode(raw, type=dict[str, Any])
    except msgspec.DecodeError as exc:
        raise BundleError(MANIFEST_FILE, f"not JSON: {exc}") from None
    if head.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            MANIFEST_FILE,
            f"bundle format {head.get('format')!r}; this code reads format {BUNDLE_FORMAT} "
            "(retrain with this version)",
        )
    try:
        manifest = msgspec.json.decode(raw, type=Manifest)
    except msgspec.ValidationError as exc:
        raise BundleError(MANIFEST_FILE, f"incomplete manifest: {exc}") from None
    b = manifest.behaviour
    if b.feature_names != FEATURE_NAMES or b.feature_definition != FEATURE_DEFINITION:
        raise BundleError(
            MANIFEST_FILE,
            "the bundle's feature specification differs from this code's (retrain it)",
        )
    names = [v.name for v in b.variants]
    expected = [WEATHER_VARIANT, PLAIN_VARIANT] if b.weather_fields else [PLAIN_VARIANT]
    if names != expected:
        raise BundleError(MANIFEST_FILE, f"variants {names}, expected {expected}")
    for variant in b.variants:
        _check_chain(variant, b.thresholds)
    keys = {tuple(m.key for m in v.models) for v in b.variants}
    if len(keys) > 1:
        raise BundleError(MANIFEST_FILE, "the variants do not answer the same models")
    if not 0.0 < b.decision_threshold < 1.0:
        raise BundleError(MANIFEST_FILE, "decision_threshold must be between 0 and 1")
    return manifest


def _check_chain(variant: Variant, thresholds: tuple[int, ...]) -> None:
    delay = [m for m in variant.models if m.key != CANCELLATION]
    if [m.key for m in delay] != [str(t) for t in thresholds] or not thresholds:
        raise BundleError(
            MANIFEST_FILE, f"variant {variant.name}: the delay models do not match the thresholds"
        )
    # Probabilities multiply down the chain, so each model must be conditional on the previous.
    for previous, model in zip([None, *thresholds], delay, strict=False):
        if model.given != previous:
            raise BundleError(
                MANIFEST_FILE,
                f"variant {variant.name}: the {model.key}-minute model must be conditional on "
                f"{'no threshold' if previous is None else f'{previous} minutes'}, "
                f"the manifest says {model.given!r}",
            )
    columns = sorted(c for m in variant.models for c in m.columns)
    if columns != list(range(variant.explanation.first_column)) or any(
        not m.columns for m in variant.models
    ):
        raise BundleError(
            MANIFEST_FILE, f"variant {variant.name}: the models' columns do not tile the output"
        )


def read_verified(path: Path, name: str, digest: str) -> bytes:
    """A bundle file's bytes, after checking its name is plain and its sha256 matches."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise BundleError(name, "file names in the manifest must be plain names")
    try:
        data = (path / name).read_bytes()
    except FileNotFoundError:
        raise BundleError(name, "listed in the manifest but missing (partial bundle)") from None
    if sha256_bytes(data) != digest:
        raise BundleError(name, "sha256 does not match the manifest (tampered or partial file)")
    return data


def write_bundle(directory: Path, manifest: Manifest, files: dict[str, bytes]) -> Manifest:
    """Write files and a manifest completed with their hashes and the model version."""
    directory.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, data in sorted(files.items()):
        (directory / name).write_bytes(data)
        digests[name] = sha256_bytes(data)
    manifest.files = digests
    manifest.model_version = content_version(_hashed_files(digests), manifest.behaviour)
    (directory / MANIFEST_FILE).write_bytes(encode_manifest(manifest))
    return manifest
