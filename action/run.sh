#!/usr/bin/env bash
# Runs ecr-reconcile plan, apply or show for action.yml, in the working directory,
# and records the outcome as step outputs. For plan and apply it exits 0 whatever
# the tool's exit code (the action's last step fails the job), so the comment and
# the artifact steps still see a failed plan; it exits non-zero only when it cannot
# run at all. show puts saved plans together (the N shards' plans of one plan, or
# one plan) and fails here, before anything is posted, when they are not found as
# expected or the tool refuses them.
#
# Environment (from the action's inputs):
#   ECR_RECONCILE   the binary
#   COMMAND         plan | apply | show
#   PATHS           desired-state files and folders, separated by white space
#   PLANS           show: saved plans, files or globs, separated by white space
#   SHARDS          show: how many plans PLANS must find (the shards' count), if set
#   ARGS            extra arguments, separated by white space (no shell quoting)
#   PLAN_FILE       plan, show: where to save the JSON plan (default: in the output
#                   folder); apply: a saved plan to apply (`apply --plan`)
#   FALLBACK        apply: true to plan afresh when the saved plan is refused as
#                   stale or made from other files (nothing was removed then)
#   KEY             what tells this plan from others in one pull request
#   CACHE_DIR       the manifest cache folder the action keeps between runs
#                   (cache.sh): given to the binary as --cache-dir, unless ARGS has
#                   --cache-dir or --no-cache
# Outputs: exit-code, has-changes, summary, key, output-dir, plan-file,
# plan-markdown-file, journal-file, applied-plan, artifact-name.
set -euo pipefail
set -f # no globbing of paths and arguments: --exclude 'charts/*' stays a pattern

output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

# The outputs of a plan (or of show) from rc and summary: nothing applied.
plan_outputs() {
  output has-changes "$([[ $rc -eq 2 ]] && echo true || echo false)"
  output exit-code "$rc"
  output summary "$summary"
  output applied-plan ""
  output journal-file ""
}

bin=${ECR_RECONCILE:?ECR_RECONCILE is not set}
command=${COMMAND:-plan}
read -r -a paths <<<"$(echo "${PATHS:-.}" | tr '\n' ' ')"
read -r -a args <<<"$(echo "${ARGS:-}" | tr '\n' ' ')"
[[ ${#paths[@]} -gt 0 ]] || paths=(.)
read -r -a patterns <<<"$(echo "${PLANS:-}" | tr '\n' ' ')"
named=("${paths[@]}")
if [[ "$command" == show ]]; then
  if [[ ${#patterns[@]} -eq 0 ]]; then
    echo "::error title=ecr-reconcile::show needs the plans input: the saved plans to show (files or globs)"
    exit 1
  fi
  named=("${patterns[@]}")
fi

# The key: given, or the working directory and the paths (`desired`, `envs/prod`),
# for show the plans.
key=${KEY:-}
if [[ -z "$key" ]]; then
  wd=${WORKING_DIRECTORY:-.}
  key=$(printf '%s ' "$wd" "${named[@]}" | sed -E 's#(^|[[:space:]])\./?#\1#g; s#/+([[:space:]]|$)#\1#g' | tr -s ' ' | sed -E 's/^ +| +$//g')
  [[ -n "$key" ]] || key=default
fi
safe_key=$(echo "$key" | tr -c 'A-Za-z0-9._-' '_' | sed -E 's/_+/_/g; s/^_+|_+$//g')
[[ -n "$safe_key" ]] || safe_key=default

out="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/ecr-reconcile/$command-$safe_key"
rm -rf "$out"
mkdir -p "$out"
stderr="$out/stderr.txt"
output key "$key"
output output-dir "$out"
# Written first: a cancelled run still uploads under its own name.
output artifact-name "ecr-reconcile-$command-$safe_key"

absolute() {
  case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac
}

has_arg() {
  local a
  for a in ${args[@]+"${args[@]}"}; do [[ "$a" == "$1" || "$a" == "$1="* ]] && return 0; done
  return 1
}

# show reads saved plans, not the registry: no manifests.
if [[ -n "${CACHE_DIR:-}" && "$command" != show ]] && ! has_arg --cache-dir && ! has_arg --no-cache; then
  args+=(--cache-dir "$CACHE_DIR")
fi

# Runs the binary with its stderr both shown and kept; sets rc.
#
# When a job is cancelled the runner signals only the step's own process (this
# script: action.yml execs it), SIGINT then SIGTERM, then kills the whole tree. So
# each signal is passed on to the binary, which stops sending, finishes what it
# sent, writes its report and exits 130 or 143; this script then records the outputs
# as usual and the upload step (`always()`) keeps the journal. The tee ignores the
# signals so that the report still reaches the log.
#
# The tee reads a named pipe and is this script's own child, so waiting for it means
# the kept stderr is complete before anyone reads it (a process substitution on the
# backgrounded binary would be the binary's subshell's child, which `wait` does not
# wait for: the file could be read before the tee had written it).
run_tool() {
  set +e
  local pipe="$out/.stderr.pipe"
  rm -f "$pipe"
  mkfifo "$pipe"
  (trap '' INT TERM; exec tee -a "$stderr" <"$pipe" >&2) &
  local tee=$!
  "$bin" "$@" 2>"$pipe" &
  local tool=$!
  trap 'kill -s INT "$tool" 2>/dev/null' INT
  trap 'kill -s TERM "$tool" 2>/dev/null' TERM
  wait "$tool"
  rc=$?
  # A signal ends `wait` early: wait again until the binary has exited.
  while kill -0 "$tool" 2>/dev/null; do
    wait "$tool"
    rc=$?
  done
  trap - INT TERM
  # The tee ends when the binary's end of the pipe closes.
  wait "$tee"
  rm -f "$pipe"
  set -e
}

# The first line of the markdown plan in bold: the summary.
summary_of() {
  sed -n -E 's/^\*\*(.*)\*\*$/\1/p' "$1" | head -n 1
}

# Stops the step before anything is posted: the error as an annotation, the outputs
# of a failed run.
refuse() {
  # The runner decodes %, CR and LF in a workflow command's message.
  local message=${1//'%'/%25}
  echo "::error title=ecr-reconcile::${message//$'\n'/%0A}"
  output exit-code 1
  output has-changes false
  output summary ""
  output plan-file ""
  output plan-markdown-file ""
  output applied-plan ""
  output journal-file ""
  exit 1
}

# The files PLANS names: each word a file or a glob, relative to the working
# directory, in order, each file once. A word that names no file is an error.
plan_files() {
  local pattern file f seen
  local -a matched
  files=()
  set +f
  shopt -s nullglob
  for pattern in "${patterns[@]}"; do
    # shellcheck disable=SC2206 # the glob is meant to expand here
    matched=($pattern)
    if [[ ${#matched[@]} -eq 0 || ! -e "${matched[0]}" ]]; then
      shopt -u nullglob
      set -f
      refuse "plans: $pattern matches no file${files[0]+ (found: ${files[*]})}"
    fi
    for file in "${matched[@]}"; do
      [[ -f "$file" ]] || refuse "plans: $file is not a file"
      seen=false
      for f in ${files[@]+"${files[@]}"}; do [[ "$f" == "$file" ]] && seen=true; done
      [[ $seen == true ]] || files+=("$file")
    done
  done
  shopt -u nullglob
  set -f
}

# A JSON plan's drift, as plan --detailed-exitcode reports it: repositories
# changed, refused or not found, from the top-level summary (the tool writes JSON
# indented by two spaces).
drifted() {
  awk '/^  "summary": \{/ { s = 1; next }
    s && /^  \}/ { s = 0 }
    s && /^    "repositories_(changed|refused|missing)":/ { gsub(/[^0-9]/, ""); n += $0 }
    END { print n + 0 }' "$1"
}

# Appends a markdown file to the step summary, cut at a line to stay within
# GitHub's limit (1 MiB) with what is already there.
step_summary() {
  [[ -n "${GITHUB_STEP_SUMMARY:-}" ]] || return 0
  local limit=1048576 used size note
  used=0
  if [[ -f "$GITHUB_STEP_SUMMARY" ]]; then used=$(wc -c <"$GITHUB_STEP_SUMMARY"); fi
  size=$(wc -c <"$1")
  if [[ $((used + size)) -le $limit ]]; then
    cat "$1" >>"$GITHUB_STEP_SUMMARY"
    return 0
  fi
  note=$'\n> The plan is longer than GitHub\'s step-summary limit (1 MiB) and was cut here; the whole plan is in the artifact and the job\'s log.\n'
  local room=$((limit - used - ${#note} - 1))
  if [[ $room -gt 0 ]]; then head -c "$room" "$1" | sed '$d' >>"$GITHUB_STEP_SUMMARY"; fi
  printf '%s' "$note" >>"$GITHUB_STEP_SUMMARY"
}

# show: the plan of the whole from saved plans, as plan gives it.
show_plans() {
  local -a files
  plan_files
  if [[ -n "${SHARDS:-}" ]]; then
    [[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || refuse "shards must be a number of plans (1 or more), not '$SHARDS'"
    if [[ ${#files[@]} -ne $SHARDS ]]; then
      refuse "plans: ${#files[@]} file$([[ ${#files[@]} -eq 1 ]] || echo s) found, $SHARDS expected (shards: $SHARDS): ${files[*]}"
    fi
  fi
  plan_json=$(absolute "${PLAN_FILE:-$out/plan.json}")
  plan_md="$out/plan.md"
  mkdir -p "$(dirname "$plan_json")"
  echo "::group::ecr-reconcile show ${files[*]}"
  run_tool show "${files[@]}" ${args[@]+"${args[@]}"} --format json >"$plan_json"
  [[ $rc -ne 0 ]] || run_tool show "${files[@]}" ${args[@]+"${args[@]}"} --format markdown >"$plan_md"
  echo "::endgroup::"
  if [[ $rc -ne 0 ]]; then
    # The tool's one-line error (`error: the plans of shard 2 of 3 are missing; ...`).
    local reason
    reason=$(sed -E 's/\x1b\[[0-9;]*m//g' "$stderr" | grep -m 1 -E '^error(\[[^]]*\])?: ' | sed -E 's/^error(\[[^]]*\])?: //' || true)
    refuse "ecr-reconcile show: ${reason:-it failed (exit $rc)}"
  fi
  # The plan in the log, as a person reads it (the markdown is for the comment).
  "$bin" show "${files[@]}" --color always || true
  [[ "$plan_json" == "$out/"* ]] || cp "$plan_json" "$out/plan.json"
  rc=0
  [[ $(drifted "$plan_json") -eq 0 ]] || rc=2
  summary=$(summary_of "$plan_md")
  step_summary "$plan_md"
  output plan-file "$plan_json"
  output plan-markdown-file "$plan_md"
  plan_outputs
  echo "ecr-reconcile: show of ${#files[@]} plan$([[ ${#files[@]} -eq 1 ]] || echo s) exit code $rc${summary:+: $summary}"
}

case "$command" in
  plan)
    plan_json=$(absolute "${PLAN_FILE:-$out/plan.json}")
    plan_md="$out/plan.md"
    mkdir -p "$(dirname "$plan_json")"
    echo "::group::ecr-reconcile plan ${paths[*]} ${args[*]:-}"
    run_tool plan "${paths[@]}" ${args[@]+"${args[@]}"} --format markdown --out "$plan_json" --detailed-exitcode >"$plan_md"
    echo "::endgroup::"
    if [[ $rc -eq 0 || $rc -eq 2 ]]; then
      # The plan in the log, as a person reads it (the markdown is for the comment).
      "$bin" show "$plan_json" --color always || true
      [[ "$plan_json" == "$out/"* ]] || cp "$plan_json" "$out/plan.json"
      output plan-file "$plan_json"
      summary=$(summary_of "$plan_md")
    else
      # A failed plan replaces the last one in the comment: no stale plan stays.
      {
        echo "### ecr-reconcile plan"
        echo
        echo "**The plan failed (exit $rc)**: nothing can be applied until it passes. The errors:"
        echo
        echo '```text'
        # Colour codes out; a line starting with a fence would end the block early.
        # shellcheck disable=SC2016 # the backquotes are literal
        tail -n 80 "$stderr" | sed -E 's/\x1b\[[0-9;]*m//g' | sed 's/^```/`` `/'
        echo '```'
      } >"$plan_md"
      output plan-file ""
      summary="The plan failed (exit $rc)"
    fi
    output plan-markdown-file "$plan_md"
    plan_outputs
    echo "ecr-reconcile: plan exit code $rc${summary:+: $summary}"
    ;;

  apply)
    journal=""
    if ! has_arg --journal; then
      journal="$out/journal.jsonl"
      args+=(--journal "$journal")
    fi
    applied=fresh
    if [[ -n "${PLAN_FILE:-}" ]]; then
      plan_json=$(absolute "$PLAN_FILE")
      [[ -f "$plan_json" ]] || {
        echo "::error title=ecr-reconcile::plan-file: $PLAN_FILE does not exist"
        exit 1
      }
      cp "$plan_json" "$out/plan.json"
      echo "ecr-reconcile: applying the saved plan $PLAN_FILE"
      run_tool apply "${paths[@]}" --plan "$plan_json" --auto-approve ${args[@]+"${args[@]}"}
      applied=saved
      if [[ $rc -ne 0 && "${FALLBACK:-false}" == true ]]; then
        removed=false
        if [[ -n "$journal" && -s "$journal" ]]; then removed=true; fi
        if [[ $removed == false ]] \
          && grep -q -E 'saved_plan::(stale|other_files)|Saved plan is stale|made from other desired-state files' "$stderr"; then
          reason=$(grep -m 1 -E 'Saved plan is stale|made from other desired-state files|saved_plan::' "$stderr" | sed -E 's/\x1b\[[0-9;]*m//g; s/^(::[a-z]+[^:]*::|error: )//')
          note="The saved plan ($PLAN_FILE) was not applied: ${reason:-it is stale}. Nothing was removed by it; applying a fresh plan of the same files instead."
          echo "::warning title=ecr-reconcile: applying a fresh plan::$note"
          if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
            printf '> [!WARNING]\n> %s\n\n' "$note" >>"$GITHUB_STEP_SUMMARY"
          fi
          run_tool apply "${paths[@]}" --auto-approve ${args[@]+"${args[@]}"}
          applied=fresh
        fi
      fi
    else
      run_tool apply "${paths[@]}" --auto-approve ${args[@]+"${args[@]}"}
    fi
    output exit-code "$rc"
    output has-changes ""
    output summary ""
    output plan-file "${PLAN_FILE:+$(absolute "$PLAN_FILE")}"
    output plan-markdown-file ""
    output applied-plan "$applied"
    output journal-file "$journal"
    echo "ecr-reconcile: apply ($applied plan) exit code $rc"
    ;;

  show)
    show_plans
    ;;

  *)
    echo "::error title=ecr-reconcile::command must be plan, apply or show, not '$command'"
    exit 1
    ;;
esac
