#!/usr/bin/env bash
# Installs a pinned ecr-reconcile release binary for the runner's OS and
# architecture and verifies its SHA-256 before it is run; used by action.yml.
#
# Environment (from the action's inputs):
#   VERSION             release version, without the leading v (required unless BINARY)
#   EXPECTED_SHA256     optional: the archive's SHA-256 for this runner, pinned by the
#                       caller; it must match as well as the release's .sha256 file
#   RELEASE_REPOSITORY  optional: owner/name of the repository whose GitHub release
#                       holds the archives; default: the repository of this action
#   DOWNLOAD_URL        optional: base URL of the archives instead of the GitHub
#                       release (a mirror); https only (http only on the loopback)
#   BINARY              optional: use this binary instead of downloading one
# Writes `binary`, `version` and `target` to GITHUB_OUTPUT and the binary's folder
# to GITHUB_PATH.
set -euo pipefail

fail() {
  echo "::error title=ecr-reconcile install::$*"
  exit 1
}

output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is installed: cannot verify the download"
  fi
}

if [[ -n "${BINARY:-}" ]]; then
  [[ -x "$BINARY" ]] || fail "binary: $BINARY is not an executable file"
  installed=$("$BINARY" --version) || fail "binary: $BINARY --version failed"
  echo "ecr-reconcile: using $BINARY ($installed)"
  output binary "$BINARY"
  output version "${installed##* }"
  output target ""
  exit 0
fi

# shellcheck disable=SC2153 # VERSION is the input, version the normalised value
version=${VERSION#v}
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] \
  || fail "version: '${VERSION:-}' is not a release version such as 0.1.0"

os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
case "$os" in
  Linux) os_part=unknown-linux-musl ;;
  macOS | Darwin) os_part=apple-darwin ;;
  *) fail "no ecr-reconcile release for $os runners (Linux and macOS only); use a Linux runner or the container image" ;;
esac
case "$arch" in
  X64 | x86_64 | amd64) arch_part=x86_64 ;;
  ARM64 | arm64 | aarch64) arch_part=aarch64 ;;
  *) fail "no ecr-reconcile release for $arch on $os (x86_64 and aarch64 only)" ;;
esac
target="$arch_part-$os_part"
archive="ecr-reconcile-$target.tar.gz"

if [[ -n "${DOWNLOAD_URL:-}" ]]; then
  base=${DOWNLOAD_URL%/}
else
  repository=${RELEASE_REPOSITORY:-${GITHUB_ACTION_REPOSITORY:-}}
  if [[ -z "$repository" && -n "${GITHUB_ACTION_PATH:-}" ]]; then
    # A composite action's own repository is not given to its steps reliably;
    # the runner checks actions out under _actions/OWNER/NAME/REF.
    if [[ "$GITHUB_ACTION_PATH" =~ /_actions/([^/]+)/([^/]+)/[^/]+ ]]; then
      repository="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
    fi
  fi
  [[ "$repository" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] \
    || fail "cannot tell which repository's releases to download from; set the release-repository input (owner/name)"
  base="${GITHUB_SERVER_URL:-https://github.com}/$repository/releases/download/v$version"
fi
case "$base" in
  https://*) ;;
  http://127.0.0.1:* | http://localhost:* | http://\[::1\]:*) ;;
  *) fail "download-url must be an https URL, not $base" ;;
esac

dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/ecr-reconcile-$version-$target"
rm -rf "$dir"
mkdir -p "$dir"
echo "ecr-reconcile: downloading $base/$archive"
download() {
  curl --fail --silent --show-error --location --retry 3 --retry-delay 2 --connect-timeout 20 \
    --max-time 300 --output "$2" "$1" || fail "download failed: $1"
}
download "$base/$archive" "$dir/$archive"
download "$base/$archive.sha256" "$dir/$archive.sha256"

actual=$(sha256_of "$dir/$archive")
published=$(tr -d '\r' <"$dir/$archive.sha256" | awk 'NR == 1 { print tolower($1) }')
[[ "$published" =~ ^[0-9a-f]{64}$ ]] || fail "$archive.sha256 does not hold a SHA-256"
[[ "$actual" == "$published" ]] \
  || fail "checksum mismatch for $archive: the release's $archive.sha256 says $published, the download is $actual"
if [[ -n "${EXPECTED_SHA256:-}" ]]; then
  expected=$(echo "$EXPECTED_SHA256" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')
  [[ "$actual" == "$expected" ]] \
    || fail "checksum mismatch for $archive: the sha256 input says $expected, the download is $actual"
  echo "ecr-reconcile: $archive sha256 $actual (matches the release and the sha256 input)"
else
  echo "ecr-reconcile: $archive sha256 $actual (matches the release's checksum file)"
fi

tar -xzf "$dir/$archive" -C "$dir"
binary=$(find "$dir" -type f -name ecr-reconcile -perm -u+x | head -n 1)
[[ -n "$binary" ]] || fail "$archive holds no ecr-reconcile binary"
installed=$("$binary" --version) || fail "$binary --version failed"
[[ "$installed" == "ecr-reconcile $version" ]] \
  || fail "$archive holds '$installed', not ecr-reconcile $version"
echo "ecr-reconcile: installed $installed ($target) at $binary"
if [[ -n "${GITHUB_PATH:-}" ]]; then dirname "$binary" >>"$GITHUB_PATH"; fi
output binary "$binary"
output version "$version"
output target "$target"
