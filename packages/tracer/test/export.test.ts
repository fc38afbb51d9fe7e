import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeZipkinJson, decodeZipkinProto3, normalizeSpans } from '@blkkin/model';
import { createTracer, type Span, type Tracer, type TracerOptions } from '../src/index.js';
import { Assembler } from '../src/assembler.js';
import { EncodeContext, encodeJson, encodeProto3, toExported } from '../src/encode.js';
import { ProtoAssembler } from '../src/proto-assembler.js';
import { CTRL_READ } from '../src/ring.js';
import { sleep } from './tracer-helpers.js';

/** A tracer nobody drains but the test, and a way to take its assembled spans. */
function manual(options: Partial<TracerOptions> = {}) {
  const tracer = createTracer({
    service: 'Storage',
    node: 'node-1',
    endpoint: { ipv4: '192.168.1.10', port: 8080 },
    exporter: { type: 'none' },
    flushInterval: 60_000,
    flushOnExit: false,
    ...options,
  });
  const assembler = new Assembler(tracer._views);
  const ctx = new EncodeContext(assembler.strings, assembler.timeOrigin, {
    service: tracer.service,
    endpoint: tracer.endpoint,
    node: tracer.node,
  });
  const take = () => {
    tracer._publish();
    assembler.drain();
    return assembler.take();
  };
  return { tracer, take, ctx };
}

test('proto3 and JSON encodings decode (model codecs) to the same spans, field for field', async () => {
  const { tracer, take, ctx } = manual();
  const root = tracer.startSpan('Write', { kind: 'SERVER', level: 5 });
  const child = tracer.startSpan('osd.op', {
    parent: root,
    kind: 'CLIENT',
    remote: { serviceName: 'OSD.2', ipv6: '2001:db8::1', port: 6800 },
  });
  child.annotate('sent').annotate('acked', 3).tag('object', 'rbd_data.1').tag('size', 4096);
  child.tag('replicated', true).tag('size', 8192);
  child.end();
  root.end();
  const spans = take();
  const proto = decodeZipkinProto3(encodeProto3(spans, ctx));
  const json = decodeZipkinJson(encodeJson(spans, ctx));
  assert.deepEqual(proto, json);
  assert.deepEqual(proto, normalizeSpans(spans.map((s) => toExported(s, ctx))));
  const c = proto[0]!;
  const r = proto[1]!;
  assert.equal(c.name, 'osd.op');
  assert.equal(c.kind, 'CLIENT');
  assert.equal(c.parentId, r.id);
  assert.equal(c.traceId, r.traceId);
  assert.equal(c.traceId.length, 32);
  assert.deepEqual(c.localEndpoint, { serviceName: 'storage', ipv4: '192.168.1.10', port: 8080 });
  assert.deepEqual(c.remoteEndpoint, { serviceName: 'osd.2', ipv6: '2001:db8::1', port: 6800 });
  assert.deepEqual(c.tags, { object: 'rbd_data.1', replicated: 'true', size: '8192' });
  assert.deepEqual(
    c.annotations!.map((a) => [a.value, a.level]),
    [
      ['sent', 6],
      ['acked', 3],
    ],
  );
  assert.equal(c.level, 6);
  assert.equal(r.level, 5);
  assert.equal(c.node, 'node-1');
  assert.equal(r.kind, 'SERVER');
  assert.equal(r.parentId, undefined);
  assert.ok(c.timestamp! >= r.timestamp! && c.duration! <= r.duration!);
  assert.ok(Math.abs(r.timestamp! - Date.now() * 1000) < 5_000_000, 'epoch microseconds');
  await tracer.close();
});

const text = fc.oneof(
  fc.constantFrom('read', 'Write', 'é', '日本語', '"quoted"\n\\'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }),
  fc.string({ minLength: 250, maxLength: 400 }),
);
const spanArb = fc.record({
  name: text,
  kind: fc.constantFrom(undefined, 'CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'),
  level: fc.nat(7),
  debug: fc.boolean(),
  annotations: fc.array(fc.tuple(text, fc.nat(7)), { maxLength: 4 }),
  tags: fc.array(fc.tuple(text, fc.oneof(text, fc.double(), fc.integer(), fc.boolean())), {
    maxLength: 5,
  }),
  remote: fc.option(
    fc.record(
      {
        serviceName: text,
        ipv4: fc.ipV4(),
        ipv6: fc.ipV6(),
        port: fc.integer({ min: 1, max: 65535 }),
      },
      { requiredKeys: [] },
    ),
  ),
  child: fc.boolean(),
});

test('property: the proto3 encoder and the JSON encoder agree with the model codecs', async () => {
  const { tracer, take, ctx } = manual({ level: 7, maxStrings: 20 });
  let parent: Span | undefined;
  await fc.assert(
    fc.asyncProperty(fc.array(spanArb, { minLength: 1, maxLength: 8 }), async (specs) => {
      for (const spec of specs) {
        const s = tracer.startSpan(spec.name, {
          parent: spec.child && parent ? parent : null,
          kind: spec.kind,
          level: spec.level as 0,
          debug: spec.debug,
          ...(spec.remote ? { remote: spec.remote } : {}),
        });
        for (const [value, level] of spec.annotations) s.annotate(value, level as 0);
        for (const [key, value] of spec.tags) s.tag(key, value);
        s.end();
        parent = s;
      }
      const spans = take();
      assert.equal(spans.length, specs.length);
      const expected = normalizeSpans(spans.map((s) => toExported(s, ctx)));
      assert.deepEqual(decodeZipkinProto3(encodeProto3(spans, ctx)), expected);
      assert.deepEqual(decodeZipkinJson(encodeJson(spans, ctx)), expected);
      for (const [i, spec] of specs.entries()) {
        const got = expected[i]!;
        assert.equal(got.name, spec.name.slice(0, 256).toLowerCase() || undefined);
        assert.equal(got.level, spec.level);
        if (spec.debug) assert.equal(got.debug, true);
      }
    }),
    { numRuns: 200 },
  );
  await tracer.close();
});

interface Received {
  type: string | undefined;
  body: Buffer;
}

async function sink(
  status: () => number,
): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.statusCode = status();
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, received };
}

function run(tracer: Tracer, n: number, name = 'op'): void {
  for (let i = 0; i < n; i++) {
    const s = tracer.startSpan(name);
    s.tag('i', i);
    s.end();
  }
}

test('HTTP exporter: proto3 and JSON batches, flush waits for them, stats count them', async () => {
  const { server, url, received } = await sink(() => 202);
  for (const format of ['proto3', 'json'] as const) {
    received.length = 0;
    const tracer = createTracer({
      service: 'svc',
      exporter: { type: 'zipkin', url, format },
      batchSize: 40,
      flushOnExit: false,
    });
    run(tracer, 100);
    await tracer.flush();
    const stats = tracer.stats();
    assert.equal(stats.exported, 100);
    assert.equal(stats.batches, 3);
    assert.equal(stats.exportErrors, 0);
    assert.equal(received.length, 3);
    assert.equal(
      stats.bytes,
      received.reduce((n, r) => n + r.body.length, 0),
    );
    const decoded = received.flatMap((r) =>
      format === 'proto3' ? decodeZipkinProto3(r.body) : decodeZipkinJson(r.body),
    );
    assert.equal(
      received[0]!.type,
      format === 'proto3' ? 'application/x-protobuf' : 'application/json',
    );
    assert.deepEqual(
      decoded.map((s) => s.tags!.i),
      Array.from({ length: 100 }, (_, i) => String(i)),
    );
    await tracer.close();
  }
  server.close();
});

test('HTTP exporter: failures are counted and dropped, then it backs off and recovers', async () => {
  let status = 500;
  const { server, url, received } = await sink(() => status);
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'zipkin', url: `${url}/api/v2/spans` },
    flushOnExit: false,
  });
  run(tracer, 10);
  await tracer.flush();
  let stats = tracer.stats();
  assert.equal(stats.exportErrors, 1);
  assert.equal(stats.dropped.export, 10);
  assert.equal(stats.exported, 0);
  status = 202;
  run(tracer, 5);
  await tracer.flush(); // in back-off: does not wait
  await sleep(150);
  await tracer.flush();
  stats = tracer.stats();
  assert.equal(stats.exported, 5);
  assert.equal(received.length, 2);
  await tracer.close();
  server.close();
});

test('HTTP exporter: collector away and a bounded queue: drops are counted, never thrown', async () => {
  const { server, url } = await sink(() => 202);
  await new Promise<void>((r) => server.close(() => r()));
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'zipkin', url },
    maxQueuedBatches: 2,
    flushOnExit: false,
  });
  for (let i = 0; i < 6; i++) {
    run(tracer, 10);
    await tracer.flush();
  }
  const stats = tracer.stats();
  assert.equal(stats.exported, 0);
  assert.ok(stats.exportErrors >= 1);
  assert.equal(stats.dropped.export + 10 * 2, 60, 'all dropped but the two queued batches');
  await tracer.close();
  assert.equal(tracer.stats().dropped.export, 60, 'close drops what is still queued');
});

test('worker thread pipeline: same spans, same stats', async () => {
  const { server, url, received } = await sink(() => 202);
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'zipkin', url },
    thread: 'worker',
    flushOnExit: false,
  });
  run(tracer, 300, 'in-worker');
  await tracer.flush();
  const stats = tracer.stats();
  assert.equal(stats.exported, 300);
  const decoded = received.flatMap((r) => decodeZipkinProto3(r.body));
  assert.equal(decoded.length, 300);
  assert.equal(decoded[0]!.name, 'in-worker');
  await tracer.close();
  server.close();
});

test('timers: spans are exported without flush, and unfinished spans are swept', async () => {
  const { server, url, received } = await sink(() => 202);
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'zipkin', url },
    flushInterval: 30,
    maxSpanAge: 50,
    flushOnExit: false,
  });
  tracer.startSpan('never-ends');
  await sleep(80);
  run(tracer, 3);
  await sleep(200);
  assert.equal(received.flatMap((r) => decodeZipkinProto3(r.body)).length, 3);
  const stats = tracer.stats();
  assert.equal(stats.exported, 3);
  assert.equal(stats.dropped.unfinished, 1);
  await tracer.close();
  server.close();
});

type Op =
  | { op: 'start'; name: string; parent: number; kind: number; level: number; remote: boolean }
  | { op: 'annotate'; span: number; value: string; level: number }
  | { op: 'tag'; span: number; key: string; value: string | number | boolean }
  | { op: 'end'; span: number };

const anyText = fc.oneof(
  fc.constantFrom('read', 'write', 'é', '日本語', ''),
  fc.string({ maxLength: 20 }),
  fc.string({ minLength: 200, maxLength: 400 }),
  fc.string({ minLength: 2000, maxLength: 3000 }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('start' as const),
      name: anyText,
      parent: fc.nat(),
      kind: fc.nat(4),
      level: fc.nat(7),
      remote: fc.boolean(),
    }),
  },
  fc.record({
    op: fc.constant('annotate' as const),
    span: fc.nat(),
    value: anyText,
    level: fc.nat(7),
  }),
  fc.record({
    op: fc.constant('tag' as const),
    span: fc.nat(),
    key: anyText,
    value: fc.oneof(anyText, fc.integer(), fc.double(), fc.boolean(), fc.constant(-0)),
  }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('end' as const), span: fc.nat() }) },
);
const KINDS = [undefined, 'CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'] as const;

test('property: the fast proto3 path encodes exactly what the general path encodes', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { maxLength: 80 }),
      fc.integer({ min: 4, max: 40 }),
      fc.nat(6000),
      async (ops, maxStrings, manyOpen) => {
        const { tracer, take, ctx } = manual({ maxStrings, bufferSize: 1 << 20 });
        const live: Span[] = [];
        // Many spans open at once: slots collide and spans move to buffers of their own.
        const crowd: Span[] = [];
        for (let i = 0; i < manyOpen; i++) crowd.push(tracer.startSpan('crowd').tag('i', i));
        for (const o of ops) {
          const pick = (i: number) => live[i % Math.max(1, live.length)];
          if (o.op === 'start') {
            live.push(
              tracer.startSpan(o.name, {
                parent: pick(o.parent) ?? null,
                kind: KINDS[o.kind],
                level: o.level as 0,
                ...(o.remote
                  ? { remote: { serviceName: o.name, ipv4: '10.0.0.1', port: 80 } }
                  : {}),
              }),
            );
          } else if (o.op === 'annotate') pick(o.span)?.annotate(o.value, o.level as 0);
          else if (o.op === 'tag') pick(o.span)?.tag(o.key, o.value);
          else pick(o.span)?.end();
        }
        for (const s of crowd) s.end();
        for (const s of live) s.end();
        tracer._publish();
        const views = tracer._views;
        const from = Atomics.load(views.ctrl, CTRL_READ);
        const fast = new ProtoAssembler(views, ctx.local, 100_000);
        fast.drain();
        const batches = fast.takeAll();
        Atomics.store(views.ctrl, CTRL_READ, from);
        const slow = take();
        const fastSpans = batches.flatMap((b) => decodeZipkinProto3(b.body));
        assert.equal(
          batches.reduce((n, b) => n + b.count, 0),
          slow.length,
        );
        assert.deepEqual(fastSpans, decodeZipkinProto3(encodeProto3(slow, ctx)));
        assert.equal(tracer.stats().dropped.ringFull, 0);
        await tracer.close();
      },
    ),
    { numRuns: 60 },
  );
});

test('a long remote service name with both addresses and a port encodes whole', async () => {
  const { tracer, take, ctx } = manual();
  for (const n of [200, 230, 247, 250, 256, 300]) {
    tracer
      .startSpan('op', {
        parent: null,
        remote: { serviceName: 'x'.repeat(n), ipv4: '10.0.0.1', ipv6: '2001:db8::1', port: 443 },
      })
      .end();
  }
  const spans = take();
  const decoded = decodeZipkinProto3(encodeProto3(spans, ctx));
  assert.deepEqual(
    decoded.map((s) => s.remoteEndpoint?.serviceName?.length),
    [200, 230, 247, 250, 256, 256],
  );
  assert.ok(decoded.every((s) => s.remoteEndpoint?.port === 443));
  await tracer.close();
});
