"""The `flightontime` command: the click group and its wiring.

Each command module imports the core (numpy, onnxruntime) and the training extra (pandas,
scikit-learn) inside its commands, so `flightontime --help` and `healthcheck` stay fast.
"""

from __future__ import annotations

from importlib import metadata

import click

from flightontime_cli import output
from flightontime_cli.bundle import report, verify
from flightontime_cli.data import data
from flightontime_cli.scoring import predict, score
from flightontime_cli.serving import healthcheck, serve
from flightontime_cli.train import train

PACKAGES = ("flightontime-core", "flightontime-cli", "flightontime-server")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="flightontime-cli", prog_name="flightontime")
def cli() -> None:
    """FlightOnTime: will a flight leave late? Train, score, predict, verify and serve."""


@cli.command()
def version() -> None:
    """The packages' version, and which extras and serving adapters are installed."""
    from flightontime_core.adapters import available

    versions = {package: _version(package) for package in PACKAGES}
    one = {v for v in versions.values() if v is not None}
    click.echo(f"flightontime {', '.join(sorted(one)) or 'unknown'}")
    for package, found in versions.items():
        click.echo(f"  {package}: {found or 'not installed'}")
    missing = output.missing_modules(output.TRAIN_MODULES)
    train_extra = "installed" if not missing else f"not installed (missing: {', '.join(missing)})"
    click.echo(f"  extra flightontime-core[train]: {train_extra}")
    from flightontime_cli.cluster import DASK_MODULES

    missing = output.missing_modules(DASK_MODULES)
    dask_extra = "installed" if not missing else f"not installed (missing: {', '.join(missing)})"
    click.echo(f"  extra flightontime-core[dask]: {dask_extra} (score/train --engine dask)")
    adapters = available()
    shown = ", ".join(f"{name} ({target})" for name, target in sorted(adapters.items()))
    click.echo(f"  serving adapters: {shown or 'none'}")


for command in (train, data, predict, score, verify, report, serve, healthcheck):
    cli.add_command(command)
