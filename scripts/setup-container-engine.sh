#!/usr/bin/env bash
# scripts/setup-container-engine.sh - make a Debian 12 (bookworm) machine able to build and run
# FlightOnTime's REAL images (docker/*.Dockerfile, the targets of docker-bake.hcl that
# scripts/bake.py builds with podman) and Compose files (docker/compose*.yml) without a Docker
# daemon and without a container registry (only apt and PyPI are reachable). CI runs it
# (`make container-engine`) on a clean machine as root; on a machine with Docker and a registry
# it is not needed at all.
#
# Taken from the team's tested recipe (shared/container/setup-engine.sh, same stand-in recipe
# label, so either script recognises the other's stand-in image). Every step checks first and
# only acts when something is missing: a re-run takes about 3 s.
#   1. installs podman, buildah, runc, netavark/aardvark-dns, mmdebstrap ... with apt;
#   2. writes /etc/containers/containers.conf.d/50-ci-engine.conf (runc instead of crun, ulimits
#      this VM allows, Docker image format so HEALTHCHECK survives `podman build`);
#   3. builds a stand-in for docker.io/library/python:3.11-slim from Debian packages and stores it
#      under that name, so `FROM python:3.11-slim` builds unchanged without pulling anything;
#      images built FROM it inherit the label ci.stand-in.recipe: they are for this machine only
#      (its apt sources and CAs are inside), never push them;
#   4. installs podman-compose from PyPI in /opt/podman-compose (-> /usr/local/bin);
#   5. self-test: runs the stand-in hardened (read-only, tmpfs /tmp, uid 1001, cap-drop ALL,
#      no-new-privileges, limits, published port, healthcheck) and removes it.
#
# Usage: sudo scripts/setup-container-engine.sh
# Knobs (environment variables):
#   FORCE_REBUILD=1           rebuild the stand-in image even if present
#   STANDIN_PY_HEADERS=0      leave out python3-dev (Python.h; ~32 MB with libc6-dev)
#   STANDIN_TAGS="a b"        names for the stand-in (default below)
#   PODMAN_COMPOSE_VERSION=x  podman-compose version from PyPI (default below)
#   SKIP_COMPOSE=1            do not install podman-compose
#   SKIP_SELFTEST=1           do not run the self-test
#
# Output: one line per step with its duration. Command output (apt, mmdebstrap, pip) goes to a
# log file that is shown, with URLs masked, only on failure. No mirror URL is read or printed.

set -Eeuo pipefail

# --------------------------------------------------------------- settings ---
SUITE=bookworm                 # Debian release of python3.11 (= python:3.11-slim's base)
PY=3.11
STANDIN_TAGS=${STANDIN_TAGS:-"docker.io/library/python:${PY}-slim docker.io/library/python:${PY}-slim-${SUITE}"}
STANDIN_PY_HEADERS=${STANDIN_PY_HEADERS:-1}
# Stored as an image label. Bump the number when the recipe below changes: an
# older stand-in is then rebuilt. An image without the label is never replaced
# (it is a real one), unless FORCE_REBUILD=1.
STANDIN_RECIPE=4-headers${STANDIN_PY_HEADERS}
STANDIN_LABEL=ci.stand-in.recipe
PODMAN_COMPOSE_VERSION=${PODMAN_COMPOSE_VERSION:-1.6.0}
COMPOSE_VENV=/opt/podman-compose
ENGINE_CONF=/etc/containers/containers.conf.d/50-ci-engine.conf

PACKAGES=(
  podman buildah runc conmon        # engine, builder, OCI runtime, monitor
  netavark aardvark-dns iptables    # container networks + DNS between compose services
  slirp4netns uidmap fuse-overlayfs # only used by rootless podman; small
  catatonit                         # init for `--init` / compose `init: true`
  mmdebstrap                        # builds the stand-in root file system
  ca-certificates curl              # TLS roots; curl for health probes
  python3-venv                      # venv for podman-compose
)

# ---------------------------------------------------------------- helpers ---
WORKDIR=$(mktemp -d /var/tmp/setup-container-engine.XXXXXX)
LOG=$WORKDIR/log
SELFTEST_NAME=flightontime-engine-selftest-$$
SELFTEST_STARTED=0
T0=$SECONDS
declare -a SUMMARY=()

log()  { printf '[setup-container-engine] %s\n' "$*"; }
mask() { sed -E 's#[a-zA-Z][a-zA-Z0-9+.-]*://[^ "'\'')]*#<url>#g'; }   # never show mirror URLs
die()  {
  printf '[setup-container-engine] ERROR: %s\n' "$*" >&2
  if [[ -s $LOG ]]; then
    printf '[setup-container-engine] last lines of the log (URLs masked):\n' >&2
    tail -n 25 "$LOG" | mask | sed 's/^/    /' >&2
  fi
  exit 1
}
trap 'die "command failed at line $LINENO: $BASH_COMMAND"' ERR

cleanup() {
  trap - ERR
  if ((SELFTEST_STARTED)); then podman rm -f -t 0 "$SELFTEST_NAME" >/dev/null 2>&1 || true; fi
  # mmdebstrap unmounts /proc, /dev ... itself; never rm -rf through a mount.
  if grep -q " $WORKDIR" /proc/self/mountinfo 2>/dev/null; then
    log "WARNING: something is still mounted under $WORKDIR; not deleting it"
  else
    rm -rf --one-file-system "$WORKDIR"
  fi
}
trap cleanup EXIT

# step NAME: start timing a step; done_step MESSAGE: print and record it
step()      { STEP_NAME=$1; STEP_T=$SECONDS; : >"$LOG"; }
done_step() { local d=$((SECONDS - STEP_T)); log "$STEP_NAME: $* (${d}s)"; SUMMARY+=("$STEP_NAME ${d}s"); }

min() { if [[ $1 == unlimited ]]; then echo "$2"; elif (( $1 < $2 )); then echo "$1"; else echo "$2"; fi; }

# -------------------------------------------------------------- preflight ---
[[ $EUID -eq 0 ]] || die "run as root (rootful podman is what this script configures)"
# shellcheck disable=SC1091
. /etc/os-release
[[ ${ID:-} == debian && ${VERSION_CODENAME:-} == "$SUITE" ]] \
  || die "this script targets Debian 12 ($SUITE); found ${PRETTY_NAME:-unknown}"

# ------------------------------------------------------ 1. engine packages ---
step packages
missing=()
for p in "${PACKAGES[@]}"; do
  [[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  # Retry once after `apt-get update` in case the package lists are stale.
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; then
    apt-get update >>"$LOG" 2>&1 || die "apt-get update failed"
    apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
      || die "apt-get install ${missing[*]} failed"
  fi
  done_step "installed ${missing[*]}"
else
  done_step "all present ($(podman --version))"
fi

# ----------------------------------------------------- 2. engine settings ---
step engine-config
# Containers may not raise rlimits above the hard limits of the process that
# starts them (this VM gives root no CAP_SYS_RESOURCE). Podman's rootful
# default (nofile=1048576, nproc=4194304) is above them, so every `podman run`
# failed with "error setting rlimit type 7: operation not permitted".
# Soft nofile 1024 is Docker's default for containers; the hard limit is the
# highest this machine allows, capped at Docker's 524288.
nofile_hard=$(min "$(ulimit -Hn)" 524288)
nproc=$(min "$(ulimit -Hu)" 4096)
# The file content stays byte-identical to the shared recipe's, so the two scripts never rewrite it.
conf=$(cat <<EOF
# Written by setup-engine.sh. Delete this file to undo.
[containers]
# podman's defaults exceed this machine's hard rlimits -> "error setting rlimit".
default_ulimits = ["nofile=1024:${nofile_hard}", "nproc=${nproc}:${nproc}"]

[engine]
# crun 1.8 stops with "cgroups in hybrid mode not supported" on cgroup v1 and
# hybrid hosts; runc works on v1, hybrid and v2.
runtime = "runc"
# podman build writes OCI images by default, which drop HEALTHCHECK
# ("HEALTHCHECK is not supported for OCI image format"). Docker format keeps it,
# like docker build. (podman 4.3 ignores image_default_format for builds.)
env = ["BUILDAH_FORMAT=docker"]
EOF
)
mkdir -p "$(dirname "$ENGINE_CONF")"
if [[ -f $ENGINE_CONF ]] && [[ "$(cat "$ENGINE_CONF")" == "$conf" ]]; then
  msg="unchanged"
else
  printf '%s\n' "$conf" >"$ENGINE_CONF"
  msg="wrote $ENGINE_CONF"
fi
rt=$(podman info --format '{{.Host.OCIRuntime.Name}}' 2>>"$LOG") || die "podman info failed"
[[ $rt == runc ]] || die "podman still uses OCI runtime '$rt' (is CONTAINERS_CONF set?)"
done_step "$msg (runtime=runc, nofile=1024:${nofile_hard}, nproc=${nproc})"

# ------------------------------------------- 3. stand-in python:3.11-slim ---
read -r -a tags <<<"$STANDIN_TAGS"
main_tag=${tags[0]}

build_standin() {
  local root=$WORKDIR/rootfs
  # apt sources: the machine's own (Debian) sources files, pasted verbatim into
  # the image so `apt-get install` works inside builds. No URL is handled here.
  # Taken: files with active entries for $SUITE that use Debian's keyring (or
  # no Signed-By at all); skipped: third-party repositories with their own key.
  local -a sources=()
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    grep -qsE '^[[:space:]]*(deb[[:space:]]|Types:.*\<deb\>)' "$f" || continue
    grep -qsw "$SUITE" "$f" || continue
    if grep -qsi 'signed-by' "$f" && ! grep -qs 'debian-archive-keyring' "$f"; then continue; fi
    sources+=("$f")
  done
  ((${#sources[@]})) || die "no Debian apt sources for $SUITE found in /etc/apt"
  # One-line apt settings the machine needs to reach its mirror (proxy,
  # Check-Valid-Until/Check-Date for a snapshot mirror, retries); they are
  # used for the bootstrap and kept in the image for builds.
  local -a aptopts=()
  cat /etc/apt/apt.conf /etc/apt/apt.conf.d/* 2>/dev/null \
    | grep -E '^[[:space:]]*Acquire::([A-Za-z0-9-]+::)*(Proxy|Check-Valid-Until|Check-Date|Retries|ForceIPv4|ForceIPv6)[[:space:]][^{}]*;[[:space:]]*$' \
    >"$WORKDIR/apt-host.conf" || true
  [[ -s $WORKDIR/apt-host.conf ]] && aptopts+=("--aptopt=$WORKDIR/apt-host.conf")

  # Debian minbase + python, with the same dpkg path excludes as
  # debian:bookworm-slim (no docs/man/locales); python3-dev gives the headers
  # the official image has (C extensions can be compiled once gcc is
  # installed), minus the 25 MB of static libpython the official image deletes.
  # The merged-usr hook avoids the usrmerge package (which drags in perl).
  local include=python3,python3-pip,python3-venv,ca-certificates,netbase,tzdata
  [[ $STANDIN_PY_HEADERS == 1 ]] && include+=,python3-dev
  local t=$SECONDS
  mmdebstrap --variant=minbase --mode=root --format=directory \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include="$include" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt="path-exclude=/usr/lib/python${PY}/config-${PY}-*/libpython${PY}*.a" \
    "${aptopts[@]}" \
    "$SUITE" "$root" "${sources[@]}" >>"$LOG" 2>&1 || die "mmdebstrap failed"
  TIME_BOOTSTRAP=$((SECONDS - t))

  # -- make it behave like the official image where Dockerfiles notice --
  # PEP 668: the official image lets `pip install` write to the system.
  rm -f "$root"/usr/lib/python3*/EXTERNALLY-MANAGED
  # python, python3, pip ... in /usr/local/bin like the official image.
  local n
  for n in python:python3 python3:python3 "python${PY}:python${PY}" pip:pip3 pip3:pip3 "pip${PY}:pip3"; do
    ln -sfn "/usr/bin/${n#*:}" "$root/usr/local/bin/${n%%:*}"
  done
  # Official layout: packages in /usr/local/lib/python3.11/site-packages.
  # Debian's python reads .../dist-packages, so make that a link to the former:
  # `pip install` (as root) lands in site-packages and a Dockerfile's
  # `COPY --from=builder /usr/local/lib/python3.11/site-packages ...` works.
  local lp=$root/usr/local/lib/python${PY}
  mkdir -p "$lp/site-packages"
  if [[ -d $lp/dist-packages && ! -L $lp/dist-packages ]]; then
    cp -a "$lp/dist-packages/." "$lp/site-packages/" && rm -rf "$lp/dist-packages"
  fi
  ln -sfn site-packages "$lp/dist-packages"
  # `pip install --prefix=/install` must give /install/lib/python3.11/site-packages
  # (official) instead of Debian's /install/local/lib/python3.11/dist-packages,
  # so the common `COPY --from=builder /install /usr/local` works.
  cat >>"$root/usr/lib/python${PY}/sysconfig.py" <<'EOF'

# --- added by setup-engine.sh (CI stand-in for python:3.11-slim) -------------
# With an explicit prefix (pip install --prefix=P) use upstream CPython's layout
# P/lib/pythonX.Y/site-packages instead of Debian's P/local/lib/.../dist-packages.
_debian_get_paths = get_paths
def get_paths(scheme=get_default_scheme(), vars=None, expand=True):
    if scheme == 'posix_local' and vars and vars.get('base', sys.prefix) != sys.prefix:
        scheme = 'posix_prefix'
    return _debian_get_paths(scheme, vars, expand)
EOF
  # apt settings of the official Debian images (no caches, no translations,
  # compressed lists, aggressive autoremove).
  local ac=$root/etc/apt/apt.conf.d
  cat >"$ac/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::GzipIndexes "true";'                >"$ac/docker-gzip-indexes"
  echo 'Acquire::Languages "none";'                  >"$ac/docker-no-languages"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$ac/docker-autoremove-suggests"
  # Extra CAs this machine trusts (e.g. a TLS-intercepting egress proxy):
  # without them pip/apt inside builds fail with CERTIFICATE_VERIFY_FAILED.
  # Stored in /usr/local/share/ca-certificates so they survive a later
  # `update-ca-certificates` inside a Dockerfile.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >>"$LOG" 2>&1 || die "update-ca-certificates failed"
  fi
  # No host identity in the image (podman provides these files at run time).
  : >"$root/etc/resolv.conf"
  echo localhost >"$root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  # Slim: no package lists/caches/logs, no byte code (the official image
  # deletes *.pyc too).
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
         "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old "$root"/var/log/*.log \
         "$root"/var/log/apt/*
  find "$root"/usr/lib/python3* -name __pycache__ -type d -prune -exec rm -rf {} +

  # -- check before importing --
  chroot "$root" /usr/local/bin/python -c "
import sys, sysconfig
from pip._internal.locations import get_scheme
assert sys.version_info[:2] == (${PY/./, }), sys.version
assert get_scheme('x', prefix='/install').purelib == '/install/lib/python${PY}/site-packages'
assert get_scheme('x').purelib == '/usr/local/lib/python${PY}/dist-packages'
" >>"$LOG" 2>&1 || die "python layout check failed in the new root file system"
  for n in useradd groupadd apt-get pip; do
    chroot "$root" sh -c "command -v $n" >/dev/null || die "$n missing in the stand-in"
  done
  if [[ $STANDIN_PY_HEADERS == 1 && ! -f $root/usr/include/python${PY}/Python.h ]]; then
    die "Python.h missing in the stand-in"
  fi

  # -- import as an image with the official image's config --
  local ver
  t=$SECONDS
  ver=$(chroot "$root" python3 -c 'import platform; print(platform.python_version())')
  tar --numeric-owner -C "$root" -cf - . | podman import \
      --change "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change "ENV LANG=C.UTF-8" \
      --change "ENV PYTHON_VERSION=$ver" \
      --change 'CMD ["python3"]' \
      --change "LABEL $STANDIN_LABEL=$STANDIN_RECIPE" \
      --change "LABEL org.opencontainers.image.description=\"Local stand-in for python:${PY}-slim, built from Debian ${SUITE} packages by setup-engine.sh\"" \
      - "$main_tag" >>"$LOG" 2>&1 || die "podman import failed"
  TIME_IMPORT=$((SECONDS - t))
}

step stand-in
label=""
if podman image exists "$main_tag"; then
  label=$(podman image inspect --format "{{ index .Labels \"$STANDIN_LABEL\" }}" "$main_tag" 2>/dev/null || true)
  if [[ $label == "<no value>" ]]; then label=""; fi
fi
if podman image exists "$main_tag" && [[ -z $label && ${FORCE_REBUILD:-0} != 1 ]]; then
  done_step "$main_tag exists and is not a stand-in (a real image?); left alone"
elif [[ $label == "$STANDIN_RECIPE" && ${FORCE_REBUILD:-0} != 1 ]]; then
  for t in "${tags[@]:1}"; do podman tag "$main_tag" "$t"; done
  done_step "present ($main_tag, recipe $STANDIN_RECIPE)"
else
  old_id=$(podman image inspect --format '{{.Id}}' "$main_tag" 2>/dev/null || true)
  build_standin
  for t in "${tags[@]:1}"; do podman tag "$main_tag" "$t"; done
  new_id=$(podman image inspect --format '{{.Id}}' "$main_tag")
  # Drop the previous stand-in (never a real image) if nothing uses it any more.
  if [[ -n $label && -n $old_id && $old_id != "$new_id" ]]; then
    podman rmi "$old_id" >>"$LOG" 2>&1 || log "note: old stand-in ${old_id:0:12} kept (still in use)"
  fi
  size=$(podman image inspect --format '{{.Size}}' "$main_tag")
  done_step "built ${tags[*]} ($((size / 1000000)) MB; bootstrap ${TIME_BOOTSTRAP}s, import ${TIME_IMPORT}s)"
fi

# ----------------------------------------------------- 4. podman-compose ---
if [[ ${SKIP_COMPOSE:-0} != 1 ]]; then
  step podman-compose
  have=$("$COMPOSE_VENV/bin/pip" show podman-compose 2>/dev/null | sed -n 's/^Version: //p' || true)
  if [[ -x $COMPOSE_VENV/bin/podman-compose && $have == "$PODMAN_COMPOSE_VERSION" ]]; then
    msg="present"
  else
    python3 -m venv "$COMPOSE_VENV" >>"$LOG" 2>&1 || die "python3 -m venv $COMPOSE_VENV failed"
    "$COMPOSE_VENV/bin/pip" install -q "podman-compose==$PODMAN_COMPOSE_VERSION" >>"$LOG" 2>&1 \
      || die "pip install podman-compose==$PODMAN_COMPOSE_VERSION failed"
    msg="installed"
  fi
  ln -sfn "$COMPOSE_VENV/bin/podman-compose" /usr/local/bin/podman-compose
  done_step "$msg podman-compose $PODMAN_COMPOSE_VERSION -> /usr/local/bin/podman-compose"
fi

# ------------------------------------------------------------ 5. self-test ---
if [[ ${SKIP_SELFTEST:-0} != 1 ]]; then
  step self-test
  # The image has what Dockerfiles expect.
  podman run --rm --pull=never "$main_tag" sh -c '
    set -e
    for c in python python3 pip pip3 useradd groupadd apt-get; do command -v $c >/dev/null; done
    test ! -e /usr/lib/python3.11/EXTERNALLY-MANAGED
    python -c "import ssl, sqlite3, venv, ensurepip"' >>"$LOG" 2>&1 \
    || die "the stand-in lacks a command or module it should have"
  # ...and runs like production: hardened, limited, published port, healthcheck.
  SELFTEST_STARTED=1
  podman run -d --name "$SELFTEST_NAME" --pull=never \
    --read-only --tmpfs /tmp --user 1001:1001 --cap-drop ALL \
    --security-opt no-new-privileges --memory 256m --cpus 1 \
    -p 127.0.0.1::8000 \
    --health-cmd 'python3 -c "import urllib.request as u; u.urlopen(\"http://127.0.0.1:8000/\", timeout=3)"' \
    "$main_tag" python3 -m http.server 8000 --directory /tmp >>"$LOG" 2>&1 \
    || die "podman run of the stand-in failed (see log: runtime, ulimits, network)"
  healthy=""
  for _ in $(seq 1 30); do
    if podman healthcheck run "$SELFTEST_NAME" >>"$LOG" 2>&1; then healthy=yes; break; fi
    sleep 1
  done
  [[ -n $healthy ]] || die "self-test container never became healthy"
  status=$(podman inspect --format '{{.State.Health.Status}}' "$SELFTEST_NAME")
  hostport=$(podman port "$SELFTEST_NAME" 8000/tcp | head -n1)
  curl -fsS --max-time 5 "http://$hostport/" >/dev/null || die "published port $hostport does not answer"
  uid=$(podman exec "$SELFTEST_NAME" id -u)
  [[ $uid == 1001 ]] || die "container runs as uid $uid, expected 1001"
  # (podman prints "unable to get systemd connection" here: no systemd timers)
  podman rm -f -t 0 "$SELFTEST_NAME" >>"$LOG" 2>&1
  done_step "ok (read-only, uid 1001, health=$status, port $hostport answered)"
fi

log "done in $((SECONDS - T0))s: ${SUMMARY[*]}"
log "use: podman build -t app . && podman run ...   |   podman-compose up -d"
