#!/usr/bin/env bash
# Runs ecr-reconcile plan or apply for action.yml, in the working directory, and
# records the outcome as step outputs. It exits 0 whatever the tool's exit code
# (the action's last step fails the job), so the comment and the artifact steps
# still see a failed plan; it exits non-zero only when it cannot run at all.
#
# Environment (from the action's inputs):
#   ECR_RECONCILE   the binary
#   COMMAND         plan | apply
#   PATHS           desired-state files and folders, separated by white space
#   ARGS            extra arguments, separated by white space (no shell quoting)
#   PLAN_FILE       plan: where to save the JSON plan (default: in the output folder);
#                   apply: a saved plan to apply (`apply --plan`)
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

bin=${ECR_RECONCILE:?ECR_RECONCILE is not set}
command=${COMMAND:-plan}
read -r -a paths <<<"$(echo "${PATHS:-.}" | tr '\n' ' ')"
read -r -a args <<<"$(echo "${ARGS:-}" | tr '\n' ' ')"
[[ ${#paths[@]} -gt 0 ]] || paths=(.)

# The key: given, or the working directory and the paths (`desired`, `envs/prod`).
key=${KEY:-}
if [[ -z "$key" ]]; then
  wd=${WORKING_DIRECTORY:-.}
  key=$(printf '%s ' "$wd" "${paths[@]}" | sed -E 's#(^|[[:space:]])\./?#\1#g; s#/+([[:space:]]|$)#\1#g' | tr -s ' ' | sed -E 's/^ +| +$//g')
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

if [[ -n "${CACHE_DIR:-}" ]] && ! has_arg --cache-dir && ! has_arg --no-cache; then
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
run_tool() {
  set +e
  "$bin" "$@" 2> >(trap '' INT TERM; exec tee -a "$stderr" >&2) &
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
  set -e
  wait # the tee
}

# The first line of the markdown plan in bold: the summary.
summary_of() {
  sed -n -E 's/^\*\*(.*)\*\*$/\1/p' "$1" | head -n 1
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
    output has-changes "$([[ $rc -eq 2 ]] && echo true || echo false)"
    output exit-code "$rc"
    output summary "$summary"
    output applied-plan ""
    output journal-file ""
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

  *)
    echo "::error title=ecr-reconcile::command must be plan or apply, not '$command'"
    exit 1
    ;;
esac
