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

# The first Python 3 that actually runs: on Windows `python3` may be the
# Microsoft Store stub, which exists but fails; Git Bash has `python` or `py`.
find_python() {
  local candidate
  for candidate in python3 python py; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 8))' >/dev/null 2>&1; then
      echo "$candidate"
      return 0
    fi
  done
  echo "bootstrap: no working Python 3.8+ (python3, python or py) on PATH" >&2
  return 1
}

if [[ ! -f "$stamp" ]]; then
  python="$(find_python)"
  echo "bootstrap: installing deno $DENO_VERSION and zig $ZIG_VERSION into .tools/" >&2
  rm -rf "$tools/py"
  mkdir -p "$tools"
  # pip --target puts the deno binary (deno.exe on Windows) in bin/ and zig
  # in ziglang/ on every OS. The environment variable, unlike the
  # --root-user-action flag, is also accepted by old pips (macOS's own).
  PIP_ROOT_USER_ACTION=ignore "$python" -m pip install --quiet --disable-pip-version-check \
    --no-warn-script-location --target "$tools/py" \
    "deno==$DENO_VERSION" "ziglang==$ZIG_VERSION" >&2
  touch "$stamp"
fi
echo "$tools/py/bin:$tools/py/ziglang"
