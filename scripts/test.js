// Runs every compiled test file (packages/*/dist/test/**/*.test.js) with Node's test runner.
// Usage: node scripts/test.js [substring ...] to run only the files whose path contains one.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';

function walk(dir, out) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [];
for (const pkg of readdirSync('packages')) walk(join('packages', pkg, 'dist', 'test'), files);
walk(join('bench', 'dist', 'test'), files);
const selected = files
  .sort()
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (selected.length === 0) {
  console.error('no test files matched: run `npm run build` first');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=300000', ...selected],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
