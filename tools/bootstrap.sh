#!/usr/bin/env bash
# Installs the pinned toolchain (Deno and Zig, from the Python package index)
# into .tools/ inside the checkout on first use, and prints the PATH entries
# that provide `deno` and `zig`. Called by tools/dev; nothing is installed
# system-wide.
set -euo pipefail

DENO_VERSION="2.9.8"
ZIG_VERSION="0.17.1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
stamp="$tools/.installed-deno-$DENO_VERSION-zig-$ZIG_VERSION"

python=python3
command -v python3 >/dev/null || python=python

if [[ ! -f "$stamp" ]]; then
  echo "bootstrap: installing deno $DENO_VERSION and zig $ZIG_VERSION into .tools/" >&2
  rm -rf "$tools/py"
  mkdir -p "$tools"
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    --no-warn-script-location --target "$tools/py" \
    "deno==$DENO_VERSION" "ziglang==$ZIG_VERSION" >&2
  touch "$stamp"
fi
echo "$tools/py/bin:$tools/py/ziglang"
