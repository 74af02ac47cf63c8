"""The `flightontime` command: wiring only, each concern registers its own commands."""

from __future__ import annotations

import typer

from flightontime.commands import data as data_commands
from flightontime.commands import serve as serve_commands
from flightontime.commands import train as train_commands

app = typer.Typer(
    name="flightontime",
    help="Flight departure delay prediction: train, evaluate and serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold tokens
)

train_commands.register(app)
data_commands.register(app)
serve_commands.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
