#!/usr/bin/env bash
# `docker compose up training`: train on /data, write the run to /runs, export the generator to /weights.
# Configure with environment variables (see docker-compose.yml) or a mounted TOML file in TRAIN_CONFIG.
set -euo pipefail

run_name="${TRAIN_RUN_NAME:-$(date -u +%Y%m%d-%H%M%S)-${TRAIN_PRESET:-sngan-64}}"
export_to="/weights/${TRAIN_EXPORT_NAME:-retrained.safetensors}"

args=(train --data /data --set out_dir=/runs --set "run_name=${run_name}")
if [[ -n "${TRAIN_CONFIG:-}" ]]; then args+=(--config "${TRAIN_CONFIG}"); fi
if [[ -n "${TRAIN_PRESET:-}" ]]; then args+=(--preset "${TRAIN_PRESET}"); fi
if [[ -n "${TRAIN_MAX_MINUTES:-}" ]]; then args+=(--set "max_minutes=${TRAIN_MAX_MINUTES}"); fi
if [[ -n "${AVATARS_CASCADE:-}" && -f "${AVATARS_CASCADE}" ]]; then args+=(--set "cascade=${AVATARS_CASCADE}"); fi
# extra settings, e.g. TRAIN_SET="epochs=50 g_channels=32"
for setting in ${TRAIN_SET:-}; do args+=(--set "${setting}"); done

if [[ -f "/runs/${run_name}/snapshot.pt" ]]; then
  python -m training train --resume "/runs/${run_name}"  # restarted container: continue, do not start over
else
  python -m training "${args[@]}"
fi

export_args=(export "/runs/${run_name}" --out "${export_to}")
if [[ -n "${AVATARS_CASCADE:-}" && -f "${AVATARS_CASCADE}" ]]; then
  export_args+=(--evaluate --cascade "${AVATARS_CASCADE}")
fi
python -m training "${export_args[@]}"
echo "exported ${export_to}; serve it with AVATARS_WEIGHTS_FILE=$(basename "${export_to}") docker compose up -d api"
