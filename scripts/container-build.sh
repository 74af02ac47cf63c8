#!/usr/bin/env bash
# scripts/container-build.sh - steps of the Dockerfile that are too long for a RUN line.
# It runs only inside image builds (it changes the environment it runs in):
#
#   container-build.sh slim SITE_PACKAGES   (deps stage) shrink the locked serving dependencies
#   container-build.sh precompile PYTHON    (runtime stage) byte-compile what serving imports
#
# slim, step by step (each prints what it saved; bench/container_bench.py measures the result):
#   - test suites (numpy, scipy, ... ship theirs: ~26 MB), C/C++/Cython sources, headers and
#     type stubs: nothing imports them at run time;
#   - debug symbols stripped from the extension modules (~21 MB: uvloop alone 13.6 -> 1.6 MB).
#     The vendored libraries in *.libs/ (OpenBLAS, gfortran) are left alone: auditwheel/patchelf
#     rewrote them and `strip` breaks them ("ELF load command address/offset not page-aligned");
#   - SLIM_SCIPY=1 (default): scipy is in the image only because LightGBM imports scipy.sparse.
#     Serving loads scipy/__init__, scipy/_lib and the scipy.sparse core (measured with
#     sys.modules and /proc/self/maps: no scipy.linalg, no scipy.libs OpenBLAS). The other
#     subpackages and scipy.libs (~100 MB) are removed; scipy.sparse.linalg/csgraph go too (they
#     need scipy.linalg). SLIM_SCIPY=0 keeps the full scipy.
#   - nothing is byte-compiled here: `precompile` does that in the runtime stage.
#
# precompile: imports what `flightontime serve` and `flightontime healthcheck` import (server,
# app, model code, uvicorn's loop/protocol/supervisor modules) and writes one .pyc per module it
# loaded, for /opt/venv and for the base image's standard library (python:3.11-slim ships no
# .pyc). Modules serving never imports stay source-only: no pyc for code that never runs.
# unchecked-hash pyc: valid whatever the file mtimes after COPY, never rewritten at run time.
set -euo pipefail

mb() { du -sm "$1" | cut -f1; }

slim() {
  local site=$1 before t
  [[ -d $site ]] || { echo "no such directory: $site" >&2; exit 1; }
  before=$(mb "$site")
  echo "site-packages as installed: ${before} MB"

  t=$(mb "$site")
  find "$site" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +
  echo "  test suites, __pycache__: -$((t - $(mb "$site"))) MB"

  t=$(mb "$site")
  find "$site" -type f \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' -o -name '*.pyi' \
    -o -name '*.c' -o -name '*.cc' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' \) -delete
  rm -rf "$site"/numpy/_core/include "$site"/numpy/_core/lib/pkgconfig "$site"/numpy/f2py/src
  echo "  sources, headers, stubs: -$((t - $(mb "$site"))) MB"

  t=$(mb "$site")
  find "$site" -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {} +
  echo "  strip extension modules: -$((t - $(mb "$site"))) MB"

  if [[ ${SLIM_SCIPY:-1} == 1 && -d $site/scipy ]]; then
    t=$(mb "$site")
    local sub
    for sub in cluster constants datasets differentiate fft fftpack integrate interpolate io \
               linalg misc ndimage odr optimize signal spatial special stats \
               sparse/linalg sparse/csgraph; do
      rm -rf "${site:?}/scipy/$sub"
    done
    rm -rf "$site"/scipy.libs
    echo "  scipy reduced to scipy.sparse (SLIM_SCIPY=1): -$((t - $(mb "$site"))) MB"
  fi

  echo "site-packages slimmed: ${before} MB -> $(mb "$site") MB"
}

precompile() {
  local python=$1
  "$python" - <<'EOF'
import importlib
import pkgutil
import py_compile
import sys

# What the server and the health check import at start-up and on the first requests.
ENTRY_POINTS = [
    "flightontime.cli",
    "flightontime.commands.serve",
    "flightontime.api.app",
    "uvicorn.main",
    "uvicorn.server",
    "uvicorn.loops.auto",
    "uvicorn.loops.uvloop",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.protocols.http.h11_impl",
    "uvicorn.protocols.websockets.auto",
    "uvicorn.lifespan.on",
    "uvicorn.supervisors.multiprocess",
    "uvicorn.middleware.proxy_headers",
    "multiprocessing.spawn",
    "multiprocessing.popen_spawn_posix",
    "multiprocessing.resource_tracker",
    "prometheus_client.multiprocess",
    "urllib.request",
    "lightgbm",
]
failed = []
for name in ENTRY_POINTS:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        failed.append(f"{name}: {exc}")
# Every serving module of the project (training modules that need pandas fail here: skipped).
import flightontime

for info in pkgutil.walk_packages(flightontime.__path__, "flightontime."):
    try:
        importlib.import_module(info.name)
    except ImportError:
        pass
if failed:
    sys.exit("serving imports failed:\n  " + "\n  ".join(failed))

files = sorted(
    {f for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None)) and f.endswith(".py")}
)
mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
for path in files:
    py_compile.compile(path, doraise=True, invalidation_mode=mode)
print(f"precompiled {len(files)} modules (venv and standard library) imported by serving")
EOF
}

case ${1:-} in
  slim) slim "${2:?site-packages directory}" ;;
  precompile) precompile "${2:?python executable}" ;;
  *) echo "usage: $0 slim SITE_PACKAGES | precompile PYTHON" >&2; exit 2 ;;
esac
