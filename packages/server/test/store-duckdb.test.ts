import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
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
