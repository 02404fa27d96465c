'use strict';
// Saved plans of shards, as `plan --shard K/N --out` writes them (the fields the
// action's tests and testdata/fake-show.js read), laid out as the sharded example's
// download of their artifacts does: DIR/shards/ecr-reconcile-plan-shard-K/plan.json.

const fs = require('node:fs');
const path = require('node:path');

/**
 * Writes the plans of `count` shards of one plan into `dir`/shards/SHARD/plan.json,
 * as the sharded example's artifacts hold them: `perShard` repositories each, the
 * whole declaring them in turn (shard K holds positions K-1, K-1+count, ...), with
 * `tags(position)` tags to remove each. Returns the files.
 */
function shardPlans(dir, count, { perShard = 2, tags = (at) => at + 1, name = (at) => `team-${at}/app`, digest = 'sha256:aaa', only } = {}) {
  const total = count * perShard;
  const files = [];
  for (let k = 1; k <= count; k += 1) {
    if (only && !only.includes(k)) continue;
    const positions = Array.from({ length: perShard }, (_, i) => k - 1 + i * count);
    const repositories = positions.map((at) => ({
      repository: name(at),
      status: tags(at) > 0 ? 'changes' : 'unchanged',
      tags_to_remove: tags(at),
    }));
    const changed = repositories.filter((r) => r.tags_to_remove > 0).length;
    const plan = {
      format_version: 2,
      desired_state_digest: digest,
      repositories,
      warnings: [],
      summary: {
        tags_to_remove: repositories.reduce((n, r) => n + r.tags_to_remove, 0),
        repositories_changed: changed,
        repositories_unchanged: repositories.length - changed,
        repositories_refused: 0,
        repositories_missing: 0,
      },
      shard: { index: k, count, by: 'account', repositories_total: total, positions },
    };
    const file = path.join(dir, 'shards', `ecr-reconcile-plan-shard-${k}`, 'plan.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${JSON.stringify(plan, null, 2)}\n`);
    files.push(file);
  }
  return files;
}

module.exports = { shardPlans };
