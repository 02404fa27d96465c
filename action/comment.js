// Keeps one ecr-reconcile plan comment per pull request and key, updated in place.
//
// The comment starts with a hidden marker, `<!-- ecr-reconcile:plan:KEY -->`; the
// first comment of the pull request that starts with it and was written by the
// token's own user (the author) is the one to update, so every push edits the same
// comment, plans of other keys (other folders or environments) keep theirs, and a
// person or another bot that quotes the marker is never edited. Nothing is posted when the plan has no changes, unless
// an earlier comment exists: that one is updated to say so, so no stale plan stays.
// A body over GitHub's comment limit is cut at a line, its open code block and
// <details> closed, with a link to the full plan.
//
// No dependencies: it talks to the REST API with fetch (Node 18 or later), so it
// runs under actions/github-script (the runner's own Node) or plain `node`.
// The action runs it through github-script; the tests (comment.test.js) call
// `run` against a local stand-in for the API.
'use strict';

const fs = require('node:fs');

/** GitHub refuses a comment body over 65,536 characters. */
const GITHUB_COMMENT_LIMIT = 65536;
/** The budget we fill: room below the limit for the marker and the footer. */
const DEFAULT_MAX_LENGTH = 65000;
const MARKER_PREFIX = 'ecr-reconcile:plan:';
/**
 * Bytes of the markdown file read at most: a comment holds 65,536 characters, and
 * the plan of a large organisation can be gigabytes of markdown (more than a
 * JavaScript string can hold).
 */
const READ_LIMIT = 1 << 20;

/**
 * The markdown of `file`: the whole text, or, for a file over `limit` bytes, its
 * first `limit` bytes up to the last whole line, with `bytes` the file's size (else
 * null).
 */
function readMarkdown(file, limit = READ_LIMIT) {
  const size = fs.statSync(file).size;
  if (size <= limit) return { markdown: fs.readFileSync(file, 'utf8'), bytes: null };
  const buffer = Buffer.alloc(limit);
  const fd = fs.openSync(file, 'r');
  let read = 0;
  try {
    while (read < limit) {
      const n = fs.readSync(fd, buffer, read, limit - read, read);
      if (n === 0) break;
      read += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const text = buffer.subarray(0, read).toString('utf8');
  return { markdown: text.slice(0, text.lastIndexOf('\n') + 1), bytes: size };
}

/** A key reduced to characters safe inside an HTML comment (no `--`, no `>`). */
function safeKey(key) {
  const safe = String(key || '')
    .trim()
    .replace(/[^A-Za-z0-9._/:-]+/g, '_')
    .replace(/-{2,}/g, '-')
    .replace(/^[-_]+|[-_]+$/g, '');
  return safe || 'default';
}

/** The hidden marker that identifies the comment of a key. */
function marker(key) {
  return `<!-- ${MARKER_PREFIX}${safeKey(key)} -->`;
}

/**
 * Cuts `markdown` to at most `budget` characters at a line boundary, closing a code
 * fence and <details> sections left open by the cut. Returns {text, trimmed}.
 */
function trimMarkdown(markdown, budget) {
  if (markdown.length <= budget) return { text: markdown, trimmed: false };
  // What closing the open blocks may need: a fence line and a few </details>.
  const reserve = 200;
  const lines = markdown.split('\n');
  const kept = [];
  let length = 0;
  let inFence = false;
  let openDetails = 0;
  for (const line of lines) {
    if (length + line.length + 1 > budget - reserve) break;
    kept.push(line);
    length += line.length + 1;
    if (/^\s*(```|~~~)/.test(line)) inFence = !inFence;
    if (!inFence) {
      openDetails += (line.match(/<details[\s>]/g) || []).length;
      openDetails -= (line.match(/<\/details>/g) || []).length;
      if (openDetails < 0) openDetails = 0;
    }
  }
  if (inFence) kept.push('```');
  for (; openDetails > 0; openDetails -= 1) kept.push('</details>');
  return { text: kept.join('\n'), trimmed: true };
}

/** The whole comment: marker, the plan (cut if needed), a footer with links. */
function buildBody({ key, markdown, bytes = null, maxLength = DEFAULT_MAX_LENGTH, artifactUrl, runUrl, sha }) {
  const head = `${marker(key)}\n`;
  const links = [];
  if (sha) links.push(`commit ${sha.slice(0, 12)}`);
  if (runUrl) links.push(`[workflow run](${runUrl})`);
  if (artifactUrl) links.push(`[full plan (artifact)](${artifactUrl})`);
  const footer = `\n\n---\n<sub>ecr-reconcile plan \`${safeKey(key)}\`${
    links.length ? `: ${links.join(' · ')}` : ''
  }</sub>\n`;
  const plan = markdown.replace(/\s+$/, '');
  const budget = Math.min(maxLength, GITHUB_COMMENT_LIMIT) - head.length - footer.length;
  // The note about the cut takes at most this much of the budget.
  const noteReserve = 600;
  // A plan read in part (`bytes`: the file's size) is cut whatever its first part.
  const { text, trimmed } =
    plan.length <= budget && bytes === null
      ? { text: plan, trimmed: false }
      : { ...trimMarkdown(plan, budget - noteReserve), trimmed: true };
  let note = '';
  if (trimmed) {
    const where = artifactUrl
      ? `the full plan is in the [plan artifact](${artifactUrl})`
      : runUrl
        ? `the full plan is in the [workflow run](${runUrl}) (step summary and artifacts)`
        : 'the full plan is in the workflow run';
    note =
      `\n\n> [!WARNING]\n> This plan is ${
        bytes === null
          ? `${plan.length.toLocaleString('en-US')} characters`
          : `${bytes.toLocaleString('en-US')} bytes`
      }, over what a ` +
      `comment can hold: it is cut after ${text.length.toLocaleString('en-US')}; ${where}.`;
  }
  return { body: head + text + note + footer, trimmed };
}

/** A small REST client over fetch: JSON in and out, retries on 429/5xx, errors with status. */
function client({ apiUrl, token, fetchImpl = fetch, retries = 2, retryDelayMs = 1000 }) {
  const base = apiUrl.replace(/\/+$/, '');
  async function request(method, pathOrUrl, body) {
    const url = /^https?:/.test(pathOrUrl) ? pathOrUrl : `${base}${pathOrUrl}`;
    for (let attempt = 0; ; attempt += 1) {
      const response = await fetchImpl(url, {
        method,
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${token}`,
          'user-agent': 'ecr-reconcile-action',
          'x-github-api-version': '2022-11-28',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
      if ((response.status === 429 || response.status >= 500) && attempt < retries) {
        await response.text();
        const after = Number(response.headers.get('retry-after'));
        await new Promise((r) => setTimeout(r, after > 0 ? after * 1000 : retryDelayMs * 2 ** attempt));
        continue;
      }
      const text = await response.text();
      if (!response.ok) {
        let message = text;
        try {
          message = JSON.parse(text).message || text;
        } catch {
          // not JSON: keep the text
        }
        const error = new Error(`${method} ${url}: HTTP ${response.status}: ${message}`);
        error.status = response.status;
        throw error;
      }
      return { data: text ? JSON.parse(text) : null, link: response.headers.get('link') };
    }
  }
  return { request };
}

/** The URL of the rel="next" page in a Link header, if any. */
function nextLink(link) {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = part.match(/<([^>]+)>\s*;\s*rel="?next"?/);
    if (m) return m[1];
  }
  return null;
}

/** Who writes the comment when the token cannot say: the workflow's GITHUB_TOKEN. */
const DEFAULT_AUTHOR = 'github-actions[bot]';

/**
 * The login the comments are written as: `configured` when given; else the token's
 * user (GET /user, for a personal access token); else, when the token may not read
 * /user (the workflow's GITHUB_TOKEN, an app's installation token), github-actions[bot].
 */
async function commentAuthor(api, configured) {
  if (configured && configured.trim()) return configured.trim();
  try {
    const { data } = await api.request('GET', '/user');
    if (data && typeof data.login === 'string' && data.login) return data.login;
  } catch (error) {
    if (error.status !== 403 && error.status !== 404) throw error;
  }
  return DEFAULT_AUTHOR;
}

/**
 * The first comment of the issue whose body starts with the marker and whose author
 * is `author` (when given), over every page.
 */
async function findComment(api, repository, issue, mark, author) {
  const same = (login) => String(login || '').toLowerCase() === String(author).toLowerCase();
  let url = `/repos/${repository}/issues/${issue}/comments?per_page=100`;
  while (url) {
    const { data, link } = await api.request('GET', url);
    for (const comment of data) {
      if (typeof comment.body !== 'string' || !comment.body.trimStart().startsWith(mark)) continue;
      if (author && !same(comment.user && comment.user.login)) continue;
      return comment;
    }
    url = nextLink(link);
  }
  return null;
}

/**
 * Creates, updates or leaves the plan comment. Returns {action, comment}: action is
 * `created`, `updated`, or `none` (nothing to say and no earlier comment).
 */
async function upsertComment({
  api,
  repository,
  issue,
  key,
  markdown,
  bytes = null,
  hasChanges,
  whenUnchanged = 'update',
  maxLength,
  artifactUrl,
  runUrl,
  sha,
  author,
}) {
  if (!['update', 'always'].includes(whenUnchanged)) {
    throw new Error(`comment-when-unchanged must be update or always, not ${JSON.stringify(whenUnchanged)}`);
  }
  const mark = marker(key);
  const login = await commentAuthor(api, author);
  const existing = await findComment(api, repository, issue, mark, login);
  if (!hasChanges && !existing && whenUnchanged !== 'always') return { action: 'none', comment: null, trimmed: false };
  const { body, trimmed } = buildBody({ key, markdown, bytes, maxLength, artifactUrl, runUrl, sha });
  if (existing) {
    const { data } = await api.request('PATCH', `/repos/${repository}/issues/comments/${existing.id}`, { body });
      return { action: 'updated', comment: data, trimmed, author: login };
  }
  const { data } = await api.request('POST', `/repos/${repository}/issues/${issue}/comments`, { body });
  return { action: 'created', comment: data, trimmed, author: login };
}

/** Appends name=value lines to the GITHUB_OUTPUT file, when there is one. */
function setOutputs(env, outputs) {
  if (!env.GITHUB_OUTPUT) return;
  const lines = Object.entries(outputs).map(([k, v]) => `${k}=${String(v ?? '').replace(/[\r\n]+/g, ' ')}\n`);
  fs.appendFileSync(env.GITHUB_OUTPUT, lines.join(''));
}

/** The pull request number: the input, or the event's pull request. */
function pullRequestNumber(env) {
  if (env.PR_NUMBER) return Number(env.PR_NUMBER);
  if (!env.GITHUB_EVENT_PATH || !fs.existsSync(env.GITHUB_EVENT_PATH)) return null;
  const event = JSON.parse(fs.readFileSync(env.GITHUB_EVENT_PATH, 'utf8'));
  return event.pull_request?.number ?? (event.issue?.pull_request ? event.issue.number : null);
}

/**
 * Entry point: reads its inputs from the environment (set by action.yml), returns
 * the outcome, writes the outputs, and logs one line. Throws on API errors other
 * than a token that may not write (a pull request from a fork), which only warns.
 */
async function run(env = process.env, { fetchImpl = fetch, log = console.log, retryDelayMs } = {}) {
  const required = (name) => {
    const value = env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  const issue = pullRequestNumber(env);
  if (!issue) {
    log('ecr-reconcile: not a pull request (no pull_request in the event and no pr-number input): no comment');
    setOutputs(env, { 'comment-action': 'none', 'comment-id': '', 'comment-url': '' });
    return { action: 'none', comment: null };
  }
  const { markdown, bytes } = readMarkdown(required('PLAN_MARKDOWN_FILE'));
  const runUrl =
    env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
      ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
      : undefined;
  const api = client({
    apiUrl: env.GITHUB_API_URL || 'https://api.github.com',
    token: required('GITHUB_TOKEN'),
    fetchImpl,
    ...(retryDelayMs === undefined ? {} : { retryDelayMs }),
  });
  let result;
  try {
    result = await upsertComment({
      api,
      repository: required('GITHUB_REPOSITORY'),
      issue,
      key: env.COMMENT_KEY,
      markdown,
      bytes,
      hasChanges: env.HAS_CHANGES === 'true',
      whenUnchanged: env.COMMENT_WHEN_UNCHANGED || 'update',
      maxLength: env.COMMENT_MAX_LENGTH ? Number(env.COMMENT_MAX_LENGTH) : undefined,
      artifactUrl: env.ARTIFACT_URL || undefined,
      runUrl,
      sha: env.HEAD_SHA || undefined,
      author: env.COMMENT_AUTHOR || undefined,
    });
  } catch (error) {
    if (error.status === 403) {
      log(
        `::warning title=ecr-reconcile::the token may not write pull request comments (${error.message}); ` +
          'a pull request from a fork gets a read-only token. The plan is in the step summary and the artifact.',
      );
      setOutputs(env, { 'comment-action': 'none', 'comment-id': '', 'comment-url': '' });
      return { action: 'none', comment: null, error };
    }
    throw error;
  }
  const { action, comment } = result;
  log(
    action === 'none'
      ? `ecr-reconcile: no changes and no earlier plan comment (${marker(env.COMMENT_KEY)}): nothing posted`
      : `ecr-reconcile: ${action} plan comment ${comment.html_url || comment.id}${result.trimmed ? ' (cut to fit)' : ''}`,
  );
  setOutputs(env, {
    'comment-action': action,
    'comment-id': comment ? comment.id : '',
    'comment-url': comment ? comment.html_url || '' : '',
  });
  return result;
}

module.exports = { GITHUB_COMMENT_LIMIT, READ_LIMIT, DEFAULT_AUTHOR, readMarkdown, safeKey, marker, trimMarkdown, buildBody, client, nextLink, commentAuthor, findComment, upsertComment, run };

if (require.main === module) {
  run().catch((error) => {
    console.log(`::error title=ecr-reconcile::plan comment failed: ${error.message}`);
    process.exitCode = 1;
  });
}
