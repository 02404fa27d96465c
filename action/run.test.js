// Tests of run.sh with the real binary against offline snapshots: the outputs of a
// plan, a failed plan that still gives the comment something true to say, applying a
// saved plan, the fallback to a fresh plan only when the saved one is refused as
// stale, never after other errors, and show of one saved plan (show.test.js has the
// shards).
// The binary: ECR_RECONCILE_BIN, or target/debug/ecr-reconcile (`cargo build`).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { scratch } = require('./testdata/scratch.js');
const { readOutputs } = require('./testdata/outputs.js');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..');
const SCRIPT = path.join(__dirname, 'run.sh');
const BIN = path.resolve(process.env.ECR_RECONCILE_BIN || path.join(ROOT, 'target', 'debug', 'ecr-reconcile'));

test('the binary is there', () => {
  assert.ok(fs.existsSync(BIN), `${BIN} does not exist: build it with cargo build, or set ECR_RECONCILE_BIN`);
});

/** A work folder with the example desired state and a copy of the example snapshot. */
function workspace() {
  const dir = scratch('run-');
  fs.cpSync(path.join(ROOT, 'examples', 'desired'), path.join(dir, 'desired'), { recursive: true });
  fs.copyFileSync(path.join(ROOT, 'examples', 'snapshot.json'), path.join(dir, 'state.json'));
  fs.mkdirSync(path.join(dir, 'runner'));
  return dir;
}

/** Runs run.sh in `dir` (or `cwd`), as the runner would; returns its outputs. */
function run(dir, env, cwd = dir) {
  const outputFile = path.join(dir, 'runner', `output-${Math.random()}`);
  const summaryFile = path.join(dir, 'runner', 'summary.md');
  fs.writeFileSync(outputFile, '');
  const result = spawnSync('bash', [SCRIPT], {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUNNER_TEMP: path.join(dir, 'runner'),
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      ECR_RECONCILE: BIN,
      ...env,
    },
  });
  return { ...result, outputs: readOutputs(outputFile) };
}

const SNAPSHOT = '--snapshot state.json';

test('plan: markdown for the comment, JSON plan, exit code 2 and the summary', () => {
  const dir = workspace();
  const r = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.outputs['exit-code'], '2');
  assert.equal(r.outputs['has-changes'], 'true');
  assert.equal(r.outputs.key, 'desired');
  assert.equal(r.outputs['artifact-name'], 'ecr-reconcile-plan-desired');
  assert.match(r.outputs.summary, /^Plan: delete 171 images \(frees 4\.7 GiB, saves \$0\.47\/month\) and remove 7 tags from images that stay: 121 tags removed in all\./);
  const md = fs.readFileSync(r.outputs['plan-markdown-file'], 'utf8');
  assert.ok(md.startsWith('### ecr-reconcile plan'));
  const plan = JSON.parse(fs.readFileSync(r.outputs['plan-file'], 'utf8'));
  assert.equal(plan.summary.tags_to_remove, 121);
  assert.equal(path.dirname(r.outputs['plan-file']), r.outputs['output-dir']);
  // The human plan is in the log too.
  assert.match(r.stdout, /# payments\/api/);
});

test('plan: nothing to do gives exit code 0 and has-changes false', () => {
  const dir = workspace();
  const applied = run(dir, { COMMAND: 'apply', PATHS: 'desired', ARGS: SNAPSHOT });
  assert.equal(applied.outputs['exit-code'], '0', applied.stderr);
  // The refused repository stays a change; plan only the others.
  const r = run(dir, { COMMAND: 'plan', PATHS: 'desired/payments.yaml desired/platform.yaml', ARGS: SNAPSHOT });
  assert.equal(r.outputs['exit-code'], '0', r.stderr);
  assert.equal(r.outputs['has-changes'], 'false');
  assert.match(r.outputs.summary, /^No changes\./);
});

test('plan: several paths, a working directory and a plan-file give a stable key and file', () => {
  const dir = workspace();
  const r = run(
    dir,
    {
      COMMAND: 'plan',
      PATHS: './payments.yaml\nplatform.yaml',
      ARGS: '--snapshot ../state.json',
      WORKING_DIRECTORY: 'desired',
      PLAN_FILE: '../saved/plan.json',
    },
    path.join(dir, 'desired'),
  );
  assert.equal(r.outputs['exit-code'], '2', r.stderr);
  assert.equal(r.outputs.key, 'desired payments.yaml platform.yaml');
  assert.equal(r.outputs['artifact-name'], 'ecr-reconcile-plan-desired_payments.yaml_platform.yaml');
  assert.equal(r.outputs['plan-file'], `${dir}/desired/../saved/plan.json`);
  assert.ok(fs.existsSync(path.join(dir, 'saved', 'plan.json')));
  assert.ok(fs.existsSync(path.join(r.outputs['output-dir'], 'plan.json')), 'a copy goes into the artifact');
  const keyed = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT, KEY: 'prod eu' });
  assert.equal(keyed.outputs.key, 'prod eu');
  assert.equal(keyed.outputs['artifact-name'], 'ecr-reconcile-plan-prod_eu');
});

test('plan: a failed plan exits 1 and its markdown says so, with the errors', () => {
  const dir = workspace();
  fs.writeFileSync(path.join(dir, 'desired', 'broken.yaml'), 'version: 1\nrepositories:\n  bad/repo:\n    tagz: []\n');
  const r = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT });
  assert.equal(r.status, 0, 'run.sh records the failure; the last step of the action fails');
  assert.equal(r.outputs['exit-code'], '1');
  assert.equal(r.outputs['has-changes'], 'false');
  assert.equal(r.outputs['plan-file'], '');
  const md = fs.readFileSync(r.outputs['plan-markdown-file'], 'utf8');
  assert.match(md, /\*\*The plan failed \(exit 1\)\*\*/);
  assert.match(md, /tagz/);
  assert.equal((md.match(/^```/gm) || []).length, 2);
});

test('apply --plan: the saved plan is applied and journaled', () => {
  const dir = workspace();
  const plan = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'plan.json' });
  assert.equal(plan.outputs['exit-code'], '2', plan.stderr);
  const r = run(dir, { COMMAND: 'apply', PATHS: './desired', ARGS: `${SNAPSHOT} --max-delete 500`, PLAN_FILE: 'plan.json', FALLBACK: 'true' });
  assert.equal(r.outputs['exit-code'], '0', r.stderr);
  assert.equal(r.outputs['applied-plan'], 'saved');
  assert.equal(r.outputs['artifact-name'], 'ecr-reconcile-apply-desired');
  assert.ok(fs.statSync(r.outputs['journal-file']).size > 0, 'the journal is written');
  assert.ok(fs.existsSync(path.join(r.outputs['output-dir'], 'plan.json')));
});

/**
 * The registry moves on: an image planned for deletion gains an allowed tag, so a
 * plan saved before is stale and a fresh plan keeps the image.
 */
function moveOn(dir) {
  const file = path.join(dir, 'state.json');
  const snapshot = JSON.parse(fs.readFileSync(file, 'utf8'));
  const repo = snapshot.registries[0].repositories.find((r) => r.name === 'payments/api');
  const image = repo.images.find((i) => (i.tags || []).includes('v1.1.0'));
  image.tags.push('release-late');
  fs.writeFileSync(file, JSON.stringify(snapshot));
}

test('apply --plan: a stale plan falls back to a fresh plan, with a warning that says why', () => {
  const dir = workspace();
  run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'plan.json' });
  moveOn(dir);
  const r = run(dir, { COMMAND: 'apply', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'plan.json', FALLBACK: 'true' });
  assert.equal(r.outputs['exit-code'], '0', r.stderr);
  assert.equal(r.outputs['applied-plan'], 'fresh');
  assert.match(r.stdout, /^::warning title=ecr-reconcile: applying a fresh plan::The saved plan \(plan\.json\) was not applied: Saved plan is stale/m);
  assert.match(fs.readFileSync(path.join(dir, 'runner', 'summary.md'), 'utf8'), /> \[!WARNING\]\n> The saved plan \(plan\.json\) was not applied/);
  // The fresh plan kept the image that gained an allowed tag, and removed its other tag.
  const after = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
  const repo = after.registries[0].repositories.find((x) => x.name === 'payments/api');
  const kept = repo.images.find((i) => (i.tags || []).includes('release-late'));
  assert.ok(kept, 'the image with the new allowed tag stays');
  assert.deepEqual(kept.tags, ['release-late']);
});

test('apply --plan: without fallback (the default, or false) a stale plan fails and removes nothing', () => {
  for (const fallback of [{}, { FALLBACK: 'false' }]) {
    const dir = workspace();
    run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'plan.json' });
    moveOn(dir);
    const before = fs.readFileSync(path.join(dir, 'state.json'), 'utf8');
    const r = run(dir, { COMMAND: 'apply', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'plan.json', ...fallback });
    assert.equal(r.outputs['exit-code'], '1', JSON.stringify(fallback));
    assert.equal(r.outputs['applied-plan'], 'saved');
    assert.doesNotMatch(r.stdout, /applying a fresh plan/);
    assert.equal(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'), before);
  }
});

test('apply --plan: other errors never fall back to a fresh plan', () => {
  const dir = workspace();
  fs.writeFileSync(path.join(dir, 'plan.json'), '{"not": "a plan"}');
  const r = run(dir, { COMMAND: 'apply', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'plan.json', FALLBACK: 'true' });
  assert.equal(r.outputs['exit-code'], '1');
  assert.equal(r.outputs['applied-plan'], 'saved');
  assert.doesNotMatch(r.stdout, /applying a fresh plan/);
  const missing = run(dir, { COMMAND: 'apply', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'nope.json', FALLBACK: 'true' });
  assert.equal(missing.status, 1);
  assert.match(missing.stdout, /plan-file: nope\.json does not exist/);
});

test('show: a saved plan shown alone gives the outputs and the markdown of its plan, changes or none', () => {
  const dir = workspace();
  const plan = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'saved/plan.json' });
  assert.equal(plan.outputs['exit-code'], '2', plan.stderr);
  const r = run(dir, { COMMAND: 'show', PLANS: 'saved/*.json', SHARDS: '1', KEY: 'desired' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.outputs['exit-code'], '2');
  assert.equal(r.outputs['has-changes'], 'true');
  assert.equal(r.outputs.summary, plan.outputs.summary);
  assert.equal(fs.readFileSync(r.outputs['plan-markdown-file'], 'utf8'), fs.readFileSync(plan.outputs['plan-markdown-file'], 'utf8'));
  assert.equal(JSON.parse(fs.readFileSync(r.outputs['plan-file'], 'utf8')).summary.tags_to_remove, 121);
  assert.match(fs.readFileSync(path.join(dir, 'runner', 'summary.md'), 'utf8'), /^### ecr-reconcile plan\n/);
  // After the apply, the refused repository and the one not found are left (drift, as
  // plan --detailed-exitcode says); in the other files, nothing.
  const applied = run(dir, { COMMAND: 'apply', PATHS: 'desired', ARGS: SNAPSHOT });
  assert.equal(applied.outputs['exit-code'], '0', applied.stderr);
  for (const [paths, code] of [['desired', '2'], ['desired/payments.yaml desired/platform.yaml', '0']]) {
    const again = run(dir, { COMMAND: 'plan', PATHS: paths, ARGS: SNAPSHOT, PLAN_FILE: 'after/plan.json' });
    assert.equal(again.outputs['exit-code'], code, again.stderr);
    const shown = run(dir, { COMMAND: 'show', PLANS: 'after/plan.json' });
    assert.equal(shown.outputs['exit-code'], code, `${paths}: ${shown.stderr}`);
    assert.equal(shown.outputs['has-changes'], String(code === '2'));
    assert.equal(shown.outputs.summary, again.outputs.summary);
  }
});

test('show: the saved plans of 3 shards give the outputs and the markdown of the unsharded plan', () => {
  const dir = workspace();
  const whole = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: SNAPSHOT, PLAN_FILE: 'whole/plan.json' });
  assert.equal(whole.outputs['exit-code'], '2', whole.stderr);
  const wholeMarkdown = fs.readFileSync(whole.outputs['plan-markdown-file'], 'utf8');
  for (const k of [1, 2, 3]) {
    const shard = run(dir, { COMMAND: 'plan', PATHS: 'desired', ARGS: `${SNAPSHOT} --shard ${k}/3`, PLAN_FILE: `shards/${k}/plan.json` });
    assert.notEqual(shard.outputs['exit-code'], '1', shard.stderr);
  }
  const r = run(dir, { COMMAND: 'show', PLANS: 'shards/*/plan.json', SHARDS: '3' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.outputs['exit-code'], '2');
  assert.equal(r.outputs['has-changes'], 'true');
  assert.equal(r.outputs.summary, whole.outputs.summary);
  assert.equal(fs.readFileSync(r.outputs['plan-markdown-file'], 'utf8'), wholeMarkdown);
  // Two of the three: the binary refuses the set, and the step fails with its message.
  fs.rmSync(path.join(dir, 'shards', '2'), { recursive: true });
  const missing = run(dir, { COMMAND: 'show', PLANS: 'shards/*/plan.json' });
  assert.equal(missing.status, 1);
  assert.match(missing.stdout, /^::error title=ecr-reconcile::ecr-reconcile show: .*shard 2 of 3.*$/m);
});

test('show: a file that is not a saved plan is refused with the tool\'s message, as the error of the step', () => {
  const dir = workspace();
  fs.writeFileSync(path.join(dir, 'plan.json'), '{"format_version": 2}');
  const r = run(dir, { COMMAND: 'show', PLANS: 'plan.json' });
  assert.equal(r.status, 1);
  assert.equal(r.outputs['exit-code'], '1');
  assert.match(r.stdout, /^::error title=ecr-reconcile::ecr-reconcile show: the saved plan plan\.json .*; make a new plan$/m);
});

test('an unknown command fails', () => {
  const dir = workspace();
  const r = run(dir, { COMMAND: 'destroy' });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /command must be plan, apply or show, not 'destroy'/);
});

/** Waits until `file` exists (the fake binary has started and set up its handlers). */
async function until(file) {
  while (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') === '') await new Promise((resolve) => setTimeout(resolve, 20));
}

// A stand-in for the binary that, like it, answers SIGINT and SIGTERM by writing what
// it did and exiting 128 + the signal's number; it never ends otherwise.
const FAKE = `#!/usr/bin/env node
const fs = require('node:fs');
const journal = process.argv[process.argv.indexOf('--journal') + 1];
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) {
  process.on(signal, () => {
    fs.appendFileSync(journal, JSON.stringify({ cancelled: signal }) + '\\n');
    process.stderr.write('Cancelled (' + signal + '): the report, after the signal\\n');
    process.exit(code);
  });
}
fs.writeFileSync(process.env.FAKE_STARTED, String(process.pid));
setInterval(() => {}, 1000);
`;

for (const [signal, code] of [['SIGINT', '130'], ['SIGTERM', '143']]) {
  test(`apply: ${signal} to run.sh (what the runner signals on cancel) reaches the binary; the outputs are recorded`, async () => {
    const { spawn } = require('node:child_process');
    const dir = workspace();
    const fake = path.join(dir, 'fake-ecr-reconcile');
    fs.writeFileSync(fake, FAKE, { mode: 0o755 });
    const started = path.join(dir, 'started');
    const outputFile = path.join(dir, 'runner', 'output');
    fs.writeFileSync(outputFile, '');
    const child = spawn('bash', [SCRIPT], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        RUNNER_TEMP: path.join(dir, 'runner'),
        GITHUB_OUTPUT: outputFile,
        ECR_RECONCILE: fake,
        FAKE_STARTED: started,
        COMMAND: 'apply',
        PATHS: 'desired',
      },
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise((resolve) => child.on('exit', (status, sig) => resolve({ status, sig })));
    await until(started);
    child.kill(signal);
    // Without the signal passed on, the binary would never end: end it after a while
    // (it then exits 137, not as a cancelled binary does) instead of hanging the run.
    const stuck = setTimeout(() => process.kill(Number(fs.readFileSync(started, 'utf8')), 'SIGKILL'), 30000);
    const { status, sig } = await exited;
    clearTimeout(stuck);
    assert.equal(sig, null, 'run.sh is not killed by the signal');
    assert.equal(status, 0, stderr);
    const outputs = readOutputs(outputFile);
    assert.equal(outputs['exit-code'], code);
    assert.equal(outputs['artifact-name'], 'ecr-reconcile-apply-desired');
    assert.equal(fs.readFileSync(outputs['journal-file'], 'utf8'), `{"cancelled":"${signal}"}\n`);
    assert.match(stderr, new RegExp(`Cancelled \\(${signal}\\): the report`), 'the report reaches the log');
    assert.match(fs.readFileSync(path.join(outputs['output-dir'], 'stderr.txt'), 'utf8'), /Cancelled/);
  });
}
