import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postJson, startTestServer } from './helpers.js';

// Golden tests of Zipkin's v2 query API: exact JSON, status codes and defaults, as Zipkin answers.

const T0 = 1_700_000_000_000_000; // µs
const END_TS = T0 / 1000 + 60_000; // ms, a minute after the traces

const TRACE_A = [
  {
    traceId: '86154a4ba6e91385',
    id: '86154a4ba6e91385',
    kind: 'SERVER',
    name: 'GET /volume',
    timestamp: T0,
    duration: 20_000,
    localEndpoint: { serviceName: 'Frontend', ipv4: '10.0.0.1', port: 8080 },
    remoteEndpoint: { ipv6: '2001:db8::1' },
    tags: { 'http.method': 'GET', 'http.path': '/volume' },
    annotations: [{ timestamp: T0 + 100, value: 'ws' }],
  },
  {
    traceId: '86154a4ba6e91385',
    parentId: '86154a4ba6e91385',
    id: '4d1e00c0db9010db',
    kind: 'CLIENT',
    name: 'map',
    timestamp: T0 + 1_000,
    duration: 15_000,
    localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1' },
    remoteEndpoint: { serviceName: 'mapper', ipv4: '10.0.0.2', port: 9000 },
  },
  {
    traceId: '86154a4ba6e91385',
    parentId: '86154a4ba6e91385',
    id: '4d1e00c0db9010db',
    kind: 'SERVER',
    shared: true,
    name: 'map',
    timestamp: T0 + 1_500,
    duration: 14_000,
    localEndpoint: { serviceName: 'mapper', ipv4: '10.0.0.2', port: 9000 },
    tags: { error: 'timeout' },
  },
];

const TRACE_B = [
  {
    traceId: '7f3b1c2d4e5f60718293a4b5c6d7e8f9',
    id: '1111111111111111',
    kind: 'CLIENT',
    name: 'write',
    timestamp: T0 + 5_000_000,
    duration: 3_000,
    localEndpoint: { serviceName: 'vlmc' },
    remoteEndpoint: { serviceName: 'osd.2' },
    tags: { 'volume.id': 'vol-1' },
    level: 5,
    node: 'node-1',
    clockOffset: -250,
  },
];

describe("Zipkin's v2 query API, golden", () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  let base = '';
  before(async () => {
    server = await startTestServer({ autocompleteKeys: ['http.method', 'volume.id'] });
    base = server.url;
    assert.equal((await postJson(base, '/api/v2/spans', [...TRACE_A, ...TRACE_B])).status, 202);
    await server.pipeline.flush();
  });
  after(async () => server.cleanup());

  async function get(
    path: string,
  ): Promise<{ status: number; body: string; type: string | null; res: Response }> {
    const res = await fetch(base + path);
    return {
      status: res.status,
      body: await res.text(),
      type: res.headers.get('content-type'),
      res,
    };
  }

  test('GET /api/v2/services', async () => {
    const r = await get('/api/v2/services');
    assert.equal(r.status, 200);
    assert.match(r.type ?? '', /^application\/json/);
    assert.equal(r.body, '["frontend","mapper","vlmc"]');
    assert.equal(
      r.res.headers.get('cache-control'),
      null,
      'no caching while there are few services',
    );
  });

  test('GET /api/v2/spans and /remoteServices', async () => {
    assert.equal((await get('/api/v2/spans?serviceName=frontend')).body, '["get /volume","map"]');
    assert.equal((await get('/api/v2/spans?serviceName=FRONTEND')).body, '["get /volume","map"]');
    assert.equal((await get('/api/v2/spans?serviceName=nobody')).body, '[]');
    assert.equal((await get('/api/v2/remoteServices?serviceName=frontend')).body, '["mapper"]');
    assert.equal((await get('/api/v2/remoteServices?serviceName=vlmc')).body, '["osd.2"]');
    const missing = await get('/api/v2/spans');
    assert.equal(missing.status, 400);
    assert.match(missing.body, /serviceName/);
  });

  test('GET /api/v2/trace/{id}: normalised JSON in Zipkin field order, spans by time', async () => {
    const r = await get('/api/v2/trace/86154a4ba6e91385');
    assert.equal(r.status, 200);
    assert.equal(
      r.body,
      JSON.stringify([
        {
          traceId: '86154a4ba6e91385',
          id: '86154a4ba6e91385',
          kind: 'SERVER',
          name: 'get /volume',
          timestamp: T0,
          duration: 20000,
          localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
          remoteEndpoint: { ipv6: '2001:db8::1' },
          annotations: [{ timestamp: T0 + 100, value: 'ws' }],
          tags: { 'http.method': 'GET', 'http.path': '/volume' },
        },
        {
          traceId: '86154a4ba6e91385',
          parentId: '86154a4ba6e91385',
          id: '4d1e00c0db9010db',
          kind: 'CLIENT',
          name: 'map',
          timestamp: T0 + 1000,
          duration: 15000,
          localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1' },
          remoteEndpoint: { serviceName: 'mapper', ipv4: '10.0.0.2', port: 9000 },
        },
        {
          traceId: '86154a4ba6e91385',
          parentId: '86154a4ba6e91385',
          id: '4d1e00c0db9010db',
          kind: 'SERVER',
          name: 'map',
          timestamp: T0 + 1500,
          duration: 14000,
          localEndpoint: { serviceName: 'mapper', ipv4: '10.0.0.2', port: 9000 },
          tags: { error: 'timeout' },
          shared: true,
        },
      ]),
    );
  });

  test('blkkin extensions come back after the Zipkin fields', async () => {
    const r = await get('/api/v2/trace/7f3b1c2d4e5f60718293a4b5c6d7e8f9');
    assert.equal(
      r.body,
      JSON.stringify([
        {
          traceId: '7f3b1c2d4e5f60718293a4b5c6d7e8f9',
          id: '1111111111111111',
          kind: 'CLIENT',
          name: 'write',
          timestamp: T0 + 5_000_000,
          duration: 3000,
          localEndpoint: { serviceName: 'vlmc' },
          remoteEndpoint: { serviceName: 'osd.2' },
          tags: { 'volume.id': 'vol-1' },
          level: 5,
          node: 'node-1',
          clockOffset: -250,
        },
      ]),
    );
  });

  test('GET /api/v2/trace/{id}: 404 as text, 400 for a bad id, padded short ids', async () => {
    const missing = await get('/api/v2/trace/00000000000000000000000000000001');
    assert.equal(missing.status, 404);
    assert.equal(missing.body, '0000000000000001 not found');
    const bad = await get('/api/v2/trace/not-hex');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /traceId/);
    // 64-bit and 128-bit ids are different traces (Zipkin's strict trace id).
    assert.equal((await get('/api/v2/trace/8293a4b5c6d7e8f9')).status, 404);
  });

  test('GET /api/v2/traces: filters, newest first, limit, defaults', async () => {
    const q = (s: string) => get(`/api/v2/traces?endTs=${END_TS + 10_000}&${s}`);
    const ids = (body: string) =>
      (JSON.parse(body) as { traceId: string }[][]).map((t) => t[0]!.traceId);
    assert.deepEqual(ids((await q('')).body), [
      '7f3b1c2d4e5f60718293a4b5c6d7e8f9',
      '86154a4ba6e91385',
    ]);
    assert.deepEqual(ids((await q('limit=1')).body), ['7f3b1c2d4e5f60718293a4b5c6d7e8f9']);
    assert.deepEqual(ids((await q('serviceName=mapper')).body), ['86154a4ba6e91385']);
    assert.deepEqual(ids((await q('serviceName=frontend&remoteServiceName=mapper')).body), [
      '86154a4ba6e91385',
    ]);
    assert.deepEqual(ids((await q('serviceName=frontend&spanName=map')).body), [
      '86154a4ba6e91385',
    ]);
    assert.deepEqual(ids((await q('serviceName=frontend&spanName=all')).body), [
      '86154a4ba6e91385',
    ]);
    assert.deepEqual(ids((await q('serviceName=vlmc&spanName=map')).body), []);
    assert.deepEqual(ids((await q('annotationQuery=http.method%3DGET%20and%20ws')).body), [
      '86154a4ba6e91385',
    ]);
    assert.deepEqual(ids((await q('annotationQuery=error')).body), ['86154a4ba6e91385']);
    assert.deepEqual(ids((await q('annotationQuery=http.method%3DPUT')).body), []);
    assert.deepEqual(ids((await q('serviceName=mapper&minDuration=14000')).body), [
      '86154a4ba6e91385',
    ]);
    assert.deepEqual(ids((await q('serviceName=mapper&minDuration=14001')).body), []);
    assert.deepEqual(
      ids((await q('serviceName=frontend&minDuration=10000&maxDuration=16000')).body),
      ['86154a4ba6e91385'],
    );
    assert.deepEqual(ids((await q('lookback=1000')).body), []);
    const full = JSON.parse((await q('serviceName=mapper')).body) as unknown[][];
    assert.equal(full[0]!.length, 3, 'a matching trace comes back whole');
  });

  test('GET /api/v2/traces: Zipkin parameter errors', async () => {
    const cases: [string, RegExp][] = [
      ['limit=0', /limit should be greater than zero/],
      ['lookback=-1', /lookback should be positive/],
      ['maxDuration=5', /minDuration is required when specifying maxDuration/],
      ['minDuration=10&maxDuration=5', /maxDuration should be >= minDuration/],
      ['endTs=abc', /endTs must be an integer/],
    ];
    for (const [query, message] of cases) {
      const r = await get(`/api/v2/traces?${query}`);
      assert.equal(r.status, 400, query);
      assert.match(r.body, message);
    }
  });

  test('GET /api/v2/traceMany', async () => {
    const r = await get(
      '/api/v2/traceMany?traceIds=86154a4ba6e91385,7f3b1c2d4e5f60718293a4b5c6d7e8f9,0000000000000bad',
    );
    assert.equal(r.status, 200);
    const traces = JSON.parse(r.body) as { traceId: string }[][];
    assert.deepEqual(traces.map((t) => t[0]!.traceId).sort(), [
      '7f3b1c2d4e5f60718293a4b5c6d7e8f9',
      '86154a4ba6e91385',
    ]);
    assert.equal((await get('/api/v2/traceMany?traceIds=')).body, 'traceIds parameter is empty');
    assert.equal(
      (await get('/api/v2/traceMany?traceIds=86154a4ba6e91385')).body,
      'Use /api/v2/trace/{traceId} endpoint to retrieve a single trace',
    );
    assert.equal(
      (await get('/api/v2/traceMany?traceIds=86154a4ba6e91385,86154A4BA6E91385')).body,
      'redundant traceId: 86154A4BA6E91385',
    );
  });

  test('GET /api/v2/dependencies: from the spans, no batch job', async () => {
    const r = await get(`/api/v2/dependencies?endTs=${END_TS}&lookback=3600000`);
    assert.equal(r.status, 200);
    assert.equal(
      r.body,
      JSON.stringify([
        { parent: 'frontend', child: 'mapper', callCount: 1, errorCount: 1 },
        { parent: 'vlmc', child: 'osd.2', callCount: 1 },
      ]),
    );
    assert.equal(
      (await get(`/api/v2/dependencies?endTs=${T0 / 1000 - 1}&lookback=1000`)).body,
      '[]',
    );
    assert.equal((await get('/api/v2/dependencies')).status, 400);
  });

  test('GET /api/v2/autocompleteKeys and /autocompleteValues', async () => {
    assert.equal((await get('/api/v2/autocompleteKeys')).body, '["http.method","volume.id"]');
    assert.equal((await get('/api/v2/autocompleteValues?key=http.method')).body, '["GET"]');
    assert.equal((await get('/api/v2/autocompleteValues?key=volume.id')).body, '["vol-1"]');
    assert.equal((await get('/api/v2/autocompleteValues')).status, 400);
  });

  test('GET /health and /metrics', async () => {
    const health = JSON.parse((await get('/health')).body) as {
      status: string;
      store: { kind: string };
    };
    assert.equal(health.status, 'UP');
    assert.equal(health.store.kind, 'duckdb');
    const metrics = (await get('/metrics')).body;
    assert.match(metrics, /blkkin_spans_accepted_total\{transport="zipkin-json"\} 4/);
    assert.match(metrics, /blkkin_spans_stored_total 4/);
    assert.match(metrics, /blkkin_ingest_queue_spans 0/);
  });
});
