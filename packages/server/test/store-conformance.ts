import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linkDependencies, type Span, type SpanKind } from '@blkkin/model';
import type { Store, TraceQuery } from '../src/store/store.js';
import {
  compareTracesNewestFirst,
  matchesTraceQuery,
  sortTrace,
  traceTimestamp,
} from '../src/store/trace-query.js';

/**
 * What every Store must do, with Zipkin's semantics (zipkin2 InMemoryStorage, QueryRequest#test,
 * DependencyLinker). Run by store-memory.test.ts and store-duckdb.test.ts.
 */

/** 2024-03-10T00:00:00Z, in epoch milliseconds; a day all tests happen around. */
export const DAY0_MS = Date.UTC(2024, 2, 10);
const DAY_MS = 86_400_000;
/** Epoch microseconds `ms` milliseconds (maybe fractional) after DAY0, midday. */
export const at = (ms: number): number => Math.round((DAY0_MS + DAY_MS / 2 + ms) * 1000);
const NOON_MS = DAY0_MS + DAY_MS / 2;

const hex16 = (n: number | bigint) => BigInt(n).toString(16).padStart(16, '0');

interface SpanOptions {
  trace: string;
  id: number | string;
  parent?: number | string;
  kind?: SpanKind;
  service?: string;
  remote?: string;
  name?: string;
  ts?: number;
  duration?: number;
  tags?: Record<string, string>;
  annotations?: { timestamp: number; value: string }[];
  shared?: true;
}

/** A span of test data; ids given as numbers become 16 hex digits. */
export function mkSpan(o: SpanOptions): Span {
  const span: Span = { traceId: o.trace, id: typeof o.id === 'string' ? o.id : hex16(o.id) };
  if (o.parent !== undefined) {
    span.parentId = typeof o.parent === 'string' ? o.parent : hex16(o.parent);
  }
  if (o.kind) span.kind = o.kind;
  if (o.name) span.name = o.name;
  if (o.ts !== undefined) span.timestamp = o.ts;
  if (o.duration !== undefined) span.duration = o.duration;
  if (o.service) span.localEndpoint = { serviceName: o.service };
  if (o.remote) span.remoteEndpoint = { serviceName: o.remote };
  if (o.annotations) span.annotations = o.annotations;
  if (o.tags) span.tags = o.tags;
  if (o.shared) span.shared = true;
  return span;
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Random but well-formed traces of a few services: RPCs as client/server pairs (shared ids or
 * not, sometimes without the shared flag), local spans, leaf clients to uninstrumented services,
 * messaging, errors, the odd headless trace, and both 64-bit and 128-bit trace ids.
 */
export function randomTraces(seed: number, count: number, startMicros: number): Span[][] {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const services = ['web', 'api', 'auth', 'db', 'cache', 'queue'];
  let nextId = 1n + BigInt(seed) * 1_000_000n;
  const id = () => hex16(nextId++);
  const traces: Span[][] = [];
  for (let t = 0; t < count; t++) {
    const traceId = (random() < 0.5 ? hex16(BigInt(t + 1) * 7919n + 1n) : '') + id();
    const start = startMicros + t * 1000;
    const spans: Span[] = [];
    const root: Span = {
      traceId,
      id: id(),
      kind: 'SERVER',
      name: 'get',
      timestamp: start,
      duration: 5000,
      localEndpoint: { serviceName: 'web' },
    };
    if (random() < 0.3) root.remoteEndpoint = { serviceName: 'browser' };
    spans.push(root);
    const parents = [root];
    const size = 2 + Math.floor(random() * 10);
    for (let i = 0; i < size; i++) {
      const parent = pick(parents);
      const service = parent.localEndpoint!.serviceName!;
      const callee = pick(services);
      const ts = (parent.timestamp ?? start) + 1 + Math.floor(random() * 100);
      const roll = random();
      const error = random() < 0.15 ? { error: 'failed' } : undefined;
      const base = { traceId, parentId: parent.id, timestamp: ts, duration: 100 };
      if (roll < 0.2) {
        const local: Span = {
          ...base,
          id: id(),
          name: 'local',
          localEndpoint: { serviceName: service },
        };
        spans.push(local);
        parents.push(local);
      } else if (roll < 0.3) {
        const leaf: Span = {
          ...base,
          id: id(),
          kind: random() < 0.8 ? 'CLIENT' : undefined,
          name: 'query',
          localEndpoint: { serviceName: service },
          remoteEndpoint: { serviceName: pick(['mysql', 'redis']) },
        };
        if (!leaf.kind) delete leaf.kind;
        if (error) leaf.tags = error;
        spans.push(leaf);
      } else if (roll < 0.38) {
        const producer: Span = {
          ...base,
          id: id(),
          kind: 'PRODUCER',
          localEndpoint: { serviceName: service },
          remoteEndpoint: { serviceName: 'kafka' },
        };
        const consumer: Span = {
          ...base,
          parentId: producer.id,
          id: id(),
          kind: 'CONSUMER',
          localEndpoint: { serviceName: callee },
        };
        if (random() < 0.7) consumer.remoteEndpoint = { serviceName: 'kafka' };
        if (error) consumer.tags = error;
        spans.push(producer, consumer);
      } else {
        const client: Span = {
          ...base,
          id: id(),
          kind: 'CLIENT',
          name: 'call',
          localEndpoint: { serviceName: service },
          remoteEndpoint: { serviceName: callee },
        };
        if (error && random() < 0.5) client.tags = error;
        const sharedId = random() < 0.5;
        const server: Span = {
          traceId,
          id: sharedId ? client.id : id(),
          kind: 'SERVER',
          name: 'serve',
          timestamp: ts + 1,
          duration: 90,
          localEndpoint: { serviceName: callee },
        };
        if (sharedId) {
          server.parentId = parent.id;
          if (random() < 0.8) server.shared = true;
        } else {
          server.parentId = client.id;
        }
        if (error && !client.tags) server.tags = error;
        spans.push(client);
        if (random() < 0.9) {
          spans.push(server);
          parents.push(server);
        }
      }
    }
    // The odd headless trace: its root never arrived.
    traces.push(random() < 0.05 ? spans.slice(1) : spans);
  }
  return traces;
}

function query(q: Partial<TraceQuery>): TraceQuery {
  return { endTs: NOON_MS + 60_000, lookback: 3_600_000, limit: 10, ...q };
}

const ids = (traces: Span[][]) => traces.map((t) => t[0]!.traceId);

export function storeConformance(name: string, open: () => Promise<Store>): void {
  /** Runs `fn` against a fresh store, closed afterwards. */
  const withStore = async (fn: (store: Store) => Promise<void>) => {
    const store = await open();
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };

  describe(`${name}: store conformance`, () => {
    test('every field of the model reads back as written, spans by timestamp then id', () =>
      withStore(async (store) => {
        const trace = '463ac35c9f6413ad48485a3953bb6124';
        const full: Span = {
          traceId: trace,
          parentId: '00000000000000aa',
          id: '00000000000000bb',
          kind: 'CLIENT',
          name: 'get /api/ünïcode',
          timestamp: at(0) + 7,
          duration: 1234,
          localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
          remoteEndpoint: { serviceName: 'backend', ipv6: '2001:db8::c001', port: 9000 },
          annotations: [
            { timestamp: at(0) + 5, value: 'before the span', level: 7 },
            { timestamp: at(0) + 9, value: 'ws\u0001odd "text"\u0002\u0003\n' },
          ],
          tags: { '': 'empty key', a: '', 'b\u0001': 'x\u0002y\u0003z', 'http.path': '/a?b=c&d' },
          debug: true,
          level: 0,
          node: 'node-1',
          clockOffset: -1500,
        };
        const server: Span = {
          traceId: trace,
          parentId: '00000000000000aa',
          id: '00000000000000bb',
          kind: 'SERVER',
          timestamp: at(0) + 7,
          shared: true,
          localEndpoint: { serviceName: 'backend', ipv4: '10.0.0.2' },
          level: 6,
          clockOffset: 0,
        };
        const root: Span = { traceId: trace, id: '00000000000000aa', timestamp: at(0) };
        const late: Span = {
          traceId: trace,
          id: '0000000000000001',
          parentId: '00000000000000aa',
          timestamp: at(1),
        };
        const timeless: Span = {
          traceId: trace,
          id: '00000000000000cc',
          parentId: '00000000000000aa',
        };
        await store.write([server, late, full, timeless, root]);
        assert.deepEqual(await store.getTrace(trace), [timeless, root, full, server, late]);
        assert.equal(await store.countSpans(), 5);
      }));

    test('getTrace and getTraces: exact ids, 64-bit and 128-bit ids are different traces', () =>
      withStore(async (store) => {
        const low = '48485a3953bb6124';
        const high = '463ac35c9f6413ad' + low;
        const a = mkSpan({ trace: low, id: 1, service: 'a', ts: at(0) });
        const b = mkSpan({ trace: high, id: 2, service: 'b', ts: at(1) });
        await store.write([a, b]);
        assert.deepEqual(await store.getTrace(low), [a]);
        assert.deepEqual(await store.getTrace(high), [b]);
        assert.deepEqual(await store.getTrace('0000000000000001'), []);
        const both = await store.getTraces([high, low, high, 'ffffffffffffffff']);
        assert.deepEqual(both.map((t) => t.map((s) => s.id)).sort(), [[a.id], [b.id]].sort());
        assert.deepEqual(await store.getTraces([]), []);
        const found = await store.findTraces(query({}));
        assert.deepEqual(ids(found), [high, low]);
      }));

    test('a span written twice reads back once; countSpans counts what was written', () =>
      withStore(async (store) => {
        const span = mkSpan({
          trace: 'a'.repeat(16),
          id: 1,
          service: 's',
          ts: at(0),
          tags: { k: 'v' },
        });
        await store.write([span]);
        await store.write([{ ...span, tags: { k: 'v' } }]);
        assert.deepEqual(await store.getTrace(span.traceId), [span]);
      }));

    test('lastMark: 0 at first, the mark of the last write that had one', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.lastMark(), { logSeq: 0 });
        const span = mkSpan({ trace: 'b'.repeat(16), id: 1, ts: at(0) });
        await store.write([span], { logSeq: 41 });
        assert.deepEqual(await store.lastMark(), { logSeq: 41 });
        await store.write([{ ...span, id: hex16(2) }]);
        assert.deepEqual(await store.lastMark(), { logSeq: 41 });
        await store.write([], { logSeq: 42 });
        assert.deepEqual(await store.lastMark(), { logSeq: 42 });
      }));

    test('a write that fails stores nothing, not even its mark', () =>
      withStore(async (store) => {
        const good = mkSpan({ trace: 'c'.repeat(16), id: 1, service: 'svc', ts: at(0) });
        await store.write([good], { logSeq: 1 });
        const other = mkSpan({ trace: 'd'.repeat(16), id: 2, service: 'other', ts: at(0) });
        const bad = { ...good, traceId: 'not hex' };
        await assert.rejects(store.write([other, bad], { logSeq: 2 }));
        assert.deepEqual(await store.getTrace(other.traceId), []);
        assert.deepEqual(await store.getServiceNames(), ['svc']);
        assert.deepEqual(await store.lastMark(), { logSeq: 1 });
        assert.equal(await store.countSpans(), 1);
        // and the store still works
        await store.write([other], { logSeq: 3 });
        assert.deepEqual(await store.getTrace(other.traceId), [other]);
        assert.deepEqual(await store.lastMark(), { logSeq: 3 });
      }));

    test('concurrent writes are all stored', () =>
      withStore(async (store) => {
        const writes = Array.from({ length: 8 }, (_, i) =>
          store.write([mkSpan({ trace: hex16(1000 + i), id: 1, service: 's', ts: at(i) })], {
            logSeq: i + 1,
          }),
        );
        await Promise.all(writes);
        assert.equal(await store.countSpans(), 8);
        assert.equal((await store.findTraces(query({ limit: 100 }))).length, 8);
        assert.deepEqual(await store.lastMark(), { logSeq: 8 });
      }));

    test('findTraces: the lookback window, both ends included, on the trace timestamp', () =>
      withStore(async (store) => {
        const endTs = NOON_MS;
        const lookback = 60_000;
        const spansAt = (trace: string, micros: number) =>
          mkSpan({ trace, id: 1, service: 's', ts: micros });
        await store.write([
          spansAt(hex16(1), endTs * 1000), // at the end: in
          spansAt(hex16(2), endTs * 1000 + 1), // after the end: out
          spansAt(hex16(3), (endTs - lookback) * 1000), // at the start: in
          spansAt(hex16(4), (endTs - lookback) * 1000 - 1), // before the start: out
          // The root is before the window, a child inside it: the root's timestamp counts.
          mkSpan({ trace: hex16(5), id: 1, service: 's', ts: (endTs - lookback) * 1000 - 10 }),
          mkSpan({ trace: hex16(5), id: 2, parent: 1, service: 's', ts: endTs * 1000 - 10 }),
          // No root: the earliest timestamp counts.
          mkSpan({ trace: hex16(6), id: 2, parent: 1, service: 's', ts: endTs * 1000 - 5 }),
          mkSpan({ trace: hex16(6), id: 3, parent: 1, service: 's', ts: endTs * 1000 + 5 }),
          // No timestamps at all: never found.
          mkSpan({ trace: hex16(7), id: 1, service: 's' }),
        ]);
        const found = await store.findTraces({ endTs, lookback, limit: 10 });
        assert.deepEqual(ids(found), [hex16(1), hex16(6), hex16(3)]);
        assert.deepEqual(
          found[1]!.map((s) => s.id),
          [hex16(2), hex16(3)],
        );
      }));

    test('findTraces: newest first, at most limit, whole traces', () =>
      withStore(async (store) => {
        const spans: Span[] = [];
        for (let i = 1; i <= 20; i++) {
          spans.push(
            mkSpan({ trace: hex16(i), id: 1, service: i % 2 ? 'odd' : 'even', ts: at(i) }),
          );
          spans.push(mkSpan({ trace: hex16(i), id: 2, parent: 1, service: 'leaf', ts: at(i) + 1 }));
        }
        // Two traces at the same time: the higher trace id first.
        spans.push(mkSpan({ trace: hex16(100), id: 1, service: 'odd', ts: at(19) }));
        await store.write(spans.reverse());
        const five = await store.findTraces(query({ limit: 5 }));
        assert.deepEqual(ids(five), [20, 100, 19, 18, 17].map(hex16));
        assert.equal(five[0]!.length, 2);
        const odd = await store.findTraces(query({ serviceName: 'odd', limit: 3 }));
        assert.deepEqual(ids(odd), [100, 19, 17].map(hex16));
        assert.deepEqual(
          odd[1]!.map((s) => s.localEndpoint?.serviceName),
          ['odd', 'leaf'],
        );
        assert.equal((await store.findTraces(query({ limit: 1000 }))).length, 21);
        assert.deepEqual(await store.findTraces(query({ serviceName: 'nobody' })), []);
      }));

    test('findTraces: serviceName constrains spanName and remoteServiceName', () =>
      withStore(async (store) => {
        const t1 = hex16(1);
        const t2 = hex16(2);
        await store.write([
          mkSpan({ trace: t1, id: 1, service: 'web', name: 'get', ts: at(1) }),
          mkSpan({
            trace: t1,
            id: 2,
            parent: 1,
            kind: 'CLIENT',
            service: 'web',
            remote: 'db',
            name: 'query',
            ts: at(1),
          }),
          mkSpan({ trace: t2, id: 1, service: 'api', name: 'query', ts: at(2) }),
          mkSpan({
            trace: t2,
            id: 2,
            parent: 1,
            kind: 'CLIENT',
            service: 'api',
            remote: 'cache',
            ts: at(2),
          }),
          mkSpan({
            trace: t2,
            id: 3,
            parent: 1,
            kind: 'CLIENT',
            service: 'web',
            remote: 'db',
            name: 'get',
            ts: at(2),
          }),
        ]);
        const find = async (q: Partial<TraceQuery>) => ids(await store.findTraces(query(q)));
        assert.deepEqual(await find({ spanName: 'query' }), [t2, t1]);
        assert.deepEqual(await find({ serviceName: 'web', spanName: 'query' }), [t1]);
        assert.deepEqual(await find({ serviceName: 'api', spanName: 'get' }), []);
        assert.deepEqual(await find({ serviceName: 'web', spanName: 'get' }), [t2, t1]);
        assert.deepEqual(await find({ remoteServiceName: 'cache' }), [t2]);
        assert.deepEqual(await find({ serviceName: 'web', remoteServiceName: 'db' }), [t2, t1]);
        assert.deepEqual(await find({ serviceName: 'web', remoteServiceName: 'cache' }), []);
        // Conditions may be met by different spans of the service.
        assert.deepEqual(
          await find({ serviceName: 'web', remoteServiceName: 'db', spanName: 'get' }),
          [t2, t1],
        );
        assert.deepEqual(await find({ remoteServiceName: 'db', spanName: 'nothing' }), []);
      }));

    test('findTraces: annotationQuery terms, tags and annotations, all must match', () =>
      withStore(async (store) => {
        const t1 = hex16(1);
        const t2 = hex16(2);
        const t3 = hex16(3);
        await store.write([
          mkSpan({
            trace: t1,
            id: 1,
            service: 'web',
            ts: at(1),
            tags: { 'http.method': 'GET', error: '' },
          }),
          mkSpan({
            trace: t1,
            id: 2,
            parent: 1,
            service: 'db',
            ts: at(1),
            annotations: [{ timestamp: at(1), value: 'cache.miss' }],
          }),
          mkSpan({
            trace: t2,
            id: 1,
            service: 'web',
            ts: at(2),
            tags: { 'http.method': 'POST' },
            annotations: [{ timestamp: at(2), value: 'http.method' }],
          }),
          mkSpan({
            trace: t3,
            id: 1,
            service: 'web',
            ts: at(3),
            tags: { 'http.method=GET': 'x', cache: 'miss' },
          }),
        ]);
        const find = async (annotationQuery: Record<string, string>, serviceName?: string) =>
          ids(
            await store.findTraces(
              query(serviceName ? { annotationQuery, serviceName } : { annotationQuery }),
            ),
          );
        assert.deepEqual(await find({ 'http.method': 'GET' }), [t1]);
        // A bare key matches a tag key with any value, or an annotation value.
        assert.deepEqual(await find({ 'http.method': '' }), [t2, t1]);
        assert.deepEqual(await find({ 'cache.miss': '' }), [t1]);
        assert.deepEqual(await find({ error: '' }), [t1]);
        // A key=value term never matches an annotation.
        assert.deepEqual(await find({ 'cache.miss': 'x' }), []);
        assert.deepEqual(await find({ cache: 'miss' }), [t3]);
        // Terms are combined with AND, and may be met by different spans.
        assert.deepEqual(await find({ 'http.method': 'GET', 'cache.miss': '' }), [t1]);
        assert.deepEqual(await find({ 'http.method': 'GET', 'cache.miss': '', nope: '' }), []);
        // With serviceName, only that service's spans count.
        assert.deepEqual(await find({ 'http.method': 'GET', 'cache.miss': '' }, 'web'), []);
        assert.deepEqual(await find({ 'cache.miss': '' }, 'db'), [t1]);
        assert.deepEqual(await find({ 'http.method': 'POST' }, 'db'), []);
        // Values are compared exactly: no prefixes, no case folding.
        assert.deepEqual(await find({ 'http.method': 'get' }), []);
        assert.deepEqual(await find({ 'http.method': 'GE' }), []);
        assert.deepEqual(await find({ 'http.meth': '' }), []);
      }));

    test('findTraces: minDuration and maxDuration, constrained by serviceName', () =>
      withStore(async (store) => {
        const t1 = hex16(1);
        const t2 = hex16(2);
        await store.write([
          mkSpan({ trace: t1, id: 1, service: 'web', ts: at(1), duration: 1000 }),
          mkSpan({ trace: t1, id: 2, parent: 1, service: 'db', ts: at(1), duration: 100 }),
          mkSpan({ trace: t2, id: 1, service: 'web', ts: at(2), duration: 50 }),
          mkSpan({ trace: t2, id: 2, parent: 1, service: 'db', ts: at(2) }),
        ]);
        const find = async (q: Partial<TraceQuery>) => ids(await store.findTraces(query(q)));
        assert.deepEqual(await find({ minDuration: 1000 }), [t1]);
        assert.deepEqual(await find({ minDuration: 1001 }), []);
        assert.deepEqual(await find({ minDuration: 50 }), [t2, t1]);
        assert.deepEqual(await find({ minDuration: 100, maxDuration: 100 }), [t1]);
        assert.deepEqual(await find({ minDuration: 60, maxDuration: 99 }), []);
        assert.deepEqual(await find({ minDuration: 40, maxDuration: 60 }), [t2]);
        assert.deepEqual(await find({ serviceName: 'db', minDuration: 500 }), []);
        assert.deepEqual(await find({ serviceName: 'db', minDuration: 100 }), [t1]);
        assert.deepEqual(
          await find({ serviceName: 'web', minDuration: 100, maxDuration: 999 }),
          [],
        );
        assert.deepEqual(await find({ serviceName: 'web', minDuration: 20, maxDuration: 2000 }), [
          t2,
          t1,
        ]);
      }));

    test('findTraces over many traces: the newest matches, dense or sparse', () =>
      withStore(async (store) => {
        const traces = randomTraces(5, 1500, at(-3_000_000));
        const flat = traces.flat();
        for (let i = 0; i < flat.length; i += 1000) await store.write(flat.slice(i, i + 1000));
        const byId = new Map<string, Span[]>();
        for (const span of flat) byId.set(span.traceId, [...(byId.get(span.traceId) ?? []), span]);
        const all = [...byId.values()].map((spans) => sortTrace(spans));
        const queries: Partial<TraceQuery>[] = [
          { limit: 5 },
          { serviceName: 'api', limit: 5 },
          { annotationQuery: { error: '' }, limit: 5 },
          { serviceName: 'queue', annotationQuery: { error: 'failed' }, limit: 20 },
          { serviceName: 'db', minDuration: 95, limit: 7 },
          { remoteServiceName: 'mysql', spanName: 'query', limit: 3 },
          { serviceName: 'cache', spanName: 'serve', remoteServiceName: 'kafka', limit: 4 },
          { spanName: 'nothing-has-this-name', limit: 5 },
          // Sparse matches: a store that searches the newest traces first must go further back.
          {
            serviceName: 'auth',
            annotationQuery: { error: 'failed' },
            spanName: 'serve',
            limit: 6,
          },
          {
            serviceName: 'web',
            spanName: 'query',
            remoteServiceName: 'redis',
            annotationQuery: { error: 'failed' },
            limit: 10,
          },
          { serviceName: 'mysql', limit: 2 },
          {
            remoteServiceName: 'redis',
            serviceName: 'queue',
            annotationQuery: { error: '' },
            limit: 12,
          },
          { endTs: NOON_MS - 2_000_000, lookback: 200_000, serviceName: 'web', limit: 3 },
        ];
        for (const q of queries) {
          const full = query(q);
          const expected = all
            .filter((spans) => matchesTraceQuery(full, spans))
            .map((spans) => ({
              traceId: spans[0]!.traceId,
              timestamp: traceTimestamp(spans)!,
              spans,
            }))
            .sort(compareTracesNewestFirst)
            .slice(0, full.limit)
            .map((t) => t.spans);
          assert.deepEqual(await store.findTraces(full), expected, JSON.stringify(q));
        }
      }));

    test('service, remote service, span names, tag keys and values: sorted and distinct', () =>
      withStore(async (store) => {
        const t = hex16(9);
        await store.write([
          mkSpan({
            trace: t,
            id: 1,
            service: 'web',
            name: 'get',
            ts: at(0),
            tags: { 'http.method': 'GET', z: '1' },
          }),
          mkSpan({
            trace: t,
            id: 2,
            parent: 1,
            kind: 'CLIENT',
            service: 'web',
            remote: 'db',
            name: 'query',
            ts: at(0),
            tags: { 'http.method': 'POST' },
          }),
          mkSpan({
            trace: t,
            id: 3,
            parent: 1,
            kind: 'CLIENT',
            service: 'web',
            remote: 'cache',
            name: 'get',
            ts: at(0),
          }),
          mkSpan({
            trace: t,
            id: 4,
            parent: 2,
            kind: 'SERVER',
            service: 'db',
            remote: 'web',
            name: 'select',
            ts: at(0),
            tags: { 'http.method': 'GET' },
          }),
          mkSpan({ trace: t, id: 5, parent: 2, ts: at(0) }),
        ]);
        assert.deepEqual(await store.getServiceNames(), ['db', 'web']);
        assert.deepEqual(await store.getRemoteServiceNames('web'), ['cache', 'db']);
        assert.deepEqual(await store.getRemoteServiceNames('db'), ['web']);
        assert.deepEqual(await store.getRemoteServiceNames('cache'), []);
        assert.deepEqual(await store.getSpanNames('web'), ['get', 'query']);
        assert.deepEqual(await store.getSpanNames('db'), ['select']);
        assert.deepEqual(await store.getSpanNames('nobody'), []);
        assert.deepEqual(await store.getTagKeys(), ['http.method', 'z']);
        assert.deepEqual(await store.getTagValues('http.method'), ['GET', 'POST']);
        assert.deepEqual(await store.getTagValues('z'), ['1']);
        assert.deepEqual(await store.getTagValues('nope'), []);
      }));

    test('getDependencies: links with errors, of the traces whose timestamp is in the window', () =>
      withStore(async (store) => {
        const err = { error: 'boom' };
        const call = (trace: string, ts: number, error?: boolean) => [
          mkSpan({ trace, id: 1, kind: 'SERVER', service: 'web', ts }),
          mkSpan({
            trace,
            id: 2,
            parent: 1,
            kind: 'CLIENT',
            service: 'web',
            remote: 'api',
            ts: ts + 1,
          }),
          mkSpan({
            trace,
            id: 2,
            parent: 1,
            kind: 'SERVER',
            service: 'api',
            shared: true,
            ts: ts + 2,
            ...(error ? { tags: err } : {}),
          }),
          mkSpan({
            trace,
            id: 3,
            parent: 2,
            kind: 'CLIENT',
            service: 'api',
            remote: 'mysql',
            ts: ts + 3,
          }),
        ];
        const endTs = NOON_MS;
        await store.write([
          ...call(hex16(1), endTs * 1000, true),
          ...call(hex16(2), (endTs - 1000) * 1000),
          ...call(hex16(3), (endTs + 1) * 1000), // after the window
          ...call(hex16(4), (endTs - 1000) * 1000 - 1), // before it
        ]);
        assert.deepEqual(await store.getDependencies(endTs, 1000), [
          { parent: 'api', child: 'mysql', callCount: 2 },
          { parent: 'web', child: 'api', callCount: 2, errorCount: 1 },
        ]);
        assert.deepEqual(await store.getDependencies(endTs - 10_000, 1000), []);
        assert.deepEqual(await store.getDependencies(endTs + 10_000, 20_000), [
          { parent: 'api', child: 'mysql', callCount: 4 },
          { parent: 'web', child: 'api', callCount: 4, errorCount: 1 },
        ]);
      }));

    test('getDependencies agrees with linkDependencies on many random traces', () =>
      withStore(async (store) => {
        const traces = randomTraces(7, 300, at(-1000));
        // Spread over several writes, each trace's spans out of order.
        const flat = traces.flat();
        const random = prng(3);
        flat.sort(() => random() - 0.5);
        for (let i = 0; i < flat.length; i += 250) await store.write(flat.slice(i, i + 250));
        const byLow = new Map<string, Span[]>();
        for (const span of flat) {
          const low = span.traceId.slice(-16);
          byLow.set(low, [...(byLow.get(low) ?? []), span]);
        }
        const expected = linkDependencies(byLow.values());
        assert.ok(expected.length > 10);
        assert.ok(expected.some((l) => l.errorCount));
        assert.deepEqual(await store.getDependencies(NOON_MS + 60_000, 3_600_000), expected);
      }));

    test('deleteDaysBefore removes whole UTC days, and what it removes is gone everywhere', () =>
      withStore(async (store) => {
        const day = (d: number, ms = 0) => Math.round((DAY0_MS + d * DAY_MS + ms) * 1000);
        await store.write([
          mkSpan({ trace: hex16(1), id: 1, service: 'old', name: 'x', ts: day(-2, 5) }),
          mkSpan({ trace: hex16(2), id: 1, service: 'yesterday', ts: day(-1, 0) }),
          mkSpan({ trace: hex16(2), id: 2, parent: 1, service: 'today', ts: day(0, 0) }),
          mkSpan({ trace: hex16(3), id: 1, service: 'today', ts: day(0, DAY_MS - 1) }),
          mkSpan({ trace: hex16(4), id: 1, service: 'eve', ts: day(-1, DAY_MS - 0.001) }),
        ]);
        // Anything within today keeps today whole.
        assert.equal(await store.deleteDaysBefore(day(0, 12 * 3_600_000)), 3);
        assert.equal(await store.countSpans(), 2);
        assert.deepEqual(await store.getServiceNames(), ['today']);
        assert.deepEqual(await store.getSpanNames('old'), []);
        assert.deepEqual(await store.getTrace(hex16(1)), []);
        assert.deepEqual(
          (await store.getTrace(hex16(2))).map((s) => s.id),
          [hex16(2)],
        );
        const found = await store.findTraces({
          endTs: DAY0_MS + 3 * DAY_MS,
          lookback: 5 * DAY_MS,
          limit: 10,
        });
        assert.deepEqual(ids(found), [hex16(3), hex16(2)]);
        assert.equal(await store.deleteDaysBefore(day(0, 1)), 0);
        assert.equal(await store.deleteDaysBefore(day(1)), 2);
        assert.equal(await store.countSpans(), 0);
      }));
  });
}
