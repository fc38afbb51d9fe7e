import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Span as ModelSpan } from '@blkkin/model';
import { startServer, type BlkkinServer } from '@blkkin/server';
import {
  Levels,
  createTracer,
  parentIdHex,
  spanIdHex,
  traceIdHex,
  type Span,
} from '../src/index.js';
import { sleep } from './tracer-helpers.js';

let server: BlkkinServer;
before(async () => {
  server = await startServer({ port: 0, storage: { kind: 'memory' }, retentionDays: 0 });
});
after(async () => {
  await server.close();
});

async function trace(id: string, count: number): Promise<ModelSpan[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const res = await fetch(`${server.url}/api/v2/trace/${id}`);
    if (res.status === 200) {
      const spans = (await res.json()) as ModelSpan[];
      if (spans.length >= count) return spans;
    } else await res.arrayBuffer();
    if (Date.now() > deadline) throw new Error(`trace ${id} incomplete`);
    await sleep(20);
  }
}

for (const format of ['proto3', 'json'] as const) {
  test(`spans arrive in blkkin serve field for field (direct exporter, ${format})`, async () => {
    const tracer = createTracer({
      service: 'Gateway',
      node: 'node-a',
      endpoint: { ipv4: '10.1.2.3', port: 8080 },
      exporter: { type: 'zipkin', url: server.url, format },
      level: 'info',
      flushOnExit: false,
    });
    const t0 = Date.now() * 1000;
    const root = tracer.startSpan('GET /volumes', { kind: 'SERVER', level: Levels.notice });
    root.annotate('request.parsed');
    root.tag('http.method', 'GET').tag('http.status_code', 200).tag('cached', false);
    const child = tracer.startSpan('osd_op write', {
      parent: root,
      kind: 'CLIENT',
      remote: { serviceName: 'OSD.3', ipv6: '2001:DB8:0:0:0:0:0:7', port: 6801 },
    });
    child.annotate('sent', Levels.info).annotate('dropped', Levels.debug).annotate('acked', 4);
    child.tag('object', 'rbd_data.1234').tag('bytes', 4194304).tag('ratio', 0.25);
    // Busy for 2 ms (a timer may fire early: libuv's clock is the loop's).
    const until = process.hrtime.bigint() + 2_000_000n;
    while (process.hrtime.bigint() < until);
    child.end();
    const forced = tracer.startSpan('debug-detail', {
      parent: root,
      level: Levels.debug,
      debug: true,
    });
    forced.end();
    root.end();
    const t1 = Date.now() * 1000;
    await tracer.flush();
    assert.equal(tracer.stats().exported, 3);
    assert.equal(tracer.stats().exportErrors, 0);

    const traceId = traceIdHex(root.context);
    assert.equal(traceId.length, 32);
    const spans = await trace(traceId, 3);
    const byId = new Map(spans.map((s) => [s.id, s]));
    const get = (s: Span) => byId.get(spanIdHex(s.context))!;
    const r = get(root);
    const c = get(child);
    const d = get(forced);
    // Epoch microseconds (within a second: the tracer's clock is monotonic, anchored once, and
    // the system clock may be adjusted meanwhile).
    const window = (s: ModelSpan) => {
      assert.ok(
        s.timestamp! >= t0 - 1_000_000 && s.timestamp! + s.duration! <= t1 + 1_000_000,
        'timestamps',
      );
    };
    [r, c, d].forEach(window);
    const { timestamp: rts, duration: rdur, annotations: rann, ...rrest } = r;
    assert.deepEqual(rrest, {
      traceId,
      id: spanIdHex(root.context),
      kind: 'SERVER',
      name: 'get /volumes',
      localEndpoint: { serviceName: 'gateway', ipv4: '10.1.2.3', port: 8080 },
      tags: { cached: 'false', 'http.method': 'GET', 'http.status_code': '200' },
      level: Levels.notice,
      node: 'node-a',
    });
    assert.deepEqual(
      rann!.map((a) => [a.value, a.level]),
      [['request.parsed', Levels.info]],
    );
    assert.ok(rann![0]!.timestamp >= rts! && rann![0]!.timestamp <= rts! + rdur!);
    const { timestamp: cts, duration: cdur, annotations: cann, ...crest } = c;
    assert.deepEqual(crest, {
      traceId,
      parentId: spanIdHex(root.context),
      id: spanIdHex(child.context),
      kind: 'CLIENT',
      name: 'osd_op write',
      localEndpoint: { serviceName: 'gateway', ipv4: '10.1.2.3', port: 8080 },
      remoteEndpoint: { serviceName: 'osd.3', ipv6: '2001:db8::7', port: 6801 },
      tags: { bytes: '4194304', object: 'rbd_data.1234', ratio: '0.25' },
      level: Levels.info,
      node: 'node-a',
    });
    assert.equal(parentIdHex(child.context), spanIdHex(root.context));
    assert.deepEqual(
      cann!.map((a) => [a.value, a.level]),
      [
        ['sent', Levels.info],
        ['acked', Levels.warning],
      ],
    );
    assert.ok(cdur! >= 2000, 'the child lasted 2 ms');
    assert.ok(cts! >= rts! && cts! + cdur! <= rts! + rdur!, 'child within its parent');
    assert.ok(cann!.every((a) => a.timestamp >= cts! && a.timestamp <= cts! + cdur!));
    assert.deepEqual(
      { debug: d.debug, level: d.level, parentId: d.parentId, name: d.name },
      { debug: true, level: Levels.debug, parentId: spanIdHex(root.context), name: 'debug-detail' },
    );
    await tracer.close();
  });
}

test('a 64-bit trace id from a peer keeps its 16 digits in the collector', async () => {
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'zipkin', url: server.url },
    flushOnExit: false,
  });
  const parent = { t0: 0, t1: 0, t2: 0x1234, t3: 0x5678, s0: 0, s1: 9, p0: 0, p1: 0, flags: 5 };
  const s = tracer.startSpan('child-of-64-bit', { parent, kind: 'SERVER' });
  s.end();
  await tracer.flush();
  const [got] = await trace('0000123400005678', 1);
  assert.equal(got!.traceId, '0000123400005678');
  assert.equal(got!.parentId, '0000000000000009');
  await tracer.close();
});
