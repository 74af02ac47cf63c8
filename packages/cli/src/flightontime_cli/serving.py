"""`flightontime serve` (through the installed HTTP adapter) and `flightontime healthcheck`.

`healthcheck` is the container's HEALTHCHECK: it uses only the standard library, so it runs in
the serving image without the server package, rich or numpy being imported.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import click

from flightontime_cli import output


@click.command()
@click.option(
    "--model",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A model bundle, or a directory of bundles; repeat for several (the first answers "
    "other countries) [default: the server's setting, every bundle under models/].",
)
@click.option("--host", help="Interface to bind [default: the server's setting].")
@click.option("--port", type=click.IntRange(1, 65535), help="TCP port [default: the server's].")
@click.option("--workers", type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--insecure-no-auth", is_flag=True, help="Serve without authentication (dev only).")
@click.option(
    "--generate-token", is_flag=True, help="Without a configured token, make one and print it."
)
def serve(
    model: tuple[Path, ...],
    host: str | None,
    port: int | None,
    workers: int | None,
    insecure_no_auth: bool,
    generate_token: bool,
) -> None:
    """Serve the prediction API through the installed HTTP adapter (flightontime-server)."""
    from flightontime_core.adapters import AdapterNotFoundError, ServeOptions, load_adapter

    try:
        adapter = load_adapter("http")
    except AdapterNotFoundError as exc:
        output.fail(str(exc))
    options = ServeOptions(
        model_dir=os.pathsep.join(str(m) for m in model) if model else None,
        host=host,
        port=port,
        workers=workers,
        insecure_no_auth=insecure_no_auth,
        generate_token=generate_token,
    )
    raise click.exceptions.Exit(adapter.serve(options))


def probe(url: str, timeout: float) -> tuple[bool, str]:
    """(ready, what was seen) for a GET of `url`: ready only on HTTP 200."""
    if not url.startswith(("http://", "https://")):
        return False, f"unsupported URL {url}"
    # No proxies: the probe is for this host, and proxy variables must not reroute it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        return False, str(getattr(exc, "reason", exc))
    return status == 200, f"HTTP {status}"


@click.command()
@click.option(
    "--url",
    help="Readiness URL [default: http://127.0.0.1:<FLIGHTONTIME_PORT or 8000>/ready].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=3.0,
    show_default=True,
    help="Seconds before giving up.",
)
def healthcheck(url: str | None, timeout: float) -> None:
    """Exit 0 when the service answers 200 on its readiness URL (the container HEALTHCHECK)."""
    target = url or f"http://127.0.0.1:{output.settings().port}/ready"
    ready, seen = probe(target, timeout)
    if not ready:
        output.say(f"not ready: {target}: {seen}")
        raise click.exceptions.Exit(1)
    click.echo(f"ready: {target}")
