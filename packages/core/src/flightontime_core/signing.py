"""Model bundle signatures in the OpenSSF model-signing format (the `signing` extra).

A signature is one file next to the bundle's own files, `model.sig`: a Sigstore bundle (JSON)
whose DSSE envelope carries an in-toto statement listing every file of the directory with its
sha256 (`https://model_signing/signature/v1.0`), signed either keyless through Sigstore (the
release workflow) or with an elliptic-curve key pair (PEM), which is what a server checks:

    model_signing sign key models/default --private_key key.pem --signature models/default/model.sig
    FLIGHTONTIME_MODEL_PUBLIC_KEY=/keys/model.pub flightontime serve --model models/default
    flightontime verify models/default --public-key /keys/model.pub

Order: a bundle is signed after `bundle.write_bundle` wrote it, so the signature covers
manifest.json (which hashes the graph and the tables) and every other file; the manifest never
lists model.sig (nothing can hold its own signature), and model-signing records model.sig in the
statement's ignore_paths. Verification is strict: a file in the directory that the signature
does not list (other than model.sig and git metadata) fails it, like a changed or missing one.

`model_signing` (sigstore, cryptography, pydantic: about 48 MB installed) is imported only when
a public key is configured: the default serving install does not carry it.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import importlib
import json
import tempfile
from pathlib import Path
from typing import Any, Final

from flightontime_core.bundle import MANIFEST_FILE
from flightontime_core.errors import BundleError

SIGNATURE_FILE: Final = "model.sig"
INSTALL_HINT: Final = (
    "install the signing extra: pip install 'flightontime-core[signing]' "
    "(serving image: build it with --build-arg SIGNING=1)"
)


class SignatureError(BundleError):
    """A bundle whose signature is missing, malformed or does not match the public key."""


def _model_signing() -> Any:
    try:
        return importlib.import_module("model_signing")
    except ImportError as exc:
        raise SignatureError(
            SIGNATURE_FILE,
            f"a public key is configured but model-signing cannot be imported ({exc}): "
            + INSTALL_HINT,
        ) from None


def signature_path(directory: str | Path) -> Path:
    """Where a bundle's signature lives: `model.sig` inside the bundle directory."""
    return Path(directory) / SIGNATURE_FILE


def verify_signature(
    directory: str | Path, public_key: str | Path, signature: str | Path | None = None
) -> dict[str, str]:
    """Check the bundle's model-signing signature against an EC public key (PEM); the files it
    covers with their signed sha256. Raises SignatureError when the key cannot be read, the
    bundle is unsigned, or the signature does not verify (wrong key, a changed, missing or added
    file). Pass the manifest's digest to `load_model(signed_manifest=...)`: the bytes loaded are
    then the bytes signed."""
    directory = Path(directory)
    key = Path(public_key)
    sig = Path(signature) if signature is not None else signature_path(directory)
    if not key.is_file():
        raise SignatureError(None, f"public key {key}: no such file")
    try:
        signed = sig.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise SignatureError(
            SIGNATURE_FILE, "missing: the bundle is not signed and a public key is configured"
        ) from None
    model_signing = _model_signing()
    try:
        config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=key)
        # The library reads the signature from a path: it checks a private copy of the bytes
        # read above, and the digests come from those same bytes (no second read of model.sig).
        with tempfile.TemporaryDirectory() as private:
            copy = Path(private) / SIGNATURE_FILE
            copy.write_bytes(signed)
            config.verify(directory, copy)
    except Exception as exc:  # the library raises ValueError, KeyError, JSON and crypto errors
        raise SignatureError(
            SIGNATURE_FILE, f"signature does not verify with {key.name}: {_reason(exc)}"
        ) from None
    covered = _signed_files(signed)
    # The bundle's manifest hashes the graph and the tables: a signature that leaves it out
    # (signed with it in ignore_paths) would leave them unsigned.
    if MANIFEST_FILE not in covered:
        raise SignatureError(SIGNATURE_FILE, f"the signature does not cover {MANIFEST_FILE}")
    return covered


def _reason(exc: Exception) -> str:
    """The library's message; its file differences ("Signature mismatch: [...]", a list's repr
    with digests as bytes) as plain text: one difference a clause, no digests."""
    text = str(exc).strip() or type(exc).__name__
    prefix = "Signature mismatch: "
    if text.startswith(prefix):
        try:
            differences = ast.literal_eval(text[len(prefix) :])
        except (ValueError, SyntaxError):
            return text
        if isinstance(differences, list) and differences:
            clauses = [str(d).split(": Expected ", 1)[0] for d in differences]
            return "the files differ from the signed ones: " + "; ".join(clauses)
    return text


def _signed_files(signature: bytes) -> dict[str, str]:
    """The files of a verified signature's statement and their sha256 (its payload is
    authenticated); SignatureError for a statement hashed otherwise."""
    envelope = json.loads(signature)["dsseEnvelope"]
    statement = json.loads(base64.b64decode(envelope["payload"]))
    resources = statement["predicate"]["resources"]
    if any(r.get("algorithm") != "sha256" for r in resources):
        raise SignatureError(SIGNATURE_FILE, "the signature's files are not hashed with sha256")
    return {str(r["name"]): str(r["digest"]) for r in sorted(resources, key=lambda r: r["name"])}


def sign_bundle(
    directory: str | Path, private_key: str | Path, signature: str | Path | None = None
) -> Path:
    """Sign a written bundle with an EC private key (PEM) the way `model_signing sign key`
    does; the signature's path (model.sig in the bundle by default)."""
    directory = Path(directory)
    sig = Path(signature) if signature is not None else signature_path(directory)
    model_signing = _model_signing()
    ignored: list[Path] = []
    with contextlib.suppress(ValueError):  # a signature inside the bundle is not signed itself
        ignored.append(sig.resolve().relative_to(directory.resolve()))
    hashing = model_signing.hashing.Config().set_ignored_paths(paths=ignored)
    model_signing.signing.Config().use_elliptic_key_signer(
        private_key=Path(private_key)
    ).set_hashing_config(hashing).sign(directory, sig)
    return sig
