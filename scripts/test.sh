#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit, property, snapshot, CLI
# and example/schema checks. Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
  echo "scripts/test.sh: cargo is required; install Rust with rustup" >&2
  exit 1
fi

# Snapshot tests never rewrite their snapshots here; a mismatch fails.
export INSTA_UPDATE=no
cargo test --locked "$@"
