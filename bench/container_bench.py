"""Container benchmark: prints the numbers the container issue asks for (nothing is asserted).

  - the serving image's size, and the size of the layers above the base image (each layer
    listed), with the figure it would have on the official python:3.11-slim (layers above +
    125 MB: the local stand-in base is larger than the official one); the job image's too;
  - where the megabytes go: the runtime file system by directory and by Python package;
  - build time of the bake target `server` (the podman command scripts/bake.py runs for it,
    under a bench tag), cold (--no-cache: apt, PyPI, the smoke test) and warm (all cached);
  - start-to-healthy (run -d until the HEALTHCHECK passes, and until /ready answers 200);
  - memory of the idle container (1 and 2 workers), after a few requests;

Usage: python bench/container_bench.py [--image REF] [--runs N] [--skip-cold]
       (make bench-container)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = os.environ.get("CONTAINER_ENGINE", "podman")
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (ROOT / "packages/core/src/flightontime_core/__about__.py").read_text(),
    re.M,
).group(1)  # type: ignore[union-attr]
BASE = "python:3.11-slim"
OFFICIAL_BASE_MB = 125.0  # docker.io/library/python:3.11-slim, uncompressed
MB = 1e6
HARDENED = [
    "--read-only",
    "--tmpfs",
    "/tmp",
    "--security-opt",
    "no-new-privileges",
    "--cap-drop",
    "ALL",
    "--memory",
    "2g",
    "--cpus",
    "2",
]
if ENGINE == "podman":
    HARDENED.insert(1, "--read-only-tmpfs=false")
PREDICT = {
    "companhia": "AA",
    "origem": "JFK",
    "destino": "LAX",
    "data_partida": "2013-11-10T14:30:00",
}


def sh(
    *args: str,
    timeout: float = 3600,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if check and proc.returncode:
        sys.exit(
            f"{' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def image_size(ref: str) -> int:
    return int(sh(ENGINE, "image", "inspect", "--format", "{{.Size}}", ref).stdout.strip())


def layers(ref: str) -> list[tuple[str, int, str]]:
    """(id, size, created_by) from the newest layer down."""
    out = sh(
        ENGINE, "history", "--no-trunc", "--format", "{{.ID}}\t{{.Size}}\t{{.CreatedBy}}", ref
    ).stdout
    rows = []
    for line in out.splitlines():
        ident, size, created = [*line.split("\t", 2), "", ""][:3]
        rows.append((ident, _parse_size(size), created))
    return rows


def _parse_size(text: str) -> int:
    m = re.match(r"([\d.]+)\s*([kMG]?B)", text.strip())
    if not m:
        return 0
    return int(float(m.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}[m.group(2)])


def section(title: str) -> None:
    print(f"\n== {title}")


def report_size(ref: str) -> dict[str, float]:
    section(f"image {ref}")
    total, base = image_size(ref), image_size(BASE)
    above = total - base
    base_ids = {row[0] for row in layers(BASE)}
    print(f"image size            {total / MB:7.1f} MB   (podman, uncompressed)")
    print(
        f"base {BASE:<16} {base / MB:7.1f} MB   "
        f"(local stand-in; official ~{OFFICIAL_BASE_MB:.0f} MB)"
    )
    print(f"layers above base     {above / MB:7.1f} MB")
    print(f"on the official base  {above / MB + OFFICIAL_BASE_MB:7.1f} MB   (target <= 220 MB)")
    print("layers above the base (newest first; 0 B rows are metadata):")
    for ident, size, created in layers(ref):
        if ident in base_ids:
            break
        created = re.sub(r"\s+", " ", created.replace("/bin/bash -o pipefail -c", "RUN"))
        if size:
            print(f"  {size / MB:7.1f} MB  {created[:110]}")
    return {"image_mb": total / MB, "above_base_mb": above / MB}


def breakdown(ref: str) -> None:
    """du of the runtime file system above the base: by directory and by Python package."""
    section("where the megabytes go (files added by the image, apparent sizes)")
    base_files = _file_sizes(BASE)
    files = _file_sizes(ref)
    added = {p: s for p, s in files.items() if base_files.get(p) != s}
    by_dir: dict[str, int] = defaultdict(int)
    by_pkg: dict[str, int] = defaultdict(int)
    site = "/opt/venv/lib/python3.11/site-packages/"
    for path, size in added.items():
        if path.startswith(site):
            by_dir["/opt/venv (site-packages)"] += size
            by_pkg[path[len(site) :].split("/", 1)[0]] += size
        elif path.startswith("/opt/pycache/"):
            by_dir["/opt/pycache (byte code, venv + stdlib)"] += size
        elif path.startswith("/opt/flightontime/models/"):
            bundle = path.split("/")[4]
            by_dir[f"/opt/flightontime/models/{bundle} (bundle)"] += size
        elif path.startswith("/opt/venv/"):
            by_dir["/opt/venv (bin, config)"] += size
        else:
            by_dir["system (appuser; pip removed from the base)"] += size
    for name, size in sorted(by_dir.items(), key=lambda kv: -kv[1]):
        print(f"  {size / MB:7.1f} MB  {name}")
    print("  site-packages by package (top 15):")
    merged: dict[str, int] = defaultdict(int)
    for name, size in by_pkg.items():
        merged[re.sub(r"(\.libs|-[\d.]+\.dist-info|\.py)$", "", name)] += size
    for name, size in sorted(merged.items(), key=lambda kv: -kv[1])[:15]:
        print(f"    {size / MB:6.1f} MB  {name}")
    rest = sum(merged.values()) - sum(sorted(merged.values(), reverse=True)[:15])
    print(f"    {rest / MB:6.1f} MB  ({len(merged) - 15} others)")


def _file_sizes(ref: str) -> dict[str, int]:
    name = f"fot-bench-export-{uuid.uuid4().hex[:8]}"
    sh(ENGINE, "create", "--name", name, ref, "/none")
    sizes: dict[str, int] = {}
    try:
        proc = subprocess.Popen([ENGINE, "export", name], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if member.isfile():
                    sizes["/" + member.name.lstrip("./")] = member.size
        proc.wait(timeout=300)
    finally:
        sh(ENGINE, "rm", "-f", name, check=False)
    return sizes


def _server_build_argv(tag: str, no_cache: bool) -> list[str]:
    """scripts/bake.py's podman command for the target `server`, tagged `tag` instead."""
    spec = importlib.util.spec_from_file_location("bake", ROOT / "scripts" / "bake.py")
    assert spec is not None
    assert spec.loader is not None
    bake = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bake", bake)
    spec.loader.exec_module(bake)
    bake_file = bake.BakeFile(ROOT / "docker-bake.hcl")
    return bake.command(bake_file.facts("server"), [tag], ENGINE, no_cache)  # type: ignore[no-any-return]


def build_times(ref: str, cold: bool) -> None:
    section("build time (bake target `server`, as scripts/bake.py runs it)")
    tag = f"localhost/flightontime-bench:{uuid.uuid4().hex[:8]}"
    try:
        if cold:
            argv = _server_build_argv(tag, no_cache=True)
            if ENGINE == "podman":  # no intermediate images are kept (nothing to clean up)
                argv.insert(2, "--layers=false")
            t0 = time.monotonic()
            subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=3600)
            print(
                f"cold (--no-cache: apt, PyPI, slimming, smoke test) {time.monotonic() - t0:7.1f} s"
            )
        # The first cached build redoes what changed since the last build (a change under
        # packages/ rebuilds the wheels, the smoke test and the byte code); the second is warm.
        argv = _server_build_argv(tag, no_cache=False)
        t0 = time.monotonic()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=3600)
        print(f"cached, after changes since the last build      {time.monotonic() - t0:7.1f} s")
        t0 = time.monotonic()
        subprocess.run(argv, cwd=ROOT, check=True, capture_output=True, timeout=3600)
        print(f"warm (nothing changed, all layers cached)       {time.monotonic() - t0:7.1f} s")
    finally:
        sh(ENGINE, "rmi", tag, check=False)


def _http_status(url: str, timeout: float = 2.0) -> int:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def start_to_healthy(ref: str, runs: int, workers: int) -> dict[str, float]:
    section(
        f"start to healthy ({runs} runs, {workers} worker(s), hardened like docker/compose.yml)"
    )
    token = secrets.token_urlsafe(24)
    env = dict(os.environ, PREDICTION_API_TOKEN=token)
    ready_s: list[float] = []
    healthy_s: list[float] = []
    mem: list[float] = []
    for i in range(runs):
        name = f"fot-bench-{uuid.uuid4().hex[:8]}"
        t0 = time.monotonic()
        sh(
            ENGINE,
            "run",
            "-d",
            "--name",
            name,
            *HARDENED,
            "-p",
            "127.0.0.1::8000",
            "--env",
            "PREDICTION_API_TOKEN",
            "--env",
            f"FLIGHTONTIME_WORKERS={workers}",
            "--env",
            "FLIGHTONTIME_METRICS_DIR=/tmp/flightontime-metrics",
            ref,
            env=env,
        )
        try:
            port = sh(ENGINE, "port", name, "8000/tcp").stdout.strip().rsplit(":", 1)[1]
            url = f"http://127.0.0.1:{port}"
            while _http_status(f"{url}/ready", 1.0) != 200:
                if time.monotonic() - t0 > 120:
                    sys.exit(sh(ENGINE, "logs", name, check=False).stdout)
                time.sleep(0.05)
            ready = time.monotonic() - t0
            while sh(ENGINE, "healthcheck", "run", name, check=False).returncode != 0:
                time.sleep(0.05)
            healthy = time.monotonic() - t0
            ready_s.append(ready)
            healthy_s.append(healthy)
            print(
                f"  run {i + 1}: /ready 200 after {ready:5.2f} s, "
                f"HEALTHCHECK passed after {healthy:5.2f} s"
            )
            if i == runs - 1:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                for _ in range(20):
                    req = urllib.request.Request(
                        f"{url}/predict",
                        json.dumps(PREDICT).encode(),
                        {"Authorization": token, "Content-Type": "application/json"},
                    )
                    with opener.open(req, timeout=10) as resp:
                        resp.read()
                time.sleep(5)
                stats = json.loads(
                    sh(ENGINE, "stats", "--no-stream", "--format", "json", name).stdout
                )
                usage = stats[0].get("mem_usage") or stats[0].get("MemUsage") or ""
                mem.append(_parse_mem(usage))
                print(
                    f"  idle memory after 20 requests + 5 s: {usage.split('/')[0].strip()} "
                    f"(limit {usage.split('/')[-1].strip()})"
                )
        finally:
            sh(ENGINE, "rm", "-f", "-t", "0", name, check=False)
    print(
        f"  median: /ready {statistics.median(ready_s):.2f} s, "
        f"healthy {statistics.median(healthy_s):.2f} s "
        f"(min {min(healthy_s):.2f} s; target 2 s)"
    )
    return {"healthy_median_s": statistics.median(healthy_s), "idle_mem_mb": mem[-1] if mem else 0}


def _parse_mem(text: str) -> float:
    m = re.match(r"\s*([\d.]+)\s*([kKMG]i?B)", text)
    if not m:
        return 0.0
    unit = m.group(2).lower()
    factor = {"kb": 1e-3, "kib": 1.024e-3, "mb": 1, "mib": 1.048576, "gb": 1e3, "gib": 1073.741824}[
        unit
    ]
    return float(m.group(1)) * factor


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--image", default=os.environ.get("FLIGHTONTIME_IMAGE", f"flightontime:{VERSION}")
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--skip-cold", action="store_true", help="no --no-cache build (slow: minutes)"
    )
    parser.add_argument("--skip-build", action="store_true", help="no build timings at all")
    parser.add_argument("--builds-only", action="store_true", help="only the build timings")
    args = parser.parse_args()
    if sh(ENGINE, "image", "inspect", args.image, check=False).returncode:
        sys.exit(f"image {args.image} not found: make image")
    if not args.builds_only:
        report_size(args.image)
        cli = args.image.replace("flightontime:", "flightontime-cli:", 1)
        if sh(ENGINE, "image", "inspect", cli, check=False).returncode == 0:
            total = image_size(cli)
            print(f"job image {cli}: {total / MB:.1f} MB here,")
            print(
                f"  about {(total - image_size(BASE)) / MB + OFFICIAL_BASE_MB:.1f} MB "
                "on the official base"
            )
        breakdown(args.image)
        start_to_healthy(args.image, args.runs, workers=1)
        start_to_healthy(args.image, max(1, args.runs // 2), workers=2)
    if not args.skip_build:
        build_times(args.image, cold=not args.skip_cold)


if __name__ == "__main__":
    main()
