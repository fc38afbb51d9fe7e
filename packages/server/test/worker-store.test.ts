import { DEFAULT_LIMITS, encodeZipkinProto3, type Span } from '@blkkin/model';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { Format } from '../src/ingest/formats.js';
import { WorkerStore } from '../src/store/worker-store.js';

const span = (id: string): Span => ({
  traceId: '00000000000000aa',
  id,
  name: 'write',
  timestamp: Date.now() * 1000,
  duration: 10,
  localEndpoint: { serviceName: 'osd.1' },
});

test('the worker decodes payloads and stores them; a dead worker is replaced on the next call', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-worker-store-'));
  const store = await WorkerStore.open({ dir, limits: DEFAULT_LIMITS });
  try {
    assert.match(store.location, /blkkin\.duckdb$/);
    const payload = Buffer.from(
      encodeZipkinProto3([span('0000000000000001'), span('0000000000000002')]),
    );
    await store.writePayloads([{ format: Format.ZipkinProto3, payload }], { logSeq: 7 });
    assert.equal((await store.getTrace('00000000000000aa')).length, 2);
    assert.deepEqual(await store.lastMark(), { logSeq: 7 });

    const worker = (store as unknown as { worker: Worker }).worker;
    await worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    const again = await store.getTrace('00000000000000aa');
    assert.deepEqual(
      again.map((s) => s.id),
      ['0000000000000001', '0000000000000002'],
    );
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('payloads handed over before the worker died are stored by its successor', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-worker-store-'));
  const store = await WorkerStore.open({ dir, limits: DEFAULT_LIMITS });
  try {
    const payload = Buffer.from(encodeZipkinProto3([span('0000000000000003')]));
    const token = store.prepare({ format: Format.ZipkinProto3, payload });
    await new Promise((r) => setTimeout(r, 50));
    await (store as unknown as { worker: Worker }).worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    await store.writePrepared([token], { logSeq: 9 });
    assert.deepEqual(
      (await store.getTrace('00000000000000aa')).map((s) => s.id),
      ['0000000000000003'],
    );
    assert.deepEqual(await store.lastMark(), { logSeq: 9 });
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a store that cannot open rejects open() with its own message', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-worker-store-'));
  try {
    await writeFile(join(dir, 'blkkin.duckdb'), 'this is not a database');
    await assert.rejects(
      WorkerStore.open({ dir, limits: DEFAULT_LIMITS }),
      /not a valid DuckDB database file/,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
