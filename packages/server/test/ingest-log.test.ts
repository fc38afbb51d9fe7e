import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { IngestLog } from '../src/ingest/log.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-log-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const payload = (i: number) => Buffer.from(`batch-${i}-${'x'.repeat(i * 10)}`);

test('concurrent appends share fsyncs, complete in order, and replay after the mark', () =>
  withDir(async (dir) => {
    const { log } = await IngestLog.open(dir, 0);
    const durable: number[] = [];
    const seqs = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        log.append(1 + (i % 4), payload(i), (seq) => durable.push(seq)),
      ),
    );
    assert.deepEqual(
      seqs,
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(durable, seqs, 'onDurable runs in sequence order');
    await log.close();

    const reopened = await IngestLog.open(dir, 20);
    assert.deepEqual(
      reopened.pending.map((r) => r.seq),
      Array.from({ length: 30 }, (_, i) => i + 21),
    );
    assert.equal(reopened.pending[0]!.format, 1 + (20 % 4));
    assert.deepEqual(reopened.pending[0]!.payload, payload(20));
    assert.equal(reopened.log.next, 51, 'sequence numbers go on after the last record');
    await reopened.log.close();
  }));

test('a torn record at the end (a crash mid-write) is cut off, and appends follow whole records', () =>
  withDir(async (dir) => {
    const { log } = await IngestLog.open(dir, 0);
    await log.append(1, payload(1));
    await log.append(1, payload(2));
    await log.close();
    const [segment] = await readdir(dir);
    const path = join(dir, segment!);
    const size = (await stat(path)).size;
    await appendFile(path, Buffer.from([0, 0, 0, 99, 1, 2, 3])); // a header cut short
    const { log: again, pending } = await IngestLog.open(dir, 0);
    assert.equal(pending.length, 2);
    assert.equal(again.discardedBytes, 7);
    assert.equal((await stat(path)).size, size);
    await again.append(2, payload(3));
    await again.close();
    const { pending: all, log: third } = await IngestLog.open(dir, 0);
    assert.deepEqual(
      all.map((r) => r.seq),
      [1, 2, 3],
    );
    await third.close();
  }));

test('a corrupted record (bad checksum) ends the replay of its segment', () =>
  withDir(async (dir) => {
    const { log } = await IngestLog.open(dir, 0);
    await log.append(1, payload(1));
    await log.close();
    const [segment] = await readdir(dir);
    const { readFile, writeFile } = await import('node:fs/promises');
    const data = await readFile(join(dir, segment!));
    data[data.length - 1] = data[data.length - 1]! ^ 0xff;
    await writeFile(join(dir, segment!), data);
    const { pending, log: again } = await IngestLog.open(dir, 0);
    assert.equal(pending.length, 0);
    assert.ok(again.discardedBytes > 0);
    await again.close();
  }));

test('segments roll over and are deleted once the store has them', () =>
  withDir(async (dir) => {
    const { log } = await IngestLog.open(dir, 0, { segmentBytes: 200 });
    for (let i = 0; i < 10; i++) await log.append(1, payload(5));
    assert.ok((await readdir(dir)).length > 1);
    await log.release(10);
    assert.equal((await readdir(dir)).length, 1, 'the open segment stays while appends go on');
    await log.close();
    assert.deepEqual(await readdir(dir), [], 'closed with everything stored: nothing left');
    const { log: again } = await IngestLog.open(dir, 0, { minSeq: 10 });
    assert.equal(again.next, 11, "never reuses a sequence number at or below the store's mark");
    await again.close();
  }));
