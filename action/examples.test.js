// Tests of the example workflows: every action they use is pinned by commit with its
// version in a comment, at the same commit as in action.yml; and the apply workflow
// applies a fresh plan instead of a missing or stale reviewed one only with the
// explicit opt-in (the repository variable ECR_RECONCILE_FALLBACK_TO_FRESH_PLAN or
// the fresh-plan input of a run by hand), never by default. Run: node --test action/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const EXAMPLES = path.join(ROOT, 'examples', 'workflows');
const read = (file) => fs.readFileSync(file, 'utf8');
const APPLY = read(path.join(EXAMPLES, 'ecr-apply.yml'));

test('examples: every action is pinned by commit, with its version, as in action.yml', () => {
  const pins = new Map();
  const files = [path.join(ROOT, 'action.yml'), ...fs.readdirSync(EXAMPLES).map((f) => path.join(EXAMPLES, f))];
  for (const file of files) {
    for (const [line, name, ref, rest] of read(file).matchAll(/^\s*(?:- )?uses: ([^@\s]+)@(\S+)(.*)$/gm)) {
      if (name.endsWith('/ecr-reconcile')) continue; // the action itself, at its release tag
      assert.match(ref, /^[0-9a-f]{40}$/, `${path.basename(file)}: ${line.trim()}`);
      assert.match(rest, /^ # v\d+\.\d+\.\d+$/, `${path.basename(file)}: ${line.trim()}`);
      const pin = `${ref}${rest}`;
      assert.equal(pins.get(name) ?? pin, pin, `${name} is pinned at one commit everywhere`);
      pins.set(name, pin);
    }
  }
  assert.ok(pins.has('actions/checkout') && pins.has('actions/cache'));
});

/** The `run: |` script of the step named `name` in a workflow's text. */
function stepScript(text, name) {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `- name: ${name}`);
  assert.ok(start >= 0, `no step ${name}`);
  const run = lines.findIndex((l, i) => i > start && /^\s+run: \|$/.test(l));
  const indent = lines[run].match(/^\s*/)[0].length;
  const body = [];
  for (const line of lines.slice(run + 1)) {
    if (line.trim() && line.match(/^\s*/)[0].length <= indent) break;
    body.push(line.slice(indent + 2));
  }
  return body.join('\n');
}

test('apply example: the fallback to a fresh plan follows the opt-in, off by default', () => {
  const optIn = APPLY.match(/^\s+FRESH_PLAN_OPT_IN: (.*)$/m);
  assert.ok(optIn, 'the job sets FRESH_PLAN_OPT_IN');
  assert.equal(optIn[1], "${{ vars.ECR_RECONCILE_FALLBACK_TO_FRESH_PLAN == 'true' || inputs.fresh-plan == true }}");
  assert.match(APPLY, /\n      fresh-plan:\n(?:        .*\n)*?        default: false\n/);
  assert.match(APPLY, /^\s+fallback-to-fresh-plan: \$\{\{ env\.FRESH_PLAN_OPT_IN \}\}$/m);
  assert.doesNotMatch(APPLY, /fallback-to-fresh-plan: "?true/);
  assert.doesNotMatch(APPLY, /--auto-approve/);
  assert.match(APPLY, /- name: No reviewed plan\n\s+if: steps\.download\.outcome != 'success'\n/);
});

test('apply example: without a reviewed plan it fails unless opted in, and then warns', () => {
  const script = stepScript(APPLY, 'No reviewed plan');
  const run = (optIn) =>
    spawnSync('bash', ['-e', '-c', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, GITHUB_SHA: 'abc123', FRESH_PLAN_OPT_IN: optIn },
    });
  for (const value of ['false', '']) {
    const refused = run(value);
    assert.equal(refused.status, 1, `FRESH_PLAN_OPT_IN=${value}`);
    assert.match(refused.stdout, /^::error title=ecr-reconcile::no reviewed plan to apply for abc123 .*nothing removed\. Set the repository variable ECR_RECONCILE_FALLBACK_TO_FRESH_PLAN to true/m);
  }
  const opted = run('true');
  assert.equal(opted.status, 0, opted.stderr);
  assert.match(opted.stdout, /^::warning title=ecr-reconcile: applying a fresh plan::no reviewed plan for abc123/m);
});

test('action.yml: the artifact (plan, report, journal) is uploaded even when the run failed or was cancelled', () => {
  const action = read(path.join(ROOT, 'action.yml'));
  const upload = action.match(/- name: Upload the plan\n\s+id: upload\n\s+if: (.*)\n/);
  assert.ok(upload, 'the upload step has an if');
  assert.match(upload[1], /^always\(\) && /, 'without always() a cancelled or failed apply leaves its journal on the runner');
  assert.match(upload[1], /inputs\.upload-artifact == 'true'/);
  // run.sh is the step's own process, so that the runner's signals reach it.
  assert.match(action, /\n\s+id: run\n(?:\s+.*\n)*?\s+run: 'exec "\$GITHUB_ACTION_PATH\/action\/run\.sh"'\n/);
});
