import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DuckDbStore } from '../src/store/duckdb.js';
import { at, mkSpan, randomTraces, storeConformance } from './store-conformance.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-duckdb-'));
  dirs.push(dir);
  return dir;
}

storeConformance('duckdb', async () => DuckDbStore.open(await tempDir()));

test('duckdb: what was written survives a close and a reopen, lastMark too', async () => {
  const dir = await tempDir();
  const traces = randomTraces(11, 40, at(0));
  const first = await DuckDbStore.open(dir);
  await first.write(traces.slice(0, 20).flat(), { logSeq: 5 });
  await first.write(traces.slice(20).flat(), { logSeq: 9 });
  const before = await first.getTraces(traces.map((t) => t[0]!.traceId));
  const names = await first.getServiceNames();
  await first.close();

  const second = await DuckDbStore.open(dir);
  try {
    assert.equal(second.location, join(dir, 'blkkin.duckdb'));
    assert.deepEqual(await second.lastMark(), { logSeq: 9 });
    assert.equal(await second.countSpans(), traces.flat().length);
    assert.deepEqual(await second.getTraces(traces.map((t) => t[0]!.traceId)), before);
    assert.deepEqual(await second.getServiceNames(), names);
    // New strings and writes after a reopen get codes and seqs of their own.
    const span = mkSpan({
      trace: 'f'.repeat(32),
      id: 1,
      service: 'brand-new',
      name: 'n',
      ts: at(5),
    });
    await second.write([span], { logSeq: 10 });
    assert.deepEqual(await second.getTrace(span.traceId), [span]);
    assert.deepEqual((await second.getTrace(traces[0]![0]!.traceId)).length, before[0]!.length);
  } finally {
    await second.close();
  }
  const third = await DuckDbStore.open(dir);
  try {
    assert.deepEqual(await third.lastMark(), { logSeq: 10 });
    assert.deepEqual((await third.getTrace('f'.repeat(32)))[0]?.localEndpoint, {
      serviceName: 'brand-new',
    });
  } finally {
    await third.close();
  }
});

test('duckdb: writes after close are refused', async () => {
  const store = await DuckDbStore.open(await tempDir());
  await store.close();
  await assert.rejects(store.write([mkSpan({ trace: 'a'.repeat(16), id: 1 })]));
  await store.close();
});

test('duckdb: killed mid-stream, it reopens with each write whole: spans and mark together', async () => {
  const dir = await tempDir();
  const store = fileURLToPath(new URL('../src/store/duckdb.js', import.meta.url));
  // A child writes batches of 200 spans, batch i with mark i, and says so after each; it is
  // killed (SIGKILL: no close, no checkpoint) once three writes are acknowledged.
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `
      const { DuckDbStore } = await import(${JSON.stringify(store)});
      const s = await DuckDbStore.open(${JSON.stringify(dir)});
      for (let i = 1; ; i++) {
        const spans = [];
        for (let j = 0; j < 200; j++) {
          spans.push({ traceId: (i * 1000 + j + 1).toString(16).padStart(16, '0'), id: '0000000000000001',
            timestamp: ${at(0)} + j, localEndpoint: { serviceName: 'svc' }, tags: { i: String(i) } });
        }
        await s.write(spans, { logSeq: i });
        process.stdout.write('ok ' + i + '\\n');
      }`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let acked = 0;
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', () => resolve());
    child.stdout.on('data', (data: Buffer) => {
      acked = Math.max(
        acked,
        ...[...data.toString().matchAll(/ok (\d+)/g)].map((m) => Number(m[1])),
      );
      if (acked >= 3) child.kill('SIGKILL');
    });
  });
  const reopened = await DuckDbStore.open(dir);
  try {
    const { logSeq } = await reopened.lastMark();
    assert.ok(logSeq >= acked && acked >= 3, `mark ${logSeq} after ${acked} acknowledged writes`);
    assert.equal(await reopened.countSpans(), logSeq * 200);
    assert.deepEqual(
      await reopened.getTagValues('i'),
      Array.from({ length: logSeq }, (_, i) => String(i + 1)).sort(),
    );
  } finally {
    await reopened.close();
  }
});

test('duckdb: a write failing inside its transaction leaves nothing behind, new names included', async () => {
  const store = await DuckDbStore.open(await tempDir());
  try {
    const first = mkSpan({ trace: 'a'.repeat(16), id: 1, service: 'old', ts: at(0) });
    await store.write([first], { logSeq: 1 });
    // Fail the last statement before COMMIT, once: the spans are appended by then.
    const writer = (store as unknown as { writer: { run: (sql: string) => Promise<unknown> } })
      .writer;
    const run = writer.run.bind(writer);
    let failed = false;
    writer.run = (sql: string, ...rest: unknown[]) => {
      if (!failed && sql.startsWith('UPDATE meta')) {
        failed = true;
        return Promise.reject(new Error('injected failure'));
      }
      return (run as (...args: unknown[]) => Promise<unknown>)(sql, ...rest);
    };
    const doomed = mkSpan({
      trace: 'b'.repeat(16),
      id: 2,
      service: 'new',
      name: 'fresh',
      ts: at(1),
      tags: { k: 'v' },
    });
    await assert.rejects(store.write([doomed], { logSeq: 2 }), /injected failure/);
    assert.deepEqual(await store.getTrace(doomed.traceId), []);
    assert.deepEqual(await store.getServiceNames(), ['old']);
    assert.deepEqual(await store.lastMark(), { logSeq: 1 });
    assert.equal(await store.countSpans(), 1);
    // Written again, the same names get codes of their own and read back.
    const other = mkSpan({ trace: 'c'.repeat(16), id: 3, service: 'other', name: 'x', ts: at(2) });
    await store.write([other, doomed], { logSeq: 3 });
    assert.deepEqual(await store.getTrace(doomed.traceId), [doomed]);
    assert.deepEqual(await store.getServiceNames(), ['new', 'old', 'other']);
    assert.deepEqual(await store.getTagValues('k'), ['v']);
  } finally {
    await store.close();
  }
});
