#!/usr/bin/env bash
# Fuzzes desired-state parsing, validation and diagnostic rendering (fuzz/, target
# `config`) for a while. Not run by CI: a bounded property test over arbitrary bytes
# (tests/parser_robustness.rs) covers the same ground there.
# Usage: scripts/fuzz.sh [seconds, default 600] [extra libFuzzer arguments]
# FUZZ_SANITIZER=none skips AddressSanitizer (the crate forbids unsafe code; the
# sanitizer checks its dependencies) for several times the executions per second.
# Findings land in fuzz/artifacts/config/; replay one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run -a config fuzz/artifacts/config/<file>
# and shrink it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin -a config fuzz/artifacts/config/<file>
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "scripts/fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

# Seeds: every fixture as one file (a leading 0x00 byte: one file), and the pair of
# files that declare the same repository (0x01: two files, split at a 0xFF byte).
# See fuzz/fuzz_targets/config.rs for the input layout.
corpus="$PWD/fuzz/corpus/config"
mkdir -p "$corpus"
for f in tests/fixtures/valid/*.yaml tests/fixtures/invalid/*.yaml examples/desired/*.yaml; do
  [ -f "$f" ] || continue
  { printf '\x00'; cat "$f"; } >"$corpus/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
done
dup=tests/fixtures/invalid/duplicate-across-files
if [ -f "$dup/a.yaml" ] && [ -f "$dup/b.yaml" ]; then
  { printf '\x01'; cat "$dup/a.yaml"; printf '\xff'; cat "$dup/b.yaml"; } >"$corpus/seed-duplicate-across-files"
fi

# The stable toolchain, with the nightly-only sanitizer flags allowed; debug assertions
# on, so that arithmetic overflow panics as it does in the test build.
RUSTC_BOOTSTRAP=1 exec cargo fuzz run -a -s "${FUZZ_SANITIZER:-address}" config "$corpus" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  -dict="$PWD/fuzz/config.dict" -print_final_stats=1 "$@"
