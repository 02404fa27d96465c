#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit, property, snapshot, CLI,
# example/schema checks, and end-to-end tests of the binary against moto (a local,
# independent ECR implementation, installed here into target/moto-venv).
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5

if ! command -v cargo >/dev/null 2>&1; then
  echo "scripts/test.sh: cargo is required; install Rust with rustup" >&2
  exit 1
fi

venv=target/moto-venv
if ! "$venv/bin/moto_server" --help >/dev/null 2>&1 \
  || ! "$venv/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "scripts/test.sh: installing moto[server]==$MOTO_VERSION into $venv" >&2
  mkdir -p target
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export MOTO_SERVER="$PWD/$venv/bin/moto_server"

# Snapshot tests never rewrite their snapshots here; a mismatch fails.
export INSTA_UPDATE=no
# Every suite runs even when one fails, so one failure never hides another.
cargo test --locked --no-fail-fast "$@"
