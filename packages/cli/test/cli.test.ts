import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseServeArgs } from '../src/serve.js';
import { parseDuration, parseSize } from '../src/units.js';

const BIN = fileURLToPath(new URL('../../../../bin/blkkin.js', import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

test('every subcommand has --help', () => {
  for (const args of [['--help'], ['serve', '--help'], ['bench', '--help'], ['help', 'serve']]) {
    const r = run(...args);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^Usage: blkkin/);
  }
});

test('unknown commands and options fail with a message', () => {
  const unknown = run('frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badOption = run('serve', '--colour');
  assert.equal(badOption.status, 1);
  assert.match(badOption.stderr, /--colour/);
  const badPort = run('serve', '--port', '70000');
  assert.match(badPort.stderr, /--port must be 0–65535/);
});

test('serve options', () => {
  const options = parseServeArgs([
    '--storage',
    'memory',
    '--retention',
    '48h',
    '--max-body',
    '1MiB',
  ]);
  assert.notEqual(options, 'help');
  if (options === 'help') return;
  assert.deepEqual(options.storage, { kind: 'memory' });
  assert.equal(options.retentionDays, 2);
  assert.equal(options.maxBodyBytes, 1024 * 1024);
  assert.throws(() => parseServeArgs(['--storage', 'memory', '--data', 'x']), /exclude each other/);
  const defaults = parseServeArgs([]);
  assert.ok(defaults !== 'help' && defaults.storage?.kind === 'duckdb');
});

test('units', () => {
  assert.equal(parseDuration('7d'), 7 * 86_400_000);
  assert.equal(parseDuration('7', 'd'), 7 * 86_400_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.throws(() => parseDuration('soon'), /not a duration/);
  assert.equal(parseSize('16MiB'), 16 * 1024 * 1024);
  assert.equal(parseSize('512k'), 512 * 1024);
  assert.equal(parseSize('100'), 100);
  assert.throws(() => parseSize('lots'), /not a size/);
});
