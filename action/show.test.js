// Tests of the action's show command: run.sh puts the saved plans of N shards
// together with the binary (a stand-in, testdata/fake-show.js, that checks and
// merges as `ecr-reconcile show` does) and the comment step (comment.js, against the
// stand-in GitHub API) posts the plan of the whole as one comment, as for a plan;
// plans not found as expected, or refused by the binary, fail the step before
// anything is posted. Run: node --test action/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { scratch } = require('./testdata/scratch.js');
const { TOKEN, startApi } = require('./testdata/github-api.js');
const comment = require('./comment.js');
const { shardPlans } = require('./testdata/shards.js');
const { readOutputs } = require('./testdata/outputs.js');

const ROOT = path.join(__dirname, '..');
const SCRIPT = path.join(__dirname, 'run.sh');
const FAKE = path.join(__dirname, 'testdata', 'fake-show.js');
const SHARDED = 'shards/*/plan.json';

/** Runs run.sh's show in `cwd` (default `dir`), as action.yml does; returns its outputs. */
function show(dir, env, cwd = dir) {
  const runner = path.join(dir, 'runner');
  fs.mkdirSync(runner, { recursive: true });
  const outputFile = path.join(runner, `output-${Math.random()}`);
  fs.writeFileSync(outputFile, '');
  const result = spawnSync('bash', [SCRIPT], {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUNNER_TEMP: runner,
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: path.join(runner, 'summary.md'),
      ECR_RECONCILE: FAKE,
      FAKE_CALLS: path.join(dir, 'calls'),
      COMMAND: 'show',
      ...env,
    },
  });
  return { ...result, outputs: readOutputs(outputFile) };
}

/** The calls the stand-in binary received, one string of arguments each. */
function calls(dir) {
  const file = path.join(dir, 'calls');
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/**
 * The action on pull request 7: run.sh, then, only when it succeeded (the comment
 * step has no always()), the comment step with the environment action.yml gives it.
 */
async function action(dir, api, env, extra = {}) {
  const run = show(dir, env);
  if (run.status !== 0) return { run, posted: null };
  const event = path.join(dir, 'event.json');
  fs.writeFileSync(event, JSON.stringify({ pull_request: { number: 7 } }));
  const commentOutput = path.join(dir, 'runner', `comment-${Math.random()}`);
  fs.writeFileSync(commentOutput, '');
  const posted = await comment.run(
    {
      GITHUB_API_URL: api.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_REPOSITORY: 'acme/registry-config',
      GITHUB_EVENT_PATH: event,
      GITHUB_OUTPUT: commentOutput,
      PLAN_MARKDOWN_FILE: run.outputs['plan-markdown-file'],
      HAS_CHANGES: String(run.outputs['has-changes'] === 'true' || run.outputs['exit-code'] === '1'),
      COMMENT_KEY: run.outputs.key,
      COMMENT_WHEN_UNCHANGED: 'update',
      ...extra,
    },
    { log: () => {}, retryDelayMs: 1 },
  );
  return { run, posted, outputs: readOutputs(commentOutput) };
}

test('show: the plans of 3 shards, found by a glob, make one comment with the plan of the whole', async () => {
  const dir = scratch('show-');
  shardPlans(dir, 3);
  const api = await startApi();
  try {
    const { run, posted, outputs } = await action(dir, api, { PLANS: SHARDED, SHARDS: '3', KEY: 'desired' });
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.equal(run.outputs['exit-code'], '2');
    assert.equal(run.outputs['has-changes'], 'true');
    // 1 + 2 + ... + 6 tags over the 6 repositories of the 3 shards.
    assert.equal(run.outputs.summary, 'Plan: remove 21 tags in 6 repositories.');
    assert.equal(run.outputs.key, 'desired');
    assert.equal(run.outputs['artifact-name'], 'ecr-reconcile-show-desired');
    const whole = JSON.parse(fs.readFileSync(run.outputs['plan-file'], 'utf8'));
    assert.deepEqual(whole.repositories.map((r) => r.repository), [0, 1, 2, 3, 4, 5].map((at) => `team-${at}/app`));
    assert.equal(whole.shard, undefined);
    assert.equal(path.dirname(run.outputs['plan-file']), run.outputs['output-dir']);
    // The binary got every shard's plan, once each, and nothing about a manifest cache.
    const shown = calls(dir);
    assert.equal(shown.length, 3, 'json, markdown, and the human plan for the log');
    for (const call of shown) {
      for (let k = 1; k <= 3; k += 1) assert.equal(call.split(`ecr-reconcile-plan-shard-${k}/plan.json`).length, 2, call);
      assert.doesNotMatch(call, /--cache-dir/);
    }
    assert.match(run.stdout, /^# team-5\/app$/m, 'the human plan is in the log');
    const md = fs.readFileSync(run.outputs['plan-markdown-file'], 'utf8');
    assert.equal(fs.readFileSync(path.join(dir, 'runner', 'summary.md'), 'utf8'), md, 'the step summary has the plan');
    // One comment, with the marker of the key, that holds every shard's repositories.
    assert.equal(posted.action, 'created');
    assert.equal(outputs['comment-action'], 'created');
    const list = api.state.comments.get(7);
    assert.equal(list.length, 1);
    assert.ok(list[0].body.startsWith(`${comment.marker('desired')}\n### ecr-reconcile plan\n\n**Plan: remove 21 tags in 6 repositories.**`));
    for (let at = 0; at < 6; at += 1) assert.match(list[0].body, new RegExp(`team-${at}/app`));
  } finally {
    await api.close();
  }
});

test('show: a later run updates the comment of its key, never duplicates it or edits another', async () => {
  const dir = scratch('show-');
  shardPlans(dir, 3);
  const api = await startApi();
  try {
    // A person quotes the marker; another key has its own comment.
    api.seed(7, [`${comment.marker('desired')}\nquoted by a person`]);
    const first = await action(dir, api, { PLANS: SHARDED, SHARDS: '3', KEY: 'desired' });
    assert.equal(first.posted.action, 'created');
    const other = await action(dir, api, { PLANS: SHARDED, KEY: 'staging' });
    assert.equal(other.posted.action, 'created');
    // The next push: shard 2's repositories have nothing left to remove.
    shardPlans(dir, 3, { tags: (at) => (at % 3 === 1 ? 0 : at + 1) });
    const second = await action(dir, api, { PLANS: SHARDED, SHARDS: '3', KEY: 'desired' });
    assert.equal(second.run.status, 0, second.run.stderr);
    assert.equal(second.posted.action, 'updated');
    assert.equal(second.posted.comment.id, first.posted.comment.id);
    const list = api.state.comments.get(7);
    assert.equal(list.length, 3, "the person's, desired's and staging's");
    assert.equal(list[0].body, `${comment.marker('desired')}\nquoted by a person`);
    assert.match(list.find((c) => c.id === first.posted.comment.id).body, /\*\*Plan: remove 14 tags in 4 repositories\.\*\*/);
    assert.match(list.find((c) => c.id === other.posted.comment.id).body, /remove 21 tags/);
  } finally {
    await api.close();
  }
});

test('show: no changes gives exit code 0 and posts nothing without an earlier comment', async () => {
  const dir = scratch('show-');
  shardPlans(dir, 2, { tags: () => 0 });
  const api = await startApi();
  try {
    const { run, posted } = await action(dir, api, { PLANS: SHARDED, SHARDS: '2' });
    assert.equal(run.outputs['exit-code'], '0', run.stderr);
    assert.equal(run.outputs['has-changes'], 'false');
    assert.equal(run.outputs.summary, 'No changes.');
    assert.equal(run.outputs.key, 'shards/*/plan.json', 'the default key: the plans');
    assert.equal(run.outputs['artifact-name'], 'ecr-reconcile-show-shards_plan.json');
    assert.equal(posted.action, 'none');
    assert.deepEqual(api.writes(), []);
  } finally {
    await api.close();
  }
});

test('show: a missing shard, or one too many, fails before the binary runs or anything is posted', async () => {
  const api = await startApi();
  try {
    const dir = scratch('show-');
    shardPlans(dir, 3, { only: [1, 3] });
    const short = await action(dir, api, { PLANS: SHARDED, SHARDS: '3', KEY: 'desired' });
    assert.equal(short.run.status, 1);
    assert.equal(short.posted, null);
    assert.match(
      short.run.stdout,
      /^::error title=ecr-reconcile::plans: 2 files found, 3 expected \(shards: 3\): shards\/ecr-reconcile-plan-shard-1\/plan\.json shards\/ecr-reconcile-plan-shard-3\/plan\.json$/m,
    );
    assert.equal(short.run.outputs['exit-code'], '1');
    assert.equal(short.run.outputs['plan-markdown-file'], '');
    assert.deepEqual(calls(dir), [], 'the binary never ran');

    const more = scratch('show-');
    shardPlans(more, 3);
    const extra = await action(more, api, { PLANS: SHARDED, SHARDS: '2' });
    assert.equal(extra.run.status, 1);
    assert.match(extra.run.stdout, /::error title=ecr-reconcile::plans: 3 files found, 2 expected \(shards: 2\): /);

    const none = await action(more, api, { PLANS: `${SHARDED} nowhere/*.json`, SHARDS: '3' });
    assert.equal(none.run.status, 1);
    assert.match(none.run.stdout, /::error title=ecr-reconcile::plans: nowhere\/\*\.json matches no file \(found: shards\/ecr-reconcile-plan-shard-1\/plan\.json /);

    const bad = await action(more, api, { PLANS: SHARDED, SHARDS: 'three' });
    assert.equal(bad.run.status, 1);
    assert.match(bad.run.stdout, /shards must be a number of plans \(1 or more\), not 'three'/);

    const empty = await action(more, api, { PLANS: '' });
    assert.equal(empty.run.status, 1);
    assert.match(empty.run.stdout, /show needs the plans input/);
    assert.deepEqual(calls(more), []);
    assert.deepEqual(api.writes(), [], 'nothing was posted');
  } finally {
    await api.close();
  }
});

test("show: the binary's refusal of incomplete or mixed shards is the step's error, and nothing is posted", async () => {
  const api = await startApi();
  try {
    // No shards input: the binary finds that shard 2 is missing.
    const dir = scratch('show-');
    shardPlans(dir, 3, { only: [1, 3] });
    const missing = await action(dir, api, { PLANS: SHARDED });
    assert.equal(missing.run.status, 1);
    assert.equal(missing.posted, null);
    assert.match(missing.run.stdout, /^::error title=ecr-reconcile::ecr-reconcile show: the plans of shard 2 of 3 are missing; give every shard's plan$/m);
    assert.match(missing.run.stderr, /error.*: the plans of shard 2 of 3 are missing/, 'the tool\'s own line is in the log');
    assert.equal(missing.run.outputs['exit-code'], '1');
    assert.equal(calls(dir).length, 1, 'nothing runs after the refusal');

    // Shard 3 of another plan (other desired-state files).
    const mixed = scratch('show-');
    shardPlans(mixed, 3, { only: [1, 2] });
    const [other] = shardPlans(scratch('show-'), 3, { only: [3], digest: 'sha256:bbb' });
    fs.mkdirSync(path.join(mixed, 'shards', 'ecr-reconcile-plan-shard-3'));
    fs.copyFileSync(other, path.join(mixed, 'shards', 'ecr-reconcile-plan-shard-3', 'plan.json'));
    const refused = await action(mixed, api, { PLANS: SHARDED, SHARDS: '3' });
    assert.equal(refused.run.status, 1);
    assert.match(refused.run.stdout, /^::error title=ecr-reconcile::ecr-reconcile show: shards\/ecr-reconcile-plan-shard-3\/plan\.json is a plan of other desired-state files than shards\/ecr-reconcile-plan-shard-1\/plan\.json; put together only the shards of one plan$/m);
    assert.deepEqual(api.writes(), []);
  } finally {
    await api.close();
  }
});

test('show: globs and files expand relative to the working directory, in order', () => {
  const dir = scratch('show-');
  const work = path.join(dir, 'work');
  fs.mkdirSync(work);
  shardPlans(work, 3);
  const r = show(dir, { PLANS: 'shards/ecr-reconcile-plan-shard-2/plan.json\nshards/*-[13]/plan.json', SHARDS: '3', WORKING_DIRECTORY: 'work' }, work);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(
    calls(dir)[0],
    'show shards/ecr-reconcile-plan-shard-2/plan.json shards/ecr-reconcile-plan-shard-1/plan.json shards/ecr-reconcile-plan-shard-3/plan.json --format json',
  );
  assert.equal(r.outputs.key, 'work shards/ecr-reconcile-plan-shard-2/plan.json shards/*-[13]/plan.json');
  // An absolute glob too.
  const absolute = show(dir, { PLANS: `${work}/shards/*/plan.json` }, work);
  assert.equal(absolute.status, 0, absolute.stdout + absolute.stderr);
  assert.equal(calls(dir).at(-3), `show ${[1, 2, 3].map((k) => `${work}/shards/ecr-reconcile-plan-shard-${k}/plan.json`).join(' ')} --format json`);
});

test('show: a file named by two patterns counts once', () => {
  const dir = scratch('show-');
  shardPlans(dir, 3);
  const r = show(dir, { PLANS: 'shards/ecr-reconcile-plan-shard-2/plan.json shards/*/plan.json', SHARDS: '3' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const [json] = calls(dir);
  assert.equal(
    json,
    'show shards/ecr-reconcile-plan-shard-2/plan.json shards/ecr-reconcile-plan-shard-1/plan.json shards/ecr-reconcile-plan-shard-3/plan.json --format json',
  );
  assert.equal(r.outputs['exit-code'], '2');
});

test('show: a plan too long for a comment is cut, with a line saying where the whole plan is', async () => {
  const dir = scratch('show-');
  // 3 x 400 repositories with long names: about 100,000 characters of markdown.
  shardPlans(dir, 3, { perShard: 400, name: (at) => `organisation-unit-${String(at).padStart(4, '0')}/service-with-a-long-name` });
  const api = await startApi();
  try {
    const artifact = 'https://github.example/acme/registry-config/actions/runs/42/artifacts/9';
    const { run, posted } = await action(dir, api, { PLANS: SHARDED, SHARDS: '3', KEY: 'desired' }, { ARTIFACT_URL: artifact });
    assert.equal(run.status, 0, run.stderr);
    const md = fs.readFileSync(run.outputs['plan-markdown-file'], 'utf8');
    assert.ok(md.length > comment.GITHUB_COMMENT_LIMIT, `${md.length} characters`);
    assert.equal(posted.trimmed, true);
    const { body } = api.state.comments.get(7)[0];
    assert.ok(body.length <= comment.GITHUB_COMMENT_LIMIT, `${body.length} characters`);
    assert.match(body, new RegExp(`over what a comment can hold: it is cut after [\\d,]+; the full plan is in the \\[plan artifact\\]\\(${artifact.replace(/[./]/g, '\\$&')}\\)`));
    assert.match(body, /organisation-unit-0000\//);
    assert.doesNotMatch(body, /organisation-unit-1199\//);
    // The step summary holds it whole (far below its 1 MiB).
    assert.equal(fs.readFileSync(path.join(dir, 'runner', 'summary.md'), 'utf8'), md);
  } finally {
    await api.close();
  }
});

test("show: the step summary stays within GitHub's 1 MiB, cut at a line with a note", () => {
  const dir = scratch('show-');
  shardPlans(dir, 3, { perShard: 400 });
  const summary = path.join(dir, 'runner', 'summary.md');
  fs.mkdirSync(path.dirname(summary), { recursive: true });
  const before = `${'x'.repeat(99)}\n`.repeat(10400); // 1,040,000 bytes already there
  fs.writeFileSync(summary, before);
  const r = show(dir, { PLANS: SHARDED });
  assert.equal(r.status, 0, r.stderr);
  const after = fs.readFileSync(summary, 'utf8');
  assert.ok(Buffer.byteLength(after) <= 1024 * 1024, `${Buffer.byteLength(after)} bytes`);
  assert.ok(after.startsWith(`${before}### ecr-reconcile plan\n`));
  assert.match(after.slice(before.length), /\n- `team-\d+\/app`: changes, \d+ tags to remove\n\n> The plan is longer than GitHub's step-summary limit \(1 MiB\) and was cut here; the whole plan is in the artifact and the job's log\.\n$/);
});

test('action.yml: show takes plans and shards, comments as plan does, only after a run that succeeded, with no manifest cache', () => {
  const text = fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
  assert.match(text, /^\s+PLANS: \$\{\{ inputs\.plans \}\}$/m);
  assert.match(text, /^\s+SHARDS: \$\{\{ inputs\.shards \}\}$/m);
  const when = text.match(/- name: Comment the plan on the pull request\n\s+id: comment\n\s+if: >-\n((?:\s{8}.*\n)+)/);
  assert.ok(when, 'the comment step has an if');
  const condition = when[1].replace(/\s+/g, ' ').trim();
  assert.match(condition, /^\(inputs\.command == 'plan' \|\| inputs\.command == 'show'\) && /);
  assert.doesNotMatch(condition, /always\(\)/, 'a failed show posts nothing');
  assert.match(text, /- name: Manifest cache key\n(?:\s+.*\n)*?\s+COMMAND: \$\{\{ inputs\.command \}\}\n/);
});
