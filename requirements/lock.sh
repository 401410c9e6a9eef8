#!/usr/bin/env bash
# Re-pin requirements/{serve,train}.txt from pyproject.toml in clean virtual environments.
set -euo pipefail
cd "$(dirname "$0")/.."
for kind in serve train; do
  spec="."; [[ $kind == train ]] && spec=".[train]"
  venv=$(mktemp -d)
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$spec"
  {
    echo "# Exact versions for the $kind image (linux x86_64, CPython 3.11): the closure of \`pip install $spec\`."
    echo "# Regenerate with requirements/lock.sh after changing pyproject.toml."
    "$venv/bin/pip" freeze --exclude-editable | grep -v '^anime-avatars'
  } > "requirements/$kind.txt"
  rm -rf "$venv"
done
