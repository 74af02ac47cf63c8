"""Serving adapters plug in through an entry-point group, so a new transport needs no change
here: a package declares `[project.entry-points."flightontime.adapters"] name = "mod:OBJ"`,
where OBJ has a `name`, a `description` and `serve(options) -> int`."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Final, Protocol, runtime_checkable

import msgspec

from flightontime_core.errors import FlightOnTimeError

ENTRY_POINT_GROUP: Final = "flightontime.adapters"
# Which distribution provides the adapters this project ships, for the install hint.
KNOWN_ADAPTERS: Final = {"http": "flightontime-server"}


class ServeOptions(msgspec.Struct, kw_only=True, frozen=True):
    """What a caller asks of a serving adapter; None leaves the adapter's own setting."""

    model_dir: str | None = None
    host: str | None = None
    port: int | None = None
    workers: int | None = None
    insecure_no_auth: bool = False
    generate_token: bool = False
    reload: bool = False


@runtime_checkable
class Adapter(Protocol):
    """A transport that serves the core's predictions."""

    name: str
    description: str

    def serve(self, options: ServeOptions) -> int:
        """Serve until stopped; returns the process exit code."""
        ...


class AdapterNotFoundError(FlightOnTimeError):
    """No installed package provides the adapter asked for."""


def available() -> dict[str, str]:
    """Installed adapters: name -> the entry point's target ("module:object")."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_adapter(name: str) -> Adapter:
    """The adapter registered under `name`; AdapterNotFoundError says how to install it."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            adapter = ep.load()
            if not isinstance(adapter, Adapter):
                raise AdapterNotFoundError(f"entry point {ep.value} is not a serving adapter")
            return adapter
    package = KNOWN_ADAPTERS.get(name)
    hint = f"install it: pip install {package}" if package else "no known package provides it"
    installed = ", ".join(sorted(available())) or "none"
    raise AdapterNotFoundError(
        f"no '{name}' serving adapter is installed ({hint}); installed adapters: {installed}"
    )
