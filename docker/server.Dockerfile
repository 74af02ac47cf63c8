# FlightOnTime's serving image: flightontime-core + flightontime-server + flightontime-cli and
# the model bundles named by MODELS (default "default brazil": models/<name> ->
# /opt/flightontime/models/<name>), nothing else. Built by docker-bake.hcl (target `server`;
# `make image` here), which sets the OCI labels:
#
#   docker buildx bake server                      # or: python scripts/bake.py server (podman)
#   docker run -d -p 127.0.0.1:8000:8000 -e PREDICTION_API_TOKEN --read-only --tmpfs /tmp \
#     --cap-drop ALL --security-opt no-new-privileges flightontime:<version>
#
# Stages: build (the locked dependencies from requirements/serve.lock, hash-checked, slimmed;
# the three packages' wheels built with hatchling and installed --no-deps) | runtime-base
# (python:3.11-slim without pip, appuser 1001) -> smoke (the real server started from the
# slimmed tree and exercised; what it imported is byte-compiled) -> runtime -> release (the
# release group's target: SIGNING=1, the public key in MODEL_PUBLIC_KEY, every bundle verified at
# build and at start). Only `runtime` or `release` ships: no compiler, no pip, no build backend,
# no training stack. The build context is docker/server.Dockerfile.dockerignore (an allowlist).

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# binutils: `strip` for the extension modules and `readelf` for the library probe. Every locked
# package has a wheel for this platform: no compiler.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
# The serving dependencies, every file checked against its hash; the venv has no pip.
# SIGNING=1 installs the core's `signing` extra as well (requirements/serve-signing.lock:
# model-signing, to check a bundle's signature at load when FLIGHTONTIME_MODEL_PUBLIC_KEY is
# set; docs/release.md, "Model signatures"). Off by default: it adds sigstore, cryptography and
# pydantic to an image that never needs them without a key.
ARG SIGNING=0
COPY requirements/serve.lock requirements/serve-signing.lock /build/requirements/
RUN case "$SIGNING" in 0) lock=serve.lock ;; 1) lock=serve-signing.lock ;; \
      *) echo "SIGNING must be 0 or 1, not '$SIGNING'" >&2; exit 1 ;; esac \
 && python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-compile --require-hashes \
        -r "/build/requirements/$lock"
# Drop what serving never loads. Each step is kept for the bytes it saves (measured on the
# installed tree, docs/container.md: steps under about 1 MB are not worth a line), and the smoke
# stage below serves the real app from the pruned tree, so a removal serving needs fails the
# build; a path that matches nothing fails it too, so a renamed file is noticed.
WORKDIR /opt/venv/lib/python3.11/site-packages
# Litestar pulls in polyfactory and faker (its test factories) and pygments (through rich);
# onnxruntime's offline tools need protobuf, its inference API does not (the signing extra keeps
# it: in-toto reads its statements with protobuf).
RUN if [ -d model_signing ]; then protobuf=; else protobuf=protobuf; fi \
 && pip --python /opt/venv/bin/python uninstall --yes polyfactory faker pygments $protobuf
# onnxruntime's wheel carries the runtime twice (its Python module is statically linked and never
# maps libonnxruntime.so, which is for C API users) and its offline tooling; numpy's build
# helpers, test-only modules and the subpackages nothing here imports; Swagger UI's source maps
# and the bundle flavours the docs page never requests.
RUN for path in onnxruntime/capi/libonnxruntime.so.* onnxruntime/transformers \
        onnxruntime/quantization onnxruntime/tools numpy/f2py numpy/distutils \
        numpy/_core/_simd.*.so numpy/_core/_*_tests.*.so numpy/random numpy/fft \
        numpy/polynomial swagger_ui_bundle/vendor/*/*.map \
        swagger_ui_bundle/vendor/*/swagger-ui-es-bundle*.js \
        swagger_ui_bundle/vendor/*/swagger-ui.js; do \
      test -e "$path" || { echo "$path matches nothing" >&2; exit 1; }; \
      rm -rf "$path"; \
    done
# Test suites, C and Cython sources, headers and stubs: nothing imports them.
RUN find . -depth -type d \( -name tests -o -name __pycache__ -o -name testing_data \) \
        -exec rm -rf {} + \
 && find . -type f \( -name '*.py[xi]' -o -name '*.px[di]' -o -name '*.[ch]' \
        -o -name '*.[ch]pp' -o -name '*.cc' \) -delete
# Debug symbols of the extension modules (the auditwheel-vendored libraries in *.libs/ are left
# alone: `strip` breaks what patchelf rewrote).
RUN find . -type f \( -name '*.so' -o -name '*.so.*' \) -not -path '*.libs/*' \
        -exec strip --strip-unneeded {} +
WORKDIR /
# The build backend (hatchling, pinned with hashes in requirements/hatch.lock) in its own venv:
# only hatchling's blocks of the lock, so pip's --require-hashes refuses a new dependency of
# hatchling that the lock does not pin.
COPY requirements/hatch.lock /build/requirements/hatch.lock
RUN awk -v want=' hatchling packaging pathspec pluggy tomlkit trove-classifiers ' \
        '/^[^ #]/ { name = tolower($1); sub(/==.*/, "", name); gsub(/[-_.]+/, "-", name); \
                    keep = index(want, " " name " ") > 0 } \
         keep && !/^ *#/' /build/requirements/hatch.lock > /build/backend.lock \
 && python -m venv /opt/buildtools \
 && /opt/buildtools/bin/pip install --no-compile --require-hashes -r /build/backend.lock
# The project: three wheels, installed without dependencies into a prefix of their own (a
# code change rebuilds this small layer only).
COPY packages/core /build/packages/core
COPY packages/server /build/packages/server
COPY packages/cli /build/packages/cli
RUN for package in core server cli; do \
      /opt/buildtools/bin/pip wheel --no-deps --no-build-isolation -w /build/wheels \
          "/build/packages/$package" || exit 1; \
    done \
 && pip --python /opt/venv/bin/python install --no-deps --no-compile --prefix /opt/project \
        /build/wheels/flightontime_*.whl \
 && test -x /opt/project/bin/flightontime

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# No pip, setuptools or wheel in the image (nor ensurepip's bundled copies), and the user of
# the issue, appuser 1001:1001, who owns nothing: only /tmp is written at run time.
RUN for dir in $(python -c 'import site, sys; print(" ".join(site.getsitepackages()))') \
               /usr/lib/python3/dist-packages; do \
      rm -rf "$dir"/pip "$dir"/pip-* "$dir"/setuptools "$dir"/setuptools-* "$dir"/pkg_resources \
             "$dir"/_distutils_hack "$dir"/distutils-precedence.pth "$dir"/wheel "$dir"/wheel-*; \
    done \
 && rm -rf /usr/local/bin/pip* /usr/bin/pip* /usr/share/python-wheels \
           "$(python -c 'import ensurepip, os; print(os.path.dirname(ensurepip.__file__))')/_bundled" \
 && if python -c 'import pip' 2>/dev/null; then echo "pip is still importable" >&2; exit 1; fi \
 && groupadd --system --gid 1001 appuser \
 && useradd --system --uid 1001 --gid appuser --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin appuser
# Byte code lives in /opt/pycache (PYTHONPYCACHEPREFIX), written at build time for exactly the
# modules serving imports, the standard library's included; nothing is compiled or written at
# run time (PYTHONDONTWRITEBYTECODE, read-only root file system).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPYCACHEPREFIX=/opt/pycache \
    PATH=/opt/venv/bin:$PATH \
    FLIGHTONTIME_HOST=0.0.0.0 \
    FLIGHTONTIME_PORT=8000 \
    FLIGHTONTIME_MODEL_DIR=/opt/flightontime/models \
    FLIGHTONTIME_GRACEFUL_TIMEOUT_S=8

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS smoke
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/project/ /opt/venv/
# The committed bundles named by MODELS, copied (never trained in the build); each flight is
# answered by the bundle of its origin's country, `default` by the rest. A signature
# (models/<name>/model.sig, written by the release before the build) comes with its bundle.
COPY models/ /build/models/
ARG MODELS="default brazil"
RUN install -d /opt/flightontime/models \
 && for name in $MODELS; do \
      test -f "/build/models/$name/manifest.json" \
        || { echo "MODELS: no bundle models/$name (no models/$name/manifest.json)" >&2; exit 1; }; \
      cp -R "/build/models/$name" /opt/flightontime/models/; \
    done \
 && test -n "$(ls /opt/flightontime/models)" || { echo "MODELS names no bundle" >&2; exit 1; } \
 && rm -rf /build/models
COPY docker/smoke.py /build/smoke.py
ARG VERSION=0.0.0
RUN chmod -R a+rX,go-w /opt/flightontime/models \
 && python -c 'import sys; from importlib.metadata import distributions as d; \
      found = {x.name: x.version for x in d() if x.name.startswith("flightontime")}; \
      sys.exit(f"VERSION={sys.argv[1]} but {found}" if set(found.values()) != {sys.argv[1]} else 0)' \
      "$VERSION" \
 && install -d -o appuser -g appuser /opt/pycache
# As the user that runs it: serve the real app from this tree (2 workers), predict, refuse a bad
# request, the OpenAPI document, the docs page, metrics, the health check, SIGTERM. With
# PYTHONDONTWRITEBYTECODE unset, every process (the workers too) writes the byte code of each
# module it imports into /opt/pycache: exactly what serving loads, standard library included.
# The named user of the issue (its UID/GID are fixed to 1001 above; Kubernetes sets runAsUser).
# hadolint ignore=DL3066
USER appuser
RUN env -u PYTHONDONTWRITEBYTECODE python /build/smoke.py
# Root rewrites that byte code as unchecked-hash .pyc (valid whatever the mtimes after COPY,
# never rewritten) into a root-owned /opt/pycache.
# This stage never ships: the runtime stage below runs as appuser.
# hadolint ignore=DL3002,DL3066
USER root
RUN find /opt/pycache -name '*.cpython-311.pyc' \
      | sed 's|^/opt/pycache||; s|\.cpython-311\.pyc$|.py|' > /tmp/imported \
 && for module in flightontime_server/app onnxruntime/__init__ uvicorn/loops/uvloop \
                  multiprocessing/spawn; do \
      grep -q "/$module.py$" /tmp/imported || { echo "serving never imported $module" >&2; exit 1; }; \
    done \
 && rm -rf /opt/pycache \
 && python -m compileall -q --invalidation-mode unchecked-hash -i /tmp/imported \
 && echo "byte code of $(wc -l < /tmp/imported) modules serving imported: $(du -sh /opt/pycache)"
# The signature check (SIGNING=1) runs only when a key is configured, so the smoke test above
# never imports it: its whole dependency tree is byte-compiled here instead.
ARG SIGNING=0
RUN if [ "$SIGNING" = 1 ]; then \
      python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
          /opt/venv/lib/python3.11/site-packages \
      && python -c 'import model_signing.verifying'; \
    fi

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS runtime
# Layers from the most to the least stable: dependencies, project, byte code, model.
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/project/ /opt/venv/
COPY --from=smoke /opt/pycache /opt/pycache
COPY --from=smoke /opt/flightontime/models /opt/flightontime/models
WORKDIR /opt/flightontime
# The named user of the issue (its UID/GID are fixed to 1001 above; Kubernetes sets runAsUser).
# hadolint ignore=DL3066
USER appuser
EXPOSE 8000
# uvicorn drains in-flight requests on SIGTERM (FLIGHTONTIME_GRACEFUL_TIMEOUT_S=8 fits inside
# `docker stop`'s default 10 s). The server is PID 1 (exec form): signals reach it directly.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["flightontime", "healthcheck"]
CMD ["flightontime", "serve"]

# ---------------------------------------------------------------------------------------------
# The release image (docker-bake.hcl's `server-release`, built with SIGNING=1): the project's
# model-signing public key inside and FLIGHTONTIME_MODEL_PUBLIC_KEY set, so `flightontime serve`
# refuses an unsigned or changed bundle at start (exit 3, naming the file). The key is a build
# argument, PEM text: the release sets it from the repository variable MODEL_SIGNING_PUBLIC_KEY
# (docs/release.md, "Model signatures"). The bundles baked in are verified here as well, so a
# release whose bundles were not signed with the matching private key fails to build.
FROM runtime AS release
# Root writes the key where appuser can read but not change it; the stage ends as appuser.
# hadolint ignore=DL3002,DL3066
USER root
ARG MODEL_PUBLIC_KEY=""
RUN test -n "$MODEL_PUBLIC_KEY" \
      || { echo "MODEL_PUBLIC_KEY is empty: the release image needs the model-signing public key (PEM)" >&2; exit 1; } \
 && python -c 'import model_signing' 2>/dev/null \
      || { echo "the release image needs model-signing: build it with SIGNING=1" >&2; exit 1; } \
 && install -d -m 755 /opt/flightontime/keys \
 && printf '%s\n' "$MODEL_PUBLIC_KEY" > /opt/flightontime/keys/model-signing.pub \
 && chmod 644 /opt/flightontime/keys/model-signing.pub
ENV FLIGHTONTIME_MODEL_PUBLIC_KEY=/opt/flightontime/keys/model-signing.pub
# Verify and serve as the named user of the issue (UID/GID fixed to 1001 above).
# hadolint ignore=DL3066
USER appuser
RUN for bundle in /opt/flightontime/models/*/; do \
      flightontime verify "$bundle" --public-key "$FLIGHTONTIME_MODEL_PUBLIC_KEY" > /dev/null \
        || { echo "$bundle: not signed by MODEL_PUBLIC_KEY's private key" >&2; exit 1; }; \
    done
