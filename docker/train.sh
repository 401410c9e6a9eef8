#!/usr/bin/env bash
# `docker compose up training`: train on /data, write the run to /runs, export the generator into the run
# folder and, when TRAIN_RELEASE names a new release (e.g. v2), publish it in /weights (releases.json).
# Configure with environment variables (see docker-compose.yml) or a mounted TOML/YAML file in TRAIN_CONFIG;
# TRAIN_DATA_DIR, TRAIN_RUNS_DIR and TRAIN_WEIGHTS_DIR move the three folders (tests use them).
# Order of precedence, as in `python -m training train`: preset, then the file, then --set.
set -euo pipefail

data_dir="${TRAIN_DATA_DIR:-/data}"
runs_dir="${TRAIN_RUNS_DIR:-/runs}"
run_name="${TRAIN_RUN_NAME:-$(date -u +%Y%m%d-%H%M%S)-${TRAIN_PRESET:-train}}"
run_dir="${runs_dir}/${run_name}"
weights_dir="${TRAIN_WEIGHTS_DIR:-/weights}"
export_to="${run_dir}/${TRAIN_EXPORT_NAME:-generator.safetensors}"

# extra settings, space-separated: TRAIN_SET="epochs=50 g_channels=32"
read -r -a extra <<< "${TRAIN_SET:-}"
settings=()
if [[ -n "${TRAIN_MAX_MINUTES:-}" ]]; then settings+=(--set "max_minutes=${TRAIN_MAX_MINUTES}"); fi
for setting in "${extra[@]}"; do settings+=(--set "${setting}"); done

if [[ -f "${run_dir}/snapshot.pt" ]]; then
  # a restarted container with a fixed TRAIN_RUN_NAME: continue the run, do not start over
  python -m training train --resume "${run_dir}" "${settings[@]}"
else
  args=(train --data "${data_dir}" --set "out_dir=${runs_dir}" --set "run_name=${run_name}")
  if [[ -n "${TRAIN_PRESET:-}" ]]; then args+=(--preset "${TRAIN_PRESET}"); fi
  if [[ -n "${TRAIN_CONFIG:-}" ]]; then args+=(--config "${TRAIN_CONFIG}"); fi
  if [[ -n "${AVATARS_CASCADE:-}" && -f "${AVATARS_CASCADE}" ]]; then args+=(--set "cascade=${AVATARS_CASCADE}"); fi
  python -m training "${args[@]}" "${settings[@]}"
fi

export_args=(export "${run_dir}" --out "${export_to}")
if [[ -n "${AVATARS_CASCADE:-}" && -f "${AVATARS_CASCADE}" ]]; then
  export_args+=(--evaluate --cascade "${AVATARS_CASCADE}")
fi
python -m training "${export_args[@]}"

if [[ -z "${TRAIN_RELEASE:-}" ]]; then
  echo "exported ${export_to}; publish it with TRAIN_RELEASE=<new name>, or:"
  echo "  python -m training release --weights-dir ${weights_dir} publish <new name> ${export_to} --check ... --data ..."
  exit 0
fi
# a published name never changes its weights: `release publish` refuses a name that exists, and a new
# generator only goes out through the two-lens release check against the default release
publish_args=(release --weights-dir "${weights_dir}" publish "${TRAIN_RELEASE}" "${export_to}" --no-goldens)
if [[ -f "${weights_dir}/releases.json" ]]; then
  check_args=(release --weights-dir "${weights_dir}" check "${export_to}" --data "${data_dir}" --out "${run_dir}/check")
  if [[ -n "${AVATARS_CASCADE:-}" && -f "${AVATARS_CASCADE}" ]]; then check_args+=(--cascade "${AVATARS_CASCADE}"); fi
  # the HD sizes the release will draw are judged with the very upscaler it ships with
  if [[ -n "${TRAIN_RELEASE_UPSCALER:-}" ]]; then check_args+=(--upscaler "${TRAIN_RELEASE_UPSCALER}"); fi
  status=0
  python -m training "${check_args[@]}" || status=$?
  if [[ ${status} -eq 1 ]]; then
    echo "${TRAIN_RELEASE} not published: the release check refused it (${run_dir}/check/release-check.md)" >&2
    exit 1
  elif [[ ${status} -ne 0 ]]; then
    echo "${TRAIN_RELEASE} not published: the release check could not run (exit ${status}, message above)" >&2
    exit "${status}"
  fi
  publish_args+=(--check "${run_dir}/check/release-check.json")
fi
if [[ -n "${AVATARS_CASCADE:-}" && -f "${AVATARS_CASCADE}" ]]; then
  # the creator's directions and hair colours are measured with the face detector
  publish_args+=(--data "${data_dir}" --cascade "${AVATARS_CASCADE}" --directions-out "${run_dir}/directions")
else
  publish_args+=(--no-directions)
fi
if [[ -n "${TRAIN_RELEASE_UPSCALER:-}" ]]; then publish_args+=(--upscaler "${TRAIN_RELEASE_UPSCALER}"); fi
if [[ "${TRAIN_RELEASE_DEFAULT:-false}" == "true" ]]; then publish_args+=(--default); fi
python -m training "${publish_args[@]}"
echo "published ${TRAIN_RELEASE} in ${weights_dir}; restart the API to serve it: docker compose restart api"
echo "before committing it to the repository, record its golden avatars: python -m training release goldens ${TRAIN_RELEASE}"
