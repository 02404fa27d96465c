#!/usr/bin/env bash
# Works out the manifest cache for action.yml: the folder the binary keeps the
# manifests it reads from ECR in (`--cache-dir`), and the actions/cache key to keep
# it between runs. A digest names its manifest for good, so a plan on every push
# reads only the manifests it has not seen before.
#
# The key is per runner OS, AWS account and region (`any` when not known), and ends
# with the run, so every run saves what it read; a run restores the newest cache of
# its prefix (restore-keys).
#
# Environment:
#   ENABLED      `true` to cache (the manifest-cache input)
#   COMMAND      the action's command: show reads no registry, so no cache
#   ACCOUNT      the AWS account id for the key; default AWS_ACCOUNT_ID
#   REGION       the AWS region for the key; default AWS_REGION, AWS_DEFAULT_REGION
#   ARGS         the action's args: with --no-cache or --cache-dir, no cache here
# Outputs: dir, key, restore-key (all empty when there is no cache).
set -euo pipefail
set -f

output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

none() {
  echo "ecr-reconcile: no manifest cache between runs: $1"
  output dir ""
  output key ""
  output restore-key ""
  exit 0
}

[[ "${ENABLED:-true}" == true ]] || none "manifest-cache is ${ENABLED:-}"
[[ "${COMMAND:-plan}" != show ]] || none "show reads saved plans, not the registry"
read -r -a args <<<"$(echo "${ARGS:-}" | tr '\n' ' ')"
for a in ${args[@]+"${args[@]}"}; do
  case "$a" in
    --no-cache) none "args has --no-cache" ;;
    --cache-dir | --cache-dir=*) none "args has its own --cache-dir" ;;
  esac
done

# Only what is safe in a cache key and a path.
part() {
  local value
  value=$(echo "$1" | tr -c 'A-Za-z0-9._-' '_' | sed -E 's/_+/_/g; s/^[-_.]+|[-_.]+$//g')
  echo "${value:-any}"
}

os=$(part "${RUNNER_OS:-$(uname -s)}")
account=$(part "${ACCOUNT:-${AWS_ACCOUNT_ID:-}}")
region=$(part "${REGION:-${AWS_REGION:-${AWS_DEFAULT_REGION:-}}}")
dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/ecr-reconcile-manifests"
prefix="ecr-reconcile-manifests-v1-$os-$account-$region-"
key="$prefix${GITHUB_RUN_ID:-0}-${GITHUB_RUN_ATTEMPT:-1}"
mkdir -p "$dir"
output dir "$dir"
output key "$key"
output restore-key "$prefix"
echo "ecr-reconcile: manifest cache $dir, key $key"
