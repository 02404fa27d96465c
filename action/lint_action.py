#!/usr/bin/env python3
"""Lints action.yml and the example workflows with actionlint.

actionlint checks workflows, not action metadata: given action.yml it reports a
workflow with no `on` and no `jobs`. So this script
  1. checks action.yml's metadata itself: known keys, a composite action, a
     description for every input and output, a value for every output, a shell on
     every run step, unique step ids, and every `inputs.X` and `steps.X` it refers to
     declared; and that the version it installs by default, and the tag the examples
     use it at, are Cargo.toml's version;
  2. writes the composite steps out as a reusable workflow (`on: workflow_call` with
     the action's inputs, one job with its steps and outputs), so actionlint checks
     their expressions (types, contexts, inputs), the actions they use and their
     inputs, and their scripts with shellcheck;
  3. writes a copy of every example workflow in which the action is used as `./`,
     beside a copy of action.yml, so actionlint checks the inputs they pass against
     action.yml;
  4. runs actionlint over those, the example workflows and .github/workflows/*.yml,
     with the settings in .github/actionlint.yaml.
Usage: lint_action.py ACTIONLINT SHELLCHECK WORKDIR
"""

import pathlib
import re
import shutil
import subprocess
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
# How the examples refer to this action; replaced by ./ in the checked copies.
ACTION_REF = re.compile(r"uses: [A-Za-z0-9_.-]+/ecr-reconcile@[A-Za-z0-9_.-]+")

TOP_KEYS = {"name", "author", "description", "inputs", "outputs", "runs", "branding"}
INPUT_KEYS = {"description", "required", "default", "deprecationMessage"}
OUTPUT_KEYS = {"description", "value"}
STEP_KEYS = {"name", "id", "if", "run", "shell", "uses", "with", "env", "working-directory", "continue-on-error"}


def check_metadata(action):
    problems = []
    for key in set(action) - TOP_KEYS:
        problems.append(f"unknown top-level key {key!r}")
    for key in ("name", "description", "runs"):
        if not action.get(key):
            problems.append(f"{key} is missing")
    inputs = action.get("inputs") or {}
    outputs = action.get("outputs") or {}
    for name, spec in inputs.items():
        if set(spec) - INPUT_KEYS:
            problems.append(f"input {name}: unknown keys {sorted(set(spec) - INPUT_KEYS)}")
        if not spec.get("description"):
            problems.append(f"input {name}: no description")
        if "default" in spec and not isinstance(spec["default"], str):
            problems.append(f"input {name}: default must be a string, not {spec['default']!r}")
    runs = action.get("runs") or {}
    if runs.get("using") != "composite":
        problems.append(f"runs.using is {runs.get('using')!r}, not composite")
    steps = runs.get("steps") or []
    ids = [s["id"] for s in steps if "id" in s]
    if len(ids) != len(set(ids)):
        problems.append(f"step ids are not unique: {ids}")
    for i, step in enumerate(steps):
        where = f"step {i + 1} ({step.get('name', step.get('id', '?'))})"
        if set(step) - STEP_KEYS:
            problems.append(f"{where}: unknown keys {sorted(set(step) - STEP_KEYS)}")
        if ("run" in step) == ("uses" in step):
            problems.append(f"{where}: needs exactly one of run and uses")
        if "run" in step and "shell" not in step:
            problems.append(f"{where}: a run step of a composite action needs shell")
    for name, spec in outputs.items():
        if set(spec) - OUTPUT_KEYS:
            problems.append(f"output {name}: unknown keys {sorted(set(spec) - OUTPUT_KEYS)}")
        if not spec.get("description"):
            problems.append(f"output {name}: no description")
        if not spec.get("value"):
            problems.append(f"output {name}: a composite action's output needs a value")
    text = yaml.safe_dump(action)
    for name in sorted(set(re.findall(r"inputs\.([A-Za-z0-9_-]+)", text)) - set(inputs)):
        problems.append(f"inputs.{name} is used but not declared")
    for name in sorted(set(re.findall(r"steps\.([A-Za-z0-9_-]+)\.", text)) - set(ids)):
        problems.append(f"steps.{name} is used but no step has that id")
    return problems


def check_versions(action):
    """The action installs, and the examples use, the version Cargo.toml releases."""
    text = (ROOT / "Cargo.toml").read_text()
    version = re.search(r'(?m)^\[package\][^\[]*?^version = "([^"]+)"', text).group(1)
    problems = []
    default = (action.get("inputs") or {}).get("version", {}).get("default")
    if default != version:
        problems.append(f"the version input's default is {default!r}, but Cargo.toml's version is {version!r}")
    for example in sorted((ROOT / "examples" / "workflows").glob("*.yml")):
        for ref in re.findall(r"uses: [A-Za-z0-9_.-]+/ecr-reconcile@(\S+)", example.read_text()):
            if ref != f"v{version}":
                problems.append(f"{example.relative_to(ROOT)} uses the action at {ref}, not v{version}")
    return problems


def as_workflow(action):
    """The composite steps as a reusable workflow that actionlint can check."""
    inputs = {
        name: {"description": spec["description"], "type": "string", "required": bool(spec.get("required")),
               **({"default": spec["default"]} if "default" in spec else {})}
        for name, spec in (action.get("inputs") or {}).items()
    }
    outputs = {name: spec["value"] for name, spec in (action.get("outputs") or {}).items()}
    return {
        "name": f"{action['name']} (action.yml as a workflow, for actionlint)",
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {"contents": "read", "pull-requests": "write"},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "outputs": outputs, "steps": action["runs"]["steps"]}},
    }


def main():
    actionlint, shellcheck = (str(pathlib.Path(p).resolve()) for p in sys.argv[1:3])
    workdir = sys.argv[3]
    work = pathlib.Path(workdir).resolve()
    action_file = ROOT / "action.yml"
    try:
        action = yaml.safe_load(action_file.read_text())
    except yaml.YAMLError as error:
        print(f"action.yml: not valid YAML: {error}")
        return 1
    problems = check_metadata(action)
    problems += check_versions(action)
    for p in problems:
        print(f"action.yml: {p}")

    shutil.rmtree(work, ignore_errors=True)
    flows = work / ".github" / "workflows"
    flows.mkdir(parents=True)
    # actionlint finds the project, and so what `./` means, by its .git folder.
    (work / ".git").mkdir()
    shutil.copy(action_file, work / "action.yml")
    shutil.copytree(ROOT / "action", work / "action")
    generated = [flows / "action-as-workflow.yml"]
    default_default = re.compile(r"\$\{\{ github\.token \}\}")
    # A reusable workflow's input default cannot use the github context; the
    # action's can. The token default is checked where the action is used.
    wf = as_workflow(action)
    for spec in wf["on"]["workflow_call"]["inputs"].values():
        if default_default.search(str(spec.get("default", ""))):
            spec["default"] = ""
    generated[0].write_text(
        "# Generated from action.yml by action/lint_action.py; not a workflow to run.\n"
        + yaml.safe_dump(wf, sort_keys=False, width=1000)
    )
    examples = sorted((ROOT / "examples" / "workflows").glob("*.yml"))
    for example in examples:
        text = example.read_text()
        if not ACTION_REF.search(text):
            continue
        copy = flows / f"local-action-{example.name}"
        copy.write_text(ACTION_REF.sub("uses: ./", text))
        generated.append(copy)
    own = sorted((ROOT / ".github" / "workflows").glob("*.yml")) + sorted((ROOT / ".github" / "workflows").glob("*.yaml"))

    # Two runs: actionlint takes its project (what ./ means, .github/actionlint.yaml)
    # from the working directory.
    runs = [(work, [f.relative_to(work) for f in generated]), (ROOT, [f.relative_to(ROOT) for f in examples + own])]
    failed = False
    for cwd, files in runs:
        print(f"actionlint ({cwd.name}): " + ", ".join(map(str, files)))
        lint = subprocess.run([actionlint, "-shellcheck", shellcheck, "-pyflakes", "", *map(str, files)], cwd=cwd)
        failed = failed or lint.returncode != 0
    if problems or failed:
        print("lint: failed", file=sys.stderr)
        return 1
    print("lint: action.yml and the workflows pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
