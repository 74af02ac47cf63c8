#!/usr/bin/env bash
# Sign every model bundle under models/ with the project's model-signing key, before the release
# images are baked (docs/release.md, "Model signatures"):
#
#   MODEL_SIGNING_KEY_FILE=/path/private.pem MODEL_PUBLIC_KEY="$(cat public.pem)" \
#     scripts/sign-models.sh [models]
#
# Each bundle models/<name>/ (a directory with a manifest.json) gets models/<name>/model.sig
# (OpenSSF model-signing, an EC key pair: `model_signing sign key`), then the signature is checked
# with MODEL_PUBLIC_KEY the way the server checks it (`flightontime verify --public-key`, when
# the flightontime command is installed; model-signing's own verification otherwise), so a
# release never bakes a signature that the image's public key refuses. model.sig is ignored by
# git (.gitignore): signatures are made by each release, never committed.
#
# Settings (environment):
#   MODEL_SIGNING_KEY_FILE   the EC private key (PEM); in CI written from the secret
#                            MODEL_SIGNING_KEY to a file only this job reads
#   MODEL_PUBLIC_KEY         the matching public key, PEM text (docker-bake.hcl's variable)
#   SIGN_PYTHON              the Python that has model-signing (default: .venv/bin/python, else
#                            python3)
#   DRY_RUN=1                print what would be signed, sign nothing
set -Eeuo pipefail

die() { printf 'sign-models: ERROR: %s\n' "$*" >&2; exit 1; }
log() { printf 'sign-models: %s\n' "$*" >&2; }

cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODELS_ROOT=${1:-models}
DRY_RUN=${DRY_RUN:-0}
SIGN_PYTHON=${SIGN_PYTHON:-}
if [[ -z $SIGN_PYTHON ]]; then
  if [[ -x .venv/bin/python ]]; then SIGN_PYTHON=.venv/bin/python; else SIGN_PYTHON=python3; fi
fi

BUNDLES=()
for manifest in "$MODELS_ROOT"/*/manifest.json; do
  [[ -f $manifest ]] && BUNDLES+=("$(dirname "$manifest")")
done
[[ ${#BUNDLES[@]} -gt 0 ]] || die "no bundle under $MODELS_ROOT/ (no $MODELS_ROOT/<name>/manifest.json)"

if [[ $DRY_RUN == 1 ]]; then
  for bundle in "${BUNDLES[@]}"; do log "would sign $bundle -> $bundle/model.sig"; done
  exit 0
fi

[[ -n ${MODEL_SIGNING_KEY_FILE:-} ]] ||
  die "MODEL_SIGNING_KEY_FILE is not set: the EC private key (PEM) that signs the bundles"
[[ -f $MODEL_SIGNING_KEY_FILE ]] || die "MODEL_SIGNING_KEY_FILE=$MODEL_SIGNING_KEY_FILE: no such file"
[[ -n ${MODEL_PUBLIC_KEY:-} ]] ||
  die "MODEL_PUBLIC_KEY is not set: the public key (PEM text) the release image verifies with"
"$SIGN_PYTHON" -c 'import model_signing' 2>/dev/null ||
  die "$SIGN_PYTHON cannot import model_signing (make install, or SIGN_PYTHON=...)"

PUBLIC=$(mktemp)
trap 'rm -f "$PUBLIC"' EXIT
printf '%s\n' "$MODEL_PUBLIC_KEY" > "$PUBLIC"
FLIGHTONTIME=$(dirname "$SIGN_PYTHON")/flightontime

for bundle in "${BUNDLES[@]}"; do
  rm -f "$bundle/model.sig"
  "$SIGN_PYTHON" -m model_signing sign key "$bundle" \
    --private_key "$MODEL_SIGNING_KEY_FILE" --signature "$bundle/model.sig" >/dev/null ||
    die "$bundle: signing failed"
  if [[ -x $FLIGHTONTIME ]]; then
    "$FLIGHTONTIME" verify "$bundle" --public-key "$PUBLIC" >/dev/null ||
      die "$bundle: its new signature does not verify with MODEL_PUBLIC_KEY (not the signing key's public key?)"
  else
    "$SIGN_PYTHON" -m model_signing verify key "$bundle" \
      --signature "$bundle/model.sig" --public_key "$PUBLIC" >/dev/null ||
      die "$bundle: its new signature does not verify with MODEL_PUBLIC_KEY (not the signing key's public key?)"
  fi
  log "signed $bundle -> $bundle/model.sig (verified with MODEL_PUBLIC_KEY)"
done
