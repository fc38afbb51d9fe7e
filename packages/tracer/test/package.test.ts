import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// packages/tracer/dist/test -> packages/tracer
const pkgDir = fileURLToPath(new URL('../../', import.meta.url));

function cjsBuilt(): void {
  if (!existsSync(`${pkgDir}dist/cjs/index.js`))
    execFileSync(process.execPath, [`${pkgDir}scripts/build-cjs.js`], { stdio: 'inherit' });
}

test('the package imports from ESM and requires from CommonJS, with the same API', async () => {
  cjsBuilt();
  const esm = (await import('@blkkin/tracer')) as Record<string, unknown>;
  const require = createRequire(import.meta.url);
  const cjs = require('@blkkin/tracer') as Record<string, unknown>;
  assert.equal(require.resolve('@blkkin/tracer'), `${pkgDir}dist/cjs/index.js`);
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  for (const name of ['createTracer', 'Tracer', 'Span', 'NOOP_SPAN', 'Levels', 'TraceFlags'])
    assert.ok(name in cjs, name);
  assert.notEqual(cjs.createTracer, esm.createTracer, 'two builds');
  assert.ok(existsSync(`${pkgDir}dist/cjs/index.d.ts`), 'typed for require');
  assert.equal(JSON.parse(readFileSync(`${pkgDir}dist/cjs/package.json`, 'utf8')).type, 'commonjs');
});

test('a CommonJS program records, exports, and runs the worker pipeline', () => {
  cjsBuilt();
  const program = `
    const { createTracer } = require('@blkkin/tracer');
    (async () => {
      const got = [];
      const t = createTracer({ service: 'cjs', exporter: { type: 'custom', export: (s) => { got.push(...s); } } });
      const s = t.startSpan('from-cjs'); s.tag('k', 'v'); s.end();
      await t.flush();
      const w = createTracer({ service: 'cjs', thread: 'worker', exporter: { type: 'none' } });
      for (let i = 0; i < 10; i++) w.startSpan('w').end();
      await w.flush();
      console.log(JSON.stringify({ name: got[0].name, tags: got[0].tags, worker: w.stats().exported }));
      await t.close(); await w.close();
    })();`;
  const out = execFileSync(process.execPath, ['-e', program], { cwd: pkgDir, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { name: 'from-cjs', tags: { k: 'v' }, worker: 10 });
});

test('the process exits by itself with live tracers, timers and a worker (nothing keeps it alive)', () => {
  const program = `
    import { createTracer } from '@blkkin/tracer';
    const a = createTracer({ service: 'x', sampler: { perSecond: 5 } });
    const b = createTracer({ service: 'y', thread: 'worker', exporter: { type: 'zipkin', url: 'http://127.0.0.1:9' } });
    a.startSpan('open-forever');
    b.startSpan('ended').end();
    a.withSpan(a.startSpan('als'), () => setTimeout(() => {}, 10));
  `;
  const started = Date.now();
  execFileSync(process.execPath, ['--input-type=module', '-e', program], {
    cwd: pkgDir,
    timeout: 8000,
  });
  assert.ok(Date.now() - started < 7000);
});
