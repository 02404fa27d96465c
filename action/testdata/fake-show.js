#!/usr/bin/env node
// A stand-in for `ecr-reconcile show` over the plans of shards, for the tests of the
// action's show command (show.test.js): it checks the plans as the tool does (each
// a shard, of one plan, each once, none missing), refusing with the tool's one-line
// messages and exit 1, and puts them together: repositories at their positions,
// summaries summed. --format json writes the plan indented by two spaces, as the
// tool does; markdown a summary line in bold and a line per repository. Each call's
// arguments are appended to $FAKE_CALLS, when set.
'use strict';

const fs = require('node:fs');

const argv = process.argv.slice(2);
if (process.env.FAKE_CALLS) fs.appendFileSync(process.env.FAKE_CALLS, `${argv.join(' ')}\n`);
const fail = (message) => {
  process.stderr.write(`\x1b[31;1merror\x1b[0m: ${message}\n`);
  process.exit(1);
};
if (argv[0] !== 'show') fail(`the stand-in only shows, not ${argv[0]}`);
let format = 'human';
const files = [];
for (let i = 1; i < argv.length; i += 1) {
  if (argv[i] === '--format') format = argv[++i];
  else if (argv[i] === '--color') i += 1;
  else files.push(argv[i]);
}

const plans = files.map((file) => {
  try {
    return { file, plan: JSON.parse(fs.readFileSync(file, 'utf8')) };
  } catch (error) {
    return fail(`cannot read the saved plan ${file}: ${error.message}`);
  }
});

function merge() {
  if (plans.length === 1) return plans[0].plan;
  for (const { file, plan } of plans) if (!plan.shard) fail(`${file} is not a shard's plan (made without --shard); show it alone`);
  const shards = [...plans].sort((a, b) => a.plan.shard.index - b.plan.shard.index);
  const [first] = shards;
  const { count } = first.plan.shard;
  for (const { file, plan } of shards.slice(1)) {
    if (plan.desired_state_digest !== first.plan.desired_state_digest) {
      fail(`${file} is a plan of other desired-state files than ${first.file}; put together only the shards of one plan`);
    }
    if (plan.shard.count !== count) {
      fail(`${file} is a plan of ${plan.shard.count} shards by account, not ${count} by account than ${first.file}; put together only the shards of one plan`);
    }
  }
  for (let i = 1; i < shards.length; i += 1) {
    if (shards[i].plan.shard.index === shards[i - 1].plan.shard.index) {
      fail(`shard ${shards[i].plan.shard.index}/${count} is given twice (${shards[i - 1].file} and ${shards[i].file})`);
    }
  }
  const given = new Set(shards.map((s) => s.plan.shard.index));
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((k) => !given.has(k));
  if (missing.length) {
    fail(`the plans of shard${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${count} are missing; give every shard's plan`);
  }
  const repositories = new Array(first.plan.shard.repositories_total);
  const summary = {};
  for (const { plan } of shards) {
    plan.shard.positions.forEach((at, i) => (repositories[at] = plan.repositories[i]));
    for (const [k, v] of Object.entries(plan.summary)) summary[k] = (summary[k] || 0) + v;
  }
  const whole = { ...first.plan, repositories, summary };
  delete whole.shard;
  return whole;
}

const plan = merge();
const line = (s) =>
  s.tags_to_remove + s.repositories_refused + s.repositories_missing === 0
    ? 'No changes.'
    : `Plan: remove ${s.tags_to_remove} tags in ${s.repositories_changed} repositories.`;
if (format === 'json') {
  process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
} else if (format === 'markdown') {
  process.stdout.write(`### ecr-reconcile plan\n\n**${line(plan.summary)}**\n\n`);
  for (const r of plan.repositories) process.stdout.write(`- \`${r.repository}\`: ${r.status}, ${r.tags_to_remove} tags to remove\n`);
} else {
  process.stdout.write(`${line(plan.summary)}\n`);
  for (const r of plan.repositories) process.stdout.write(`# ${r.repository}\n`);
}
