import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeZipkinProto3, type Span } from '@blkkin/model';

// A server killed (SIGKILL) right after it answered 202 keeps the batch: the ingest log is replayed
// at the next start.

const BIN = fileURLToPath(new URL('../../../../bin/blkkin.js', import.meta.url));

async function startServe(dir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--data', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`blkkin serve exited with ${code}: ${out}`)));
  });
  return { child, url };
}

function batch(traces: number, spansPerTrace: number, seed: number): Span[] {
  const now = Date.now() * 1000;
  const spans: Span[] = [];
  for (let t = 0; t < traces; t++) {
    const traceId = (seed * 1_000_000 + t + 1).toString(16).padStart(32, '0');
    for (let s = 0; s < spansPerTrace; s++) {
      const span: Span = {
        traceId,
        id: (s + 1).toString(16).padStart(16, '0'),
        name: `op-${s % 5}`,
        timestamp: now - 1000 * (traces - t) + s,
        duration: 100 + s,
        localEndpoint: { serviceName: `svc-${s % 4}` },
        tags: { 'blkkin.test': String(seed) },
      };
      if (s > 0) span.parentId = '0000000000000001';
      spans.push(span);
    }
  }
  return spans;
}

test('spans answered 202 survive SIGKILL of the server', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-restart-'));
  try {
    let { child, url } = await startServe(dir);
    const spans = batch(1000, 20, 7); // 20,000 spans in one batch
    const res = await fetch(`${url}/api/v2/spans`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: encodeZipkinProto3(spans),
    });
    assert.equal(res.status, 202);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    ({ child, url } = await startServe(dir));
    try {
      const deadline = Date.now() + 20_000;
      let found: unknown[][] = [];
      while (Date.now() < deadline) {
        const r = await fetch(`${url}/api/v2/traces?limit=2000&annotationQuery=blkkin.test%3D7`);
        found = (await r.json()) as unknown[][];
        if (found.length === 1000) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(found.length, 1000);
      assert.equal(
        found.reduce((n, t) => n + t.length, 0),
        20_000,
      );
      const one = (await (
        await fetch(`${url}/api/v2/trace/${spans[0]!.traceId}`)
      ).json()) as Span[];
      assert.equal(one.length, 20);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
