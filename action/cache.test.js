// Tests of the manifest cache: cache.sh's folder and actions/cache key (per runner
// OS, account and region, a new key every run, the prefix to restore from), when
// there is none, that action.yml restores it with actions/cache pinned by commit
// and hands the folder to run.sh, and that run.sh gives it to the binary as
// --cache-dir. Run: node --test action/
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { scratch } = require('./testdata/scratch.js');

const ROOT = path.join(__dirname, '..');
const ACTION = fs.readFileSync(path.join(ROOT, 'action.yml'), 'utf8');

/** Runs an action script with `env` (and nothing of this process's AWS_* variables). */
function script(name, env, cwd) {
  const dir = scratch('cache-');
  const output = path.join(dir, 'output');
  fs.writeFileSync(output, '');
  const result = spawnSync('bash', [path.join(__dirname, name)], {
    cwd: cwd || dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME, RUNNER_TEMP: dir, GITHUB_OUTPUT: output, ...env },
  });
  const outputs = Object.fromEntries(
    fs.readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return { ...result, dir, outputs };
}

const RUN = { RUNNER_OS: 'Linux', GITHUB_RUN_ID: '1234', GITHUB_RUN_ATTEMPT: '2' };

test('cache.sh: a key per OS, account and region, new every run, restored by its prefix', () => {
  const r = script('cache.sh', { ...RUN, ENABLED: 'true', ACCOUNT: '123456789012', REGION: 'eu-west-1' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.equal(r.outputs.dir, path.join(r.dir, 'ecr-reconcile-manifests'));
  assert.ok(fs.statSync(r.outputs.dir).isDirectory());
  assert.equal(r.outputs['restore-key'], 'ecr-reconcile-manifests-v1-Linux-123456789012-eu-west-1-');
  assert.equal(r.outputs.key, 'ecr-reconcile-manifests-v1-Linux-123456789012-eu-west-1-1234-2');
  assert.ok(r.outputs.key.startsWith(r.outputs['restore-key']));
});

test('cache.sh: the account and region default to the environment, else any', () => {
  const fromEnv = script('cache.sh', { ...RUN, AWS_ACCOUNT_ID: '210987654321', AWS_DEFAULT_REGION: 'us-east-2' });
  assert.equal(fromEnv.outputs['restore-key'], 'ecr-reconcile-manifests-v1-Linux-210987654321-us-east-2-');
  const region = script('cache.sh', { ...RUN, AWS_REGION: 'ap-south-1', AWS_DEFAULT_REGION: 'us-east-2' });
  assert.equal(region.outputs['restore-key'], 'ecr-reconcile-manifests-v1-Linux-any-ap-south-1-');
  const unknown = script('cache.sh', { ...RUN });
  assert.equal(unknown.outputs['restore-key'], 'ecr-reconcile-manifests-v1-Linux-any-any-');
  // Nothing but safe characters reaches the key.
  const odd = script('cache.sh', { ...RUN, ACCOUNT: 'a b/c*', REGION: '--' });
  assert.equal(odd.outputs['restore-key'], 'ecr-reconcile-manifests-v1-Linux-a_b_c-any-');
});

test('cache.sh: no cache when turned off, for show (no registry read) or when args choose their own', () => {
  for (const env of [{ ENABLED: 'false' }, { COMMAND: 'show' }, { ARGS: '--region eu-west-1 --no-cache' }, { ARGS: '--cache-dir=/srv/m' }, { ARGS: '--cache-dir\n/srv/m' }]) {
    const r = script('cache.sh', { ...RUN, ...env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.outputs, { dir: '', key: '', 'restore-key': '' }, JSON.stringify(env));
    assert.match(r.stdout, /no manifest cache between runs/);
  }
});

test('action.yml: actions/cache pinned by commit restores the folder before the run, which gets it', () => {
  const steps = ACTION.slice(ACTION.indexOf('\n  steps:\n'));
  const keyStep = steps.indexOf('id: cache-key');
  const cacheStep = steps.indexOf('id: manifest-cache');
  const runStep = steps.indexOf('id: run\n');
  assert.ok(keyStep > 0 && keyStep < cacheStep && cacheStep < runStep, 'key, then cache, then run');
  const cache = steps.slice(cacheStep, runStep);
  assert.match(cache, /if: steps\.cache-key\.outputs\.dir != ''/);
  assert.match(cache, /uses: actions\/cache@[0-9a-f]{40} # v\d+\.\d+\.\d+\n/);
  assert.match(cache, /path: \$\{\{ steps\.cache-key\.outputs\.dir \}\}/);
  assert.match(cache, /key: \$\{\{ steps\.cache-key\.outputs\.key \}\}/);
  assert.match(cache, /restore-keys: \$\{\{ steps\.cache-key\.outputs\.restore-key \}\}/);
  assert.match(steps.slice(keyStep, cacheStep), /ENABLED: \$\{\{ inputs\.manifest-cache \}\}/);
  assert.match(steps.slice(runStep), /CACHE_DIR: \$\{\{ steps\.cache-key\.outputs\.dir \}\}/);
  assert.match(ACTION, /\n  manifest-cache:\n(?:    .*\n)*?    default: "true"\n/, 'on by default');
});

test('action.yml: every action it uses is pinned by commit, with its version in a comment', () => {
  const uses = [...ACTION.matchAll(/^\s*uses: (\S+)(.*)$/gm)];
  assert.ok(uses.length >= 3);
  for (const [line, ref, rest] of uses) {
    assert.match(ref, /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/, line);
    assert.match(rest, /^ # v\d+\.\d+\.\d+$/, line);
  }
});

/** A stand-in binary that records its arguments and plans nothing. */
function fakeBinary(dir) {
  const bin = path.join(dir, 'fake-ecr-reconcile');
  fs.writeFileSync(bin, `#!/usr/bin/env bash\necho "$*" >>"${dir}/calls"\n[[ "$1" == plan ]] && echo '**No changes.**'\nexit 0\n`);
  fs.chmodSync(bin, 0o755);
  return bin;
}

test('run.sh: the binary gets the cache folder as --cache-dir, unless args choose', () => {
  const dir = scratch('cache-run-');
  const bin = fakeBinary(dir);
  const calls = () => fs.readFileSync(path.join(dir, 'calls'), 'utf8').trim().split('\n');
  const base = { ECR_RECONCILE: bin, PATHS: 'desired', CACHE_DIR: '/runner/manifests' };
  const plan = script('run.sh', { ...base, COMMAND: 'plan' }, dir);
  assert.equal(plan.outputs['exit-code'], '0', plan.stdout + plan.stderr);
  assert.match(calls()[0], /^plan desired --cache-dir \/runner\/manifests --format markdown /);
  fs.rmSync(path.join(dir, 'calls'));
  script('run.sh', { ...base, COMMAND: 'apply' }, dir);
  assert.match(calls()[0], /^apply desired --auto-approve --cache-dir \/runner\/manifests --journal \S+$/);
  for (const args of ['--no-cache', '--cache-dir mine']) {
    fs.rmSync(path.join(dir, 'calls'));
    script('run.sh', { ...base, COMMAND: 'plan', ARGS: args }, dir);
    assert.equal(calls()[0].split('--cache-dir').length - 1, args === '--no-cache' ? 0 : 1, calls()[0]);
  }
  fs.rmSync(path.join(dir, 'calls'));
  script('run.sh', { ECR_RECONCILE: bin, PATHS: 'desired', COMMAND: 'plan' }, dir);
  assert.doesNotMatch(calls()[0], /--cache-dir/, 'no folder, no flag');
});
