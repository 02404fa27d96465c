// Tests of install.sh: a release made here (an archive holding a stand-in binary and
// its .sha256 file) served by a local HTTP server; the script must install it, and
// refuse a download whose checksum does not match, a wrong pinned sha256, a binary of
// another version, and runners there is no build for.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { scratch } = require('./testdata/scratch.js');
const crypto = require('node:crypto');
const { spawn, execFileSync } = require('node:child_process');

const SCRIPT = path.join(__dirname, 'install.sh');
const TARGET = 'x86_64-unknown-linux-musl';
const ARCHIVE = `ecr-reconcile-${TARGET}.tar.gz`;

/** A release folder: the archive (binary printing `ecr-reconcile VERSION`) and its checksum file. */
function makeRelease({ version = '0.1.0', binaryVersion = version } = {}) {
  const dir = scratch('release-');
  const stage = path.join(dir, 'stage', `ecr-reconcile-${TARGET}`);
  fs.mkdirSync(stage, { recursive: true });
  fs.writeFileSync(path.join(stage, 'ecr-reconcile'), `#!/bin/sh\necho "ecr-reconcile ${binaryVersion}"\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(stage, 'README.md'), 'readme\n');
  const files = path.join(dir, 'files');
  fs.mkdirSync(files);
  execFileSync('tar', ['-czf', path.join(files, ARCHIVE), '-C', path.join(dir, 'stage'), `ecr-reconcile-${TARGET}`]);
  const sha = crypto.createHash('sha256').update(fs.readFileSync(path.join(files, ARCHIVE))).digest('hex');
  fs.writeFileSync(path.join(files, `${ARCHIVE}.sha256`), `${sha} *${ARCHIVE}\n`);
  return { dir, files, sha };
}

/** Serves `files` under every path prefix (the last path segment names the file). */
async function serve(files) {
  const requests = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url);
    const file = path.join(files, path.basename(new URL(req.url, 'http://x').pathname));
    if (!fs.existsSync(file)) {
      res.writeHead(404);
      return res.end('not found');
    }
    res.writeHead(200);
    res.end(fs.readFileSync(file));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, requests, close: () => new Promise((r) => server.close(r)) };
}

/** Runs install.sh (asynchronously: the server answering it lives in this process). */
async function install(env) {
  const tmp = scratch('runner-');
  const outputFile = path.join(tmp, 'output');
  const pathFile = path.join(tmp, 'path');
  fs.writeFileSync(outputFile, '');
  fs.writeFileSync(pathFile, '');
  const child = spawn('bash', [SCRIPT], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      RUNNER_OS: 'Linux',
      RUNNER_ARCH: 'X64',
      RUNNER_TEMP: tmp,
      GITHUB_OUTPUT: outputFile,
      GITHUB_PATH: pathFile,
      VERSION: '0.1.0',
      ...env,
    },
  });
  const result = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (result.stdout += d));
  child.stderr.on('data', (d) => (result.stderr += d));
  result.status = await new Promise((resolve) => child.on('close', resolve));
  const outputs = Object.fromEntries(
    fs.readFileSync(outputFile, 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { ...result, outputs, pathLines: fs.readFileSync(pathFile, 'utf8').split('\n').filter(Boolean) };
}

test('installs the release for the runner and verifies its checksum', async (t) => {
  const release = makeRelease();
  const server = await serve(release.files);
  t.after(server.close);
  const r = await install({ DOWNLOAD_URL: server.url });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.outputs.version, '0.1.0');
  assert.equal(r.outputs.target, TARGET);
  assert.match(r.outputs.binary, /ecr-reconcile-0\.1\.0-x86_64-unknown-linux-musl\/ecr-reconcile-x86_64-unknown-linux-musl\/ecr-reconcile$/);
  assert.equal(execFileSync(r.outputs.binary, ['--version'], { encoding: 'utf8' }).trim(), 'ecr-reconcile 0.1.0');
  assert.deepEqual(r.pathLines, [path.dirname(r.outputs.binary)]);
  assert.match(r.stdout, new RegExp(`sha256 ${release.sha} \\(matches the release's checksum file\\)`));
  assert.deepEqual(server.requests, [`/${ARCHIVE}`, `/${ARCHIVE}.sha256`]);
});

test('a pinned sha256 input must match too', async (t) => {
  const release = makeRelease();
  const server = await serve(release.files);
  t.after(server.close);
  const ok = await install({ DOWNLOAD_URL: server.url, EXPECTED_SHA256: release.sha.toUpperCase() });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /matches the release and the sha256 input/);
  const bad = await install({ DOWNLOAD_URL: server.url, EXPECTED_SHA256: '0'.repeat(64) });
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /::error title=ecr-reconcile install::checksum mismatch for .*: the sha256 input says 0{64}, the download is [0-9a-f]{64}/);
  assert.equal(bad.outputs.binary, undefined, 'nothing installed');
});

test('an archive that does not match the release checksum is refused', async (t) => {
  const release = makeRelease();
  fs.appendFileSync(path.join(release.files, ARCHIVE), 'tampered');
  const server = await serve(release.files);
  t.after(server.close);
  const r = await install({ DOWNLOAD_URL: server.url });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /checksum mismatch for ecr-reconcile-x86_64-unknown-linux-musl\.tar\.gz: the release's .*\.sha256 says/);
  assert.equal(r.outputs.binary, undefined);
});

test('a missing checksum file or archive fails the install', async (t) => {
  const release = makeRelease();
  fs.rmSync(path.join(release.files, `${ARCHIVE}.sha256`));
  const server = await serve(release.files);
  t.after(server.close);
  const r = await install({ DOWNLOAD_URL: server.url });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /download failed: .*\.sha256/);
  const other = await install({ DOWNLOAD_URL: server.url, RUNNER_ARCH: 'ARM64' });
  assert.equal(other.status, 1);
  assert.match(other.stdout, /download failed: .*ecr-reconcile-aarch64-unknown-linux-musl\.tar\.gz/);
});

test('an archive holding another version is refused', async (t) => {
  const release = makeRelease({ binaryVersion: '0.0.9' });
  const server = await serve(release.files);
  t.after(server.close);
  const r = await install({ DOWNLOAD_URL: server.url });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /holds 'ecr-reconcile 0\.0\.9', not ecr-reconcile 0\.1\.0/);
});

test('downloads from the GitHub release of the repository the action was used from', async (t) => {
  const release = makeRelease();
  const server = await serve(release.files);
  t.after(server.close);
  const r = await install({
    GITHUB_SERVER_URL: server.url,
    GITHUB_ACTION_PATH: '/home/runner/work/_actions/acme/ecr-reconcile/v0.1.0',
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.deepEqual(server.requests, [
    `/acme/ecr-reconcile/releases/download/v0.1.0/${ARCHIVE}`,
    `/acme/ecr-reconcile/releases/download/v0.1.0/${ARCHIVE}.sha256`,
  ]);
  const named = await install({ GITHUB_SERVER_URL: server.url, RELEASE_REPOSITORY: 'other/fork', VERSION: 'v0.1.0' });
  assert.equal(named.status, 0, named.stdout + named.stderr);
  assert.equal(server.requests[2], `/other/fork/releases/download/v0.1.0/${ARCHIVE}`);
  const unknown = await install({ GITHUB_SERVER_URL: server.url, GITHUB_ACTION_PATH: '/somewhere/else' });
  assert.equal(unknown.status, 1);
  assert.match(unknown.stdout, /set the release-repository input/);
});

test('refuses runners without a build, a bad version and a plain-http mirror', async () => {
  const windows = await install({ RUNNER_OS: 'Windows', DOWNLOAD_URL: 'https://mirror.test' });
  assert.equal(windows.status, 1);
  assert.match(windows.stdout, /no ecr-reconcile release for Windows runners/);
  const arch = await install({ RUNNER_ARCH: 'ARM', DOWNLOAD_URL: 'https://mirror.test' });
  assert.equal(arch.status, 1);
  assert.match(arch.stdout, /no ecr-reconcile release for ARM on Linux/);
  const version = await install({ VERSION: 'latest', DOWNLOAD_URL: 'https://mirror.test' });
  assert.equal(version.status, 1);
  assert.match(version.stdout, /'latest' is not a release version/);
  const http = await install({ DOWNLOAD_URL: 'http://mirror.test/releases' });
  assert.equal(http.status, 1);
  assert.match(http.stdout, /download-url must be an https URL/);
});

test('binary: uses a given binary instead of downloading', async () => {
  const release = makeRelease({ binaryVersion: '9.9.9' });
  const binary = path.join(release.dir, 'stage', `ecr-reconcile-${TARGET}`, 'ecr-reconcile');
  const r = await install({ BINARY: binary, VERSION: '' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.outputs.binary, binary);
  assert.equal(r.outputs.version, '9.9.9');
  const missing = await install({ BINARY: path.join(release.dir, 'nope') });
  assert.equal(missing.status, 1);
  assert.match(missing.stdout, /is not an executable file/);
});
