// Tests of the plan comment against a local stand-in for the GitHub REST API
// (testdata/github-api.js). Run: node --test action/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { scratch } = require('./testdata/scratch.js');

const comment = require('./comment.js');
const { TOKEN, startApi } = require('./testdata/github-api.js');
const { readOutputs } = require('./testdata/outputs.js');

const REPO = 'acme/registry-config';
const PLAN = fs.readFileSync(path.join(__dirname, 'testdata', 'plan.md'), 'utf8');
const NO_CHANGES = '### ecr-reconcile plan\n\n**No changes.**\n';


/** The environment action.yml gives the script, for pull request `issue`. */
function envFor(api, { issue = 7, key = 'prod', markdown = PLAN, hasChanges = true, extra = {} } = {}) {
  const dir = scratch('comment-');
  const event = path.join(dir, 'event.json');
  fs.writeFileSync(event, JSON.stringify({ pull_request: { number: issue, head: { sha: 'a'.repeat(40) } } }));
  const planFile = path.join(dir, 'plan.md');
  fs.writeFileSync(planFile, markdown);
  const output = path.join(dir, 'output');
  fs.writeFileSync(output, '');
  return {
    GITHUB_API_URL: api.url,
    GITHUB_TOKEN: TOKEN,
    GITHUB_REPOSITORY: REPO,
    GITHUB_EVENT_PATH: event,
    GITHUB_OUTPUT: output,
    GITHUB_SERVER_URL: 'https://github.example',
    GITHUB_RUN_ID: '42',
    PLAN_MARKDOWN_FILE: planFile,
    COMMENT_KEY: key,
    HAS_CHANGES: String(hasChanges),
    HEAD_SHA: 'a'.repeat(40),
    ...extra,
  };
}

const quiet = { log: () => {}, retryDelayMs: 1 };

/** The outputs the comment step wrote to GITHUB_OUTPUT. */
function outputs(env) {
  return readOutputs(env.GITHUB_OUTPUT);
}

test('creates the comment when there is none, marker first', async (t) => {
  const api = await startApi();
  t.after(api.close);
  api.seed(7, ['Looks good to me']);
  const env = envFor(api);
  const result = await comment.run(env, quiet);
  assert.equal(result.action, 'created');
  const list = api.state.comments.get(7);
  assert.equal(list.length, 2);
  assert.ok(list[1].body.startsWith('<!-- ecr-reconcile:plan:prod -->\n### ecr-reconcile plan'));
  assert.ok(list[1].body.includes('**Plan: 121 tags to remove'));
  assert.ok(list[1].body.includes('[workflow run](https://github.example/acme/registry-config/actions/runs/42)'));
  assert.equal(list[0].body, 'Looks good to me');
  assert.deepEqual(outputs(env), { 'comment-action': 'created', 'comment-id': String(list[1].id), 'comment-url': list[1].html_url });
});

test('updates the comment in place on the next push, never a second one', async (t) => {
  const api = await startApi();
  t.after(api.close);
  await comment.run(envFor(api), quiet);
  const [first] = api.state.comments.get(7);
  const second = PLAN.replace('121 tags to remove', '120 tags to remove');
  const result = await comment.run(envFor(api, { markdown: second }), quiet);
  assert.equal(result.action, 'updated');
  const list = api.state.comments.get(7);
  assert.equal(list.length, 1, 'one comment, updated in place');
  assert.equal(list[0].id, first.id);
  assert.ok(list[0].body.includes('120 tags to remove'));
  assert.ok(!list[0].body.includes('121 tags to remove'));
  assert.deepEqual(
    api.writes().map((r) => r.method),
    ['POST', 'PATCH'],
  );
});

test('posts nothing when nothing changes and there is no earlier comment', async (t) => {
  const api = await startApi();
  t.after(api.close);
  api.seed(7, ['unrelated']);
  const env = envFor(api, { markdown: NO_CHANGES, hasChanges: false });
  const result = await comment.run(env, quiet);
  assert.equal(result.action, 'none');
  assert.deepEqual(api.writes(), []);
  assert.equal(api.state.comments.get(7).length, 1);
  assert.equal(outputs(env)['comment-action'], 'none');
});

test('updates an earlier comment to say nothing changes, rather than leave a stale plan', async (t) => {
  const api = await startApi();
  t.after(api.close);
  await comment.run(envFor(api), quiet);
  const result = await comment.run(envFor(api, { markdown: NO_CHANGES, hasChanges: false }), quiet);
  assert.equal(result.action, 'updated');
  const list = api.state.comments.get(7);
  assert.equal(list.length, 1);
  assert.ok(list[0].body.startsWith('<!-- ecr-reconcile:plan:prod -->'));
  assert.ok(list[0].body.includes('**No changes.**'));
  assert.ok(!list[0].body.includes('tags to remove'));
});

test('comment-when-unchanged: always posts a comment even without changes', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const env = envFor(api, { markdown: NO_CHANGES, hasChanges: false, extra: { COMMENT_WHEN_UNCHANGED: 'always' } });
  assert.equal((await comment.run(env, quiet)).action, 'created');
  assert.equal(api.state.comments.get(7).length, 1);
  const bad = envFor(api, { hasChanges: false, extra: { COMMENT_WHEN_UNCHANGED: 'sometimes' } });
  await assert.rejects(comment.run(bad, quiet), /comment-when-unchanged must be update or always/);
});

test('a plan over the limit is cut at a line, blocks closed, with a link to the artifact', async (t) => {
  const api = await startApi();
  t.after(api.close);
  // About 240,000 characters: far over 65,536.
  const huge = PLAN + '\n' + Array.from({ length: 10 }, () => PLAN.slice(PLAN.indexOf('<details>'))).join('\n');
  assert.ok(huge.length > 3 * comment.GITHUB_COMMENT_LIMIT);
  const artifactUrl = 'https://github.example/acme/registry-config/actions/runs/42/artifacts/9001';
  const env = envFor(api, { markdown: huge, extra: { ARTIFACT_URL: artifactUrl } });
  const result = await comment.run(env, quiet);
  assert.equal(result.action, 'created');
  assert.equal(result.trimmed, true);
  const { body } = api.state.comments.get(7)[0];
  assert.ok(body.length <= comment.GITHUB_COMMENT_LIMIT, `body is ${body.length} characters`);
  assert.ok(body.length > 60000, 'the budget is used, not thrown away');
  assert.ok(body.startsWith('<!-- ecr-reconcile:plan:prod -->\n'));
  assert.ok(body.includes(`[plan artifact](${artifactUrl})`));
  assert.ok(body.includes(`[full plan (artifact)](${artifactUrl})`));
  assert.match(body, /This plan is [\d,]+ characters, over what a comment can hold/);
  const fences = body.split('\n').filter((l) => /^\s*```/.test(l)).length;
  assert.equal(fences % 2, 0, 'every code block is closed');
  const opened = (body.match(/<details[\s>]/g) || []).length;
  const closed = (body.match(/<\/details>/g) || []).length;
  assert.equal(opened, closed, 'every <details> is closed');
  // The text kept is a prefix of the plan, cut at a line.
  const kept = body.slice(body.indexOf('\n') + 1, body.indexOf('\n\n> [!WARNING]'));
  const keptPlan = kept.replace(/(\n```|\n<\/details>)+$/, '');
  assert.ok(huge.startsWith(keptPlan + '\n'), 'cut at a line boundary');
});

test('a markdown file larger than a string can hold is read in part, up to a line', async (t) => {
  const api = await startApi();
  t.after(api.close);
  // Over the read limit: only its first megabyte is read, and the comment says the size.
  const rows = Array.from({ length: 30000 }, (_, i) => `| \`repo-${i}\` | 111111111111 | changes | 3 | 0 | 1 MiB | 1 MiB | $0.01 |`);
  const markdown = `### ecr-reconcile plan\n\n**Plan: delete 90000 images.**\n\n${rows.join('\n')}\n`;
  assert.ok(markdown.length > 2 * comment.READ_LIMIT);
  const env = envFor(api, { markdown });
  const read = comment.readMarkdown(env.PLAN_MARKDOWN_FILE);
  assert.equal(read.bytes, Buffer.byteLength(markdown));
  assert.ok(read.markdown.length <= comment.READ_LIMIT && read.markdown.length > comment.READ_LIMIT - 200);
  assert.ok(markdown.startsWith(read.markdown) && read.markdown.endsWith('\n'), 'a prefix, cut after a line');
  const result = await comment.run(env, quiet);
  assert.equal(result.trimmed, true);
  const { body } = api.state.comments.get(7)[0];
  assert.ok(body.length <= comment.GITHUB_COMMENT_LIMIT);
  assert.ok(body.includes('**Plan: delete 90000 images.**'));
  assert.match(body, new RegExp(`This plan is ${Buffer.byteLength(markdown).toLocaleString('en-US')} bytes, over what a comment can hold`));
  // A file within the limit is read whole.
  assert.deepEqual(comment.readMarkdown(envFor(api).PLAN_MARKDOWN_FILE), { markdown: PLAN, bytes: null });
});

test('a plan under the limit is not cut', async (t) => {
  const { body, trimmed } = comment.buildBody({ key: 'k', markdown: PLAN, artifactUrl: 'https://a.test/1' });
  assert.equal(trimmed, false);
  assert.ok(body.includes(PLAN.trimEnd()));
  assert.ok(!body.includes('[!WARNING]'));
  t.diagnostic(`comment of ${body.length} characters`);
});

test('comments of another key are left alone', async (t) => {
  const api = await startApi();
  t.after(api.close);
  await comment.run(envFor(api, { key: 'staging' }), quiet);
  const staging = api.state.comments.get(7)[0];
  const stagingBody = staging.body;
  assert.equal((await comment.run(envFor(api, { key: 'prod' }), quiet)).action, 'created');
  // A key that only starts like another one is another key.
  assert.equal((await comment.run(envFor(api, { key: 'prod-eu' }), quiet)).action, 'created');
  const updated = PLAN.replace('121 tags', '99 tags');
  assert.equal((await comment.run(envFor(api, { key: 'prod', markdown: updated }), quiet)).action, 'updated');
  const list = api.state.comments.get(7);
  assert.equal(list.length, 3);
  assert.equal(list[0].body, stagingBody, 'the staging comment is untouched');
  assert.ok(list[1].body.startsWith('<!-- ecr-reconcile:plan:prod -->') && list[1].body.includes('99 tags'));
  assert.ok(list[2].body.startsWith('<!-- ecr-reconcile:plan:prod-eu -->') && list[2].body.includes('121 tags'));
  const patched = api.writes().filter((r) => r.method === 'PATCH');
  assert.deepEqual(patched.map((r) => r.path), [`/repos/${REPO}/issues/comments/${list[1].id}`]);
});

test('finds the comment on the second page of comments', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const list = api.seed(7, Array.from({ length: 130 }, (_, i) => `comment ${i}`));
  api.seed(7, [`${comment.marker('prod')}\nold plan`], 'github-actions[bot]');
  const target = list[130];
  const result = await comment.run(envFor(api), quiet);
  assert.equal(result.action, 'updated');
  assert.equal(result.comment.id, target.id);
  assert.equal(api.state.comments.get(7).length, 131, 'no second comment');
  const pages = api.state.requests.filter((r) => r.method === 'GET' && r.path !== '/user').map((r) => r.query);
  assert.deepEqual(pages, ['?per_page=100', '?per_page=100&page=2']);
});

test('a comment that only quotes the marker is not the plan comment', async (t) => {
  const api = await startApi();
  t.after(api.close);
  api.seed(7, [`Why does the bot write ${comment.marker('prod')} in its comments?`]);
  assert.equal((await comment.run(envFor(api), quiet)).action, 'created');
  assert.equal(api.state.comments.get(7).length, 2);
});

test('a comment by someone else that starts with the marker is never updated', async (t) => {
  const api = await startApi();
  t.after(api.close);
  // A person pasting the plan, and another bot (a copy of the action under an app's
  // token), both start their comments with the marker.
  api.seed(7, [`${comment.marker('prod')}\nmy own notes`], 'alice');
  api.seed(7, [`${comment.marker('prod')}\nanother bot's plan`], 'other-app[bot]');
  const result = await comment.run(envFor(api), quiet);
  assert.equal(result.action, 'created');
  assert.equal(result.author, 'github-actions[bot]');
  const list = api.state.comments.get(7);
  assert.equal(list.length, 3);
  assert.equal(list[0].body, `${comment.marker('prod')}\nmy own notes`);
  assert.equal(list[1].body, `${comment.marker('prod')}\nanother bot's plan`);
  assert.deepEqual(api.writes().map((r) => r.method), ['POST']);
  // The next push updates the action's own comment, still not theirs.
  assert.equal((await comment.run(envFor(api), quiet)).action, 'updated');
  assert.equal(api.state.comments.get(7).length, 3);
  assert.deepEqual(
    api.writes().filter((r) => r.method === 'PATCH').map((r) => r.path),
    [`/repos/${REPO}/issues/comments/${list[2].id}`],
  );
});

test('the author is the token\'s user when it may read /user, else github-actions[bot]', async (t) => {
  const api = await startApi({ userLogin: 'deploy-bot' });
  t.after(api.close);
  api.seed(7, [`${comment.marker('prod')}\nold plan`], 'github-actions[bot]');
  const mine = api.seed(7, [`${comment.marker('prod')}\nolder plan`], 'deploy-bot')[1];
  const result = await comment.run(envFor(api), quiet);
  assert.equal(result.author, 'deploy-bot');
  assert.equal(result.action, 'updated');
  assert.equal(result.comment.id, mine.id, "the personal token's own comment, not the bot's");
  assert.equal(api.state.comments.get(7)[0].body, `${comment.marker('prod')}\nold plan`);
});

test('comment-author: a configured author is the only one whose comment is updated', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const theirs = api.seed(7, [`${comment.marker('prod')}\nold plan`], 'My-App[bot]')[0];
  const env = envFor(api, { extra: { COMMENT_AUTHOR: 'my-app[bot]' } });
  const result = await comment.run(env, quiet);
  assert.equal(result.author, 'my-app[bot]');
  assert.equal(result.action, 'updated', 'logins compare without case');
  assert.equal(result.comment.id, theirs.id);
  assert.ok(!api.state.requests.some((r) => r.path === '/user'), 'a configured author needs no look-up');
  // Without it, the app's comment is not the workflow token's.
  assert.equal((await comment.run(envFor(api), quiet)).action, 'created');
});

test('a server error is retried', async (t) => {
  const api = await startApi({ failFirst: 2 });
  t.after(api.close);
  assert.equal((await comment.run(envFor(api), quiet)).action, 'created');
  assert.equal(api.state.comments.get(7).length, 1);
});

test('a server error that lasts fails the step', async (t) => {
  const api = await startApi({ failFirst: 10 });
  t.after(api.close);
  await assert.rejects(comment.run(envFor(api), quiet), /HTTP 502: Server Error/);
});

test('a read-only token (a pull request from a fork) warns and does not fail', async (t) => {
  const api = await startApi({ readOnly: true });
  t.after(api.close);
  const lines = [];
  const env = envFor(api);
  const result = await comment.run(env, { log: (l) => lines.push(l), retryDelayMs: 1 });
  assert.equal(result.action, 'none');
  assert.match(lines.join('\n'), /^::warning title=ecr-reconcile::the token may not write pull request comments/m);
  assert.equal(outputs(env)['comment-action'], 'none');
});

test('a bad token fails the step', async (t) => {
  const api = await startApi();
  t.after(api.close);
  await assert.rejects(comment.run(envFor(api, { extra: { GITHUB_TOKEN: 'wrong' } }), quiet), /HTTP 401: Bad credentials/);
});

test('outside a pull request nothing is posted', async (t) => {
  const api = await startApi();
  t.after(api.close);
  const env = envFor(api);
  fs.writeFileSync(env.GITHUB_EVENT_PATH, JSON.stringify({ ref: 'refs/heads/main' }));
  assert.equal((await comment.run(env, quiet)).action, 'none');
  assert.deepEqual(api.state.requests, []);
  // An explicit pr-number input comments on that pull request.
  const explicit = { ...env, PR_NUMBER: '12' };
  assert.equal((await comment.run(explicit, quiet)).action, 'created');
  assert.equal(api.state.comments.get(12).length, 1);
});

test('keys become markers that are safe HTML comments', () => {
  assert.equal(comment.marker('prod'), '<!-- ecr-reconcile:plan:prod -->');
  assert.equal(comment.marker(''), '<!-- ecr-reconcile:plan:default -->');
  assert.equal(comment.marker('envs/prod eu'), '<!-- ecr-reconcile:plan:envs/prod_eu -->');
  assert.equal(comment.marker('a-->b'), '<!-- ecr-reconcile:plan:a-_b -->');
  assert.ok(!comment.marker('x -- y --> <!--').slice(4, -3).includes('--'));
});

test('nextLink reads the rel="next" URL of a Link header', () => {
  assert.equal(
    comment.nextLink('<https://api.test/x?page=2>; rel="next", <https://api.test/x?page=5>; rel="last"'),
    'https://api.test/x?page=2',
  );
  assert.equal(comment.nextLink('<https://api.test/x?page=1>; rel="prev"'), null);
  assert.equal(comment.nextLink(null), null);
});
