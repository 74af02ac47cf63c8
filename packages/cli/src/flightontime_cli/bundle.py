"""`flightontime verify` (a bundle's files, load and self-test) and `flightontime report`."""

from __future__ import annotations

from pathlib import Path

import click

from flightontime_cli import output


def file_status(directory: Path) -> list[tuple[str, str]]:
    """(file, status) for every file the manifest lists and every other file in the directory;
    BundleError when the manifest itself cannot be read."""
    from flightontime_core import BundleError
    from flightontime_core.bundle import MANIFEST_FILE, read_manifest, read_verified
    from flightontime_core.signing import SIGNATURE_FILE

    manifest = read_manifest(directory)
    rows = [(MANIFEST_FILE, "ok")]
    for name, digest in sorted(manifest.files.items()):
        try:
            read_verified(directory, name, digest)
        except BundleError as exc:
            rows.append((name, exc.reason))
        else:
            rows.append((name, "ok"))
    listed = {MANIFEST_FILE, *manifest.files}
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.name == SIGNATURE_FILE:
            rows.append((path.name, "signature (model-signing)"))
        elif path.is_file() and path.name not in listed:
            rows.append((path.name, "not in the manifest (not part of the bundle)"))
    return rows


@click.command()
@click.argument("directory", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--public-key",
    "public_key",
    metavar="PEM",
    type=click.Path(dir_okay=False, path_type=Path),
    help="EC public key (PEM): the bundle's model-signing signature (DIR/model.sig) must verify "
    "with it; needs flightontime-core[signing].",
)
def verify(directory: Path, public_key: Path | None) -> None:
    """Verify a model bundle: signature (with --public-key), file hashes, format, load and
    self-test (exit 1 when not ok)."""
    from flightontime_core import BundleError, PredictionService
    from flightontime_core.signing import SIGNATURE_FILE

    console = output.stdout()
    if not directory.is_dir():
        output.fail(f"{directory}: no model bundle directory there")
    try:
        files = file_status(directory)
    except BundleError as exc:
        output.fail(f"{directory}: {exc}")
    console.print(output.table(f"Bundle {directory}", ["file", "status"], files, numeric_from=2))
    try:
        service = PredictionService.load(
            directory, threads=output.settings().threads, public_key=public_key
        )
    except BundleError as exc:
        output.fail(f"{directory}: {exc}")
    if public_key is not None:
        console.print(f"signature: ok (model-signing, every file signed by {public_key.name})")
    elif (directory / SIGNATURE_FILE).is_file():
        console.print(f"signature: not checked (--public-key PEM checks {SIGNATURE_FILE})")
    manifest = service.model.manifest
    minutes = ", ".join(f"{t} min" for t in service.thresholds)
    console.print(f"version {service.version} (package {manifest.package_version or '?'})")
    console.print(f"thresholds {minutes}; decision threshold {service.decision_threshold:.4f}")
    cancellation = "yes" if service.model.has_cancellation else "no"
    weather = "yes" if service.model.weather_fields else "no"
    console.print(f"weather inputs: {weather}; cancellation model: {cancellation}")
    console.print(f"self-test: {len(manifest.self_test)} stored flights answer as at training")
    console.print("ok")


@click.command()
@click.option(
    "--model",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Model bundle directory.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the card's Markdown and plots [default: <model>/report].",
)
def report(model: Path, out: Path | None) -> None:
    """Write the model card (Markdown and PNG plots) of a verified bundle."""
    output.require("report", ("matplotlib",))
    from flightontime_core import BundleError
    from flightontime_core.training.card import write_card

    target = out if out is not None else model / "report"
    try:
        path = write_card(model, target)
    except BundleError as exc:
        output.fail(f"{model}: {exc}")
    except ValueError as exc:  # the card would overwrite the bundle's own (hashed) files
        raise click.BadParameter(str(exc), param_hint="'--out'") from None
    click.echo(str(path))
