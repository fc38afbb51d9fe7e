import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { getJson, postJson, startTestServer, zipkinSpan } from './helpers.js';

// Every bad-input path: a clear status and message, nothing of the batch stored, every refusal
// counted in /metrics.

type ServerT = Awaited<ReturnType<typeof startTestServer>>;

async function metric(base: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) && line.includes(labels))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

describe('ingest refuses bad input whole, with a message naming the problem', () => {
  let server: ServerT;
  before(async () => {
    server = await startTestServer({ maxBodyBytes: 64 * 1024 });
  });
  after(async () => server.cleanup());

  const good = (id: string) => zipkinSpan({ traceId: '00000000000000000000000000000abc', id });

  async function expectRefused(res: Response, status: number, pattern: RegExp): Promise<void> {
    const text = await res.text();
    assert.equal(res.status, status, text);
    assert.match(text, pattern);
  }

  async function assertNothingStored(): Promise<void> {
    const res = await fetch(`${server.url}/api/v2/trace/0000000000000abc`);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), '0000000000000abc not found');
  }

  test('malformed JSON', async () => {
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', '[{"traceId": '),
      400,
      /not valid JSON/,
    );
    assert.ok(
      (await metric(server.url, 'blkkin_batches_rejected_total', 'reason="malformed"')) >= 1,
    );
  });

  test('not a list', async () => {
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', { traceId: 'a' }),
      400,
      /array/,
    );
  });

  test('one invalid span rejects the whole batch, naming span and field', async () => {
    const batch = [good('0000000000000001'), good('0000000000000002'), zipkinSpan({ id: 'xyz' })];
    await expectRefused(await postJson(server.url, '/api/v2/spans', batch), 400, /spans\[2\]\.id/);
    await assertNothingStored();
  });

  test('all-zero trace id', async () => {
    const batch = [good('0000000000000001'), zipkinSpan({ traceId: '0000000000000000' })];
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', batch),
      400,
      /spans\[1\]\.traceId is all zeros/,
    );
    await assertNothingStored();
  });

  test('trace id too long, wrong types, bad endpoint', async () => {
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', [zipkinSpan({ traceId: 'a'.repeat(33) })]),
      400,
      /traceId is longer than 32/,
    );
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', [zipkinSpan({ timestamp: 'soon' })]),
      400,
      /spans\[0\]\.timestamp/,
    );
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', [
        zipkinSpan({ localEndpoint: { ipv4: '999.1.1.1' } }),
      ]),
      400,
      /localEndpoint\.ipv4 is not an IP address/,
    );
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', [zipkinSpan({ kind: 'SIDEWAYS' })]),
      400,
      /spans\[0\]\.kind/,
    );
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', [zipkinSpan({ level: 9 })]),
      400,
      /spans\[0\]\.level must be an integer 0–7/,
    );
  });

  test("a span over the model's bounds is refused with 413 naming the bound", async () => {
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', [zipkinSpan({ name: 'n'.repeat(300) })]),
      413,
      /spans\[0\]\.name is longer than 256/,
    );
  });

  test('body over the limit: 413, counted', async () => {
    const before = await metric(server.url, 'blkkin_batches_rejected_total', 'reason="too_large"');
    const spans = Array.from({ length: 400 }, (_, i) =>
      good((i + 1).toString(16).padStart(16, '0')),
    );
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', spans),
      413,
      /larger than the limit of 65536 bytes/,
    );
    assert.equal(
      await metric(server.url, 'blkkin_batches_rejected_total', 'reason="too_large"'),
      before + 1,
    );
    await assertNothingStored();
  });

  test('gzip bomb: decompressed size over the limit is 413', async () => {
    const body = gzipSync(Buffer.from(`[${' '.repeat(1024 * 1024)}]`));
    assert.ok(body.length < 64 * 1024);
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', body, { 'content-encoding': 'gzip' }),
      413,
      /decompressed body is larger than the limit/,
    );
  });

  test('corrupt gzip', async () => {
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', 'not gzip at all', {
        'content-encoding': 'gzip',
      }),
      400,
      /not valid gzip/,
    );
  });

  test('unknown content type and encoding: 415', async () => {
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', '[]', { 'content-type': 'application/xml' }),
      415,
      /unsupported content-type 'application\/xml'/,
    );
    await expectRefused(
      await postJson(server.url, '/api/v2/spans', '[]', { 'content-encoding': 'br' }),
      415,
      /unsupported content-encoding 'br'/,
    );
  });

  test('garbage protobuf, Zipkin and OTLP', async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
    const zipkinRes = await fetch(`${server.url}/api/v2/spans`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: garbage,
    });
    await expectRefused(zipkinRes, 400, /proto3/i);
    const otlpRes = await fetch(`${server.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"resourceSpans": 7}',
    });
    const text = await otlpRes.text();
    assert.equal(otlpRes.status, 400);
    const status = JSON.parse(text) as { code: number; message: string };
    assert.equal(status.code, 3);
    assert.match(status.message, /resourceSpans/);
  });

  test('a gzipped valid batch is accepted with 202, as Zipkin answers', async () => {
    const span = zipkinSpan({ traceId: '0000000000000def', id: '00000000000000aa' });
    const res = await postJson(server.url, '/api/v2/spans', gzipSync(JSON.stringify([span])), {
      'content-encoding': 'gzip',
    });
    assert.equal(res.status, 202);
    assert.equal(await res.text(), '');
    await server.pipeline.flush(); // durable at 202, visible once written to the store
    const spans = await getJson<{ id: string }[]>(server.url, '/api/v2/trace/0000000000000def');
    assert.deepEqual(
      spans.map((s) => s.id),
      ['00000000000000aa'],
    );
  });
});

describe('overload: when the store falls behind, ingest answers 503 with Retry-After', () => {
  test('a full queue refuses, counts, and stores nothing of the refused batch', async () => {
    const server = await startTestServer({ memory: true, maxQueuedSpans: 10 });
    try {
      // Hold the store's writes so that accepted spans stay queued.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const write = server.store.write.bind(server.store);
      server.store.write = async (spans, mark) => {
        await gate;
        return write(spans, mark);
      };
      const first = Array.from({ length: 8 }, (_, i) =>
        zipkinSpan({ traceId: '0000000000000111', id: (i + 1).toString(16).padStart(16, '0') }),
      );
      const accepted = postJson(server.url, '/api/v2/spans', first);
      await new Promise((r) => setTimeout(r, 100));
      const second = [
        zipkinSpan({ traceId: '0000000000000222', id: '0000000000000001' }),
        ...first.slice(0, 4),
      ];
      const refused = await postJson(server.url, '/api/v2/spans', second);
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.match(await refused.text(), /store is behind .*retry after 1 s/);
      release();
      assert.equal((await accepted).status, 202);
      const missing = await fetch(`${server.url}/api/v2/trace/0000000000000222`);
      assert.equal(missing.status, 404);
      assert.equal(
        (await getJson<unknown[]>(server.url, '/api/v2/trace/0000000000000111')).length,
        8,
      );
      assert.equal(
        await metric(server.url, 'blkkin_batches_rejected_total', 'reason="overloaded"'),
        1,
      );
    } finally {
      await server.cleanup();
    }
  });
});
