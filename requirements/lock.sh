#!/usr/bin/env bash
# Re-pin requirements/{serve,train}.txt from pyproject.toml in clean virtual environments.
set -euo pipefail
cd "$(dirname "$0")/.."
for kind in serve train; do
  spec=".[$kind]"  # the service's and the training module's own extras: neither image has the other's
  venv=$(mktemp -d)
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "$spec"
  {
    echo "# Exact versions for the $kind image (linux x86_64, CPython 3.11): the closure of \`pip install $spec\`."
    echo "# Regenerate with requirements/lock.sh after changing pyproject.toml."
    # --all keeps setuptools (torch requires it at run time); pip itself is the image's own
    "$venv/bin/pip" freeze --all --exclude-editable | grep -vE '^(anime-avatars( @ |==)|pip==|wheel==)'
  } > "requirements/$kind.txt"
  rm -rf "$venv"
done
# the wheel stage's build backend: the same setuptools as the images
grep '^setuptools==' requirements/serve.txt > /dev/null  # fails loudly if the pin went missing
sed -i "s/^setuptools==.*/$(grep '^setuptools==' requirements/serve.txt)/" requirements/build.txt
