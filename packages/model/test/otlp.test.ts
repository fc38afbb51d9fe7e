import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode, context, trace, type Tracer } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { decodeOtlpJson, decodeOtlpProtobuf } from '../src/codec/otlp.js';
import { ExportTraceServiceRequest } from '../src/codec/otlp-schema.js';
import { DEFAULT_LIMITS } from '../src/limits.js';
import { InvalidSpanError } from '../src/normalize.js';
import type { Span } from '../src/span.js';

// Payloads come from the real OpenTelemetry SDK and OTLP serialisers; both formats must decode to
// the same blkkin spans, mapped as docs/otlp-mapping.md says.

type Attributes = Record<string, string | number | boolean>;

/** Runs `record` against a real tracer and returns the finished spans. */
function record(
  resource: Attributes,
  body: (tracer: Tracer) => void,
  options: { scope?: [string, string?]; attributeCountLimit?: number } = {},
): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes(resource),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
    ...(options.attributeCountLimit
      ? { spanLimits: { attributeCountLimit: options.attributeCountLimit } }
      : {}),
  });
  const [name, version] = options.scope ?? ['blkkin-test', '0.1.0'];
  body(provider.getTracer(name, version));
  return exporter.getFinishedSpans();
}

const protobufOf = (spans: ReadableSpan[]): Uint8Array =>
  ProtobufTraceSerializer.serializeRequest(spans)!;
const jsonOf = (spans: ReadableSpan[]): string =>
  new TextDecoder().decode(JsonTraceSerializer.serializeRequest(spans));

/** Decodes both encodings, checks they agree, and returns the spans. */
function decodeBoth(spans: ReadableSpan[]): Span[] {
  const fromProtobuf = decodeOtlpProtobuf(protobufOf(spans));
  const fromJson = decodeOtlpJson(jsonOf(spans));
  assert.deepEqual(fromJson, fromProtobuf, 'protobuf and JSON decode alike');
  return fromProtobuf;
}

/** Asserts that `run` throws an InvalidSpanError whose message matches. */
function rejects(run: () => unknown, message: RegExp, reason?: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof InvalidSpanError, `expected InvalidSpanError, got ${String(err)}`);
    assert.match(err.message, message);
    if (reason) assert.equal(err.reason, reason);
    return true;
  });
}

const T0: [number, number] = [1_700_000_000, 123_456_789];
const at = (ms: number, ns = 0): [number, number] => [
  T0[0] + Math.floor((T0[1] + ms * 1e6 + ns) / 1e9),
  (T0[1] + ms * 1e6 + ns) % 1e9,
];
const T0_US = 1_700_000_000_123_456;

/** A server span with a client child, an event, attributes of every kind and an error. */
function checkout(): ReadableSpan[] {
  return record(
    { 'service.name': 'Checkout', 'host.name': 'node-1', 'deployment.environment': 'test' },
    (tracer) => {
      const root = tracer.startSpan('GET /cart', {
        kind: SpanKind.SERVER,
        startTime: T0,
        attributes: {
          'http.method': 'GET',
          'http.status_code': 200,
          ratio: 0.25,
          cached: false,
          tags: ['a', 'b'],
          sizes: [1, 2.5],
          'blkkin.level': 6,
        },
      });
      root.addEvent('cache miss', { key: 'cart:42' }, at(10));
      root.addEvent('retry', { 'blkkin.level': 'warning' }, at(20, 999));
      const child = tracer.startSpan(
        'SELECT cart',
        {
          kind: SpanKind.CLIENT,
          startTime: at(30),
          attributes: {
            'peer.service': 'Postgres',
            'network.peer.address': '10.0.0.7',
            'network.peer.port': 5432,
          },
        },
        trace.setSpan(context.active(), root),
      );
      child.setStatus({ code: SpanStatusCode.ERROR, message: 'connection reset' });
      child.end(at(130, 499)); // 100.000499 ms: rounds to 100000 µs
      root.end(at(200));
    },
    { scope: ['cart-lib', '1.2.3'] },
  );
}

test('a real OTel SDK trace decodes field for field, from protobuf and from JSON', () => {
  const spans = checkout();
  const child = spans.find((s) => s.name === 'SELECT cart')!;
  const root = spans.find((s) => s.name === 'GET /cart')!;
  const decoded = decodeBoth(spans);
  assert.equal(decoded.length, 2);

  const resourceTags = {
    'deployment.environment': 'test',
    'host.name': 'node-1',
    'otel.scope.name': 'cart-lib',
    'otel.scope.version': '1.2.3',
  };
  const expectedChild: Span = {
    traceId: child.spanContext().traceId,
    parentId: root.spanContext().spanId,
    id: child.spanContext().spanId,
    kind: 'CLIENT',
    name: 'select cart',
    timestamp: T0_US + 30_000,
    duration: 100_000,
    localEndpoint: { serviceName: 'checkout' },
    remoteEndpoint: { serviceName: 'postgres', ipv4: '10.0.0.7', port: 5432 },
    tags: {
      ...resourceTags,
      error: 'connection reset',
      'network.peer.address': '10.0.0.7',
      'network.peer.port': '5432',
      'otel.status_code': 'ERROR',
      'peer.service': 'Postgres',
    },
    node: 'node-1',
  };
  const expectedRoot: Span = {
    traceId: root.spanContext().traceId,
    id: root.spanContext().spanId,
    kind: 'SERVER',
    name: 'get /cart',
    timestamp: T0_US,
    duration: 200_000,
    localEndpoint: { serviceName: 'checkout' },
    annotations: [
      { timestamp: T0_US + 10_000, value: 'cache miss' },
      { timestamp: T0_US + 20_001, value: 'retry', level: 4 }, // 143457.788 µs: floored
    ],
    tags: {
      ...resourceTags,
      cached: 'false',
      'http.method': 'GET',
      'http.status_code': '200',
      ratio: '0.25',
      sizes: '[1,2.5]',
      tags: '["a","b"]',
    },
    level: 6,
    node: 'node-1',
  };
  assert.deepEqual(
    decoded.find((s) => s.id === expectedChild.id),
    expectedChild,
  );
  assert.deepEqual(
    decoded.find((s) => s.id === expectedRoot.id),
    expectedRoot,
  );
  // Tags come out with their keys in order, as normalize promises.
  const keys = Object.keys(decoded[0]!.tags!);
  assert.deepEqual(keys, [...keys].sort());
});

test('kinds, status codes and sub-microsecond timing', () => {
  const spans = record({ 'service.name': 'svc' }, (tracer) => {
    tracer.startSpan('internal', { kind: SpanKind.INTERNAL, startTime: T0 }).end(at(1));
    tracer.startSpan('producer', { kind: SpanKind.PRODUCER, startTime: T0 }).end(at(0, 300));
    tracer.startSpan('consumer', { kind: SpanKind.CONSUMER, startTime: T0 }).end(T0);
    const ok = tracer.startSpan('ok', { startTime: T0 });
    ok.setStatus({ code: SpanStatusCode.OK, message: 'ignored unless ERROR' });
    ok.setAttribute('error', false);
    ok.end(at(0, 1500));
  });
  const byName = new Map(decodeBoth(spans).map((s) => [s.name, s]));

  const internal = byName.get('internal')!;
  assert.equal(internal.kind, undefined, 'INTERNAL has no Zipkin kind');
  assert.equal(internal.duration, 1000);
  assert.equal(internal.remoteEndpoint, undefined);

  const producer = byName.get('producer')!;
  assert.equal(producer.kind, 'PRODUCER');
  assert.equal(producer.duration, 1, '300 ns is at least 1 µs');
  const consumer = byName.get('consumer')!;
  assert.equal(consumer.kind, 'CONSUMER');
  assert.equal(consumer.timestamp, T0_US);
  assert.equal(consumer.duration, undefined, 'no duration when end = start');

  const ok = byName.get('ok')!;
  assert.equal(ok.duration, 2, '1.5 µs rounds to 2');
  assert.equal(ok.tags!['otel.status_code'], 'OK');
  assert.equal(ok.tags!.error, undefined, 'OK has no error tag; error=false is dropped');
});

test('ERROR without a message still marks the span failed', () => {
  const spans = record({ 'service.name': 'svc' }, (tracer) => {
    const s = tracer.startSpan('fails', { startTime: T0 });
    s.setStatus({ code: SpanStatusCode.ERROR });
    s.end(at(5));
  });
  const [span] = decodeBoth(spans);
  assert.deepEqual(span!.tags, {
    error: '',
    'otel.scope.name': 'blkkin-test',
    'otel.scope.version': '0.1.0',
    'otel.status_code': 'ERROR',
  });
});

test('remote endpoints from peer attributes, by the span’s role', () => {
  const spans = record({ 'service.name': 'svc' }, (tracer) => {
    const end = (name: string, kind: SpanKind, attributes: Attributes) =>
      tracer.startSpan(name, { kind, attributes, startTime: T0 }).end(at(1));
    end('by host', SpanKind.CLIENT, { 'server.address': 'DB.example.com', 'server.port': 5432 });
    end('by ip', SpanKind.PRODUCER, { 'server.address': '2001:DB8::1', 'server.port': 4222 });
    end('legacy', SpanKind.CLIENT, { 'net.peer.name': 'cache', 'net.peer.ip': '10.1.2.3' });
    end('server', SpanKind.SERVER, {
      'server.address': 'me.example.com',
      'client.address': '::ffff:192.168.0.9',
      'network.peer.port': 61000,
    });
    end('internal', SpanKind.INTERNAL, { 'peer.service': 'ignored' });
    end('bad port', SpanKind.CLIENT, { 'peer.service': 'x', 'server.port': 70000 });
  });
  const byName = new Map(decodeBoth(spans).map((s) => [s.name, s]));
  assert.deepEqual(byName.get('by host')!.remoteEndpoint, {
    serviceName: 'db.example.com',
    port: 5432,
  });
  assert.deepEqual(byName.get('by ip')!.remoteEndpoint, { ipv6: '2001:db8::1', port: 4222 });
  assert.deepEqual(byName.get('legacy')!.remoteEndpoint, {
    serviceName: 'cache',
    ipv4: '10.1.2.3',
  });
  assert.deepEqual(byName.get('server')!.remoteEndpoint, { ipv4: '192.168.0.9', port: 61000 });
  assert.equal(byName.get('internal')!.remoteEndpoint, undefined);
  assert.deepEqual(byName.get('bad port')!.remoteEndpoint, { serviceName: 'x' });
  // The attributes stay tags all the same.
  assert.equal(byName.get('by host')!.tags!['server.address'], 'DB.example.com');
});

test('no service.name: no local service; dropped attributes are counted in a tag', () => {
  const spans = record(
    {},
    (tracer) => {
      tracer.startSpan('many', { startTime: T0, attributes: { a: 1, b: 2, c: 3 } }).end(at(1));
    },
    { attributeCountLimit: 2 },
  );
  const [span] = decodeBoth(spans);
  assert.equal(span!.localEndpoint, undefined);
  assert.equal(span!.node, undefined);
  assert.equal(span!.tags!['otel.dropped_attributes_count'], '1');
});

test('several resources and scopes in one request', () => {
  const a = record({ 'service.name': 'a' }, (tracer) => {
    tracer.startSpan('a1', { startTime: T0 }).end(at(1));
  });
  const b = record(
    { 'service.name': 'b', 'host.name': 'h2' },
    (tracer) => tracer.startSpan('b1', { startTime: T0 }).end(at(2)),
    { scope: ['other'] },
  );
  const decoded = decodeBoth([...a, ...b]);
  assert.deepEqual(
    decoded.map((s) => [s.name, s.localEndpoint?.serviceName, s.node, s.tags!['otel.scope.name']]),
    [
      ['a1', 'a', undefined, 'blkkin-test'],
      ['b1', 'b', 'h2', 'other'],
    ],
  );
  assert.equal(decoded[1]!.tags!['otel.scope.version'], undefined);

  // The batch limit counts every span of every resource.
  const limits = { ...DEFAULT_LIMITS, maxSpansPerBatch: 1 };
  const message = /^batch has 2 spans, more than the limit of 1/;
  rejects(() => decodeOtlpProtobuf(protobufOf([...a, ...b]), limits), message, 'too_large');
  rejects(() => decodeOtlpJson(jsonOf([...a, ...b]), limits), message, 'too_large');
  assert.equal(decodeOtlpJson(jsonOf(a), limits).length, 1);
});

test('empty requests decode to no spans', () => {
  assert.deepEqual(decodeOtlpProtobuf(new Uint8Array(0)), []);
  assert.deepEqual(decodeOtlpJson('{}'), []);
  assert.deepEqual(decodeOtlpJson('{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}'), []);
});

// --- OTLP/JSON variations that a real SDK does not produce but the format allows -------------------

type Json = Record<string, unknown>;

/** The checkout request as a mutable object, and its first span (the client child). */
function jsonRequest(): { request: Json; span: Json } {
  const request = JSON.parse(jsonOf(checkout())) as Json;
  const span = ((request.resourceSpans as Json[])[0]!.scopeSpans as Json[])[0]!.spans as Json[];
  return { request, span: span.find((s) => s.name === 'SELECT cart')! };
}

test('OTLP/JSON: enum names, numeric times, uppercase hex, every AnyValue kind', () => {
  const { request, span } = jsonRequest();
  const expected = decodeOtlpJson(JSON.stringify(request)).find((s) => s.name === 'select cart')!;
  span.kind = 'SPAN_KIND_CLIENT';
  span.status = { code: 'STATUS_CODE_ERROR', message: 'connection reset' };
  span.startTimeUnixNano = Number(span.startTimeUnixNano); // loses precision past 2^53 ns…
  span.endTimeUnixNano = Number(span.endTimeUnixNano);
  span.traceId = (span.traceId as string).toUpperCase();
  const decoded = decodeOtlpJson(JSON.stringify(request)).find((s) => s.name === 'select cart')!;
  assert.equal(decoded.kind, 'CLIENT');
  assert.equal(decoded.traceId, expected.traceId);
  assert.deepEqual(decoded.tags, expected.tags);
  assert.ok(Math.abs(decoded.timestamp! - expected.timestamp!) <= 1); // …by under 1 µs here

  span.attributes = [
    { key: 'big', value: { intValue: '9007199254740993' } },
    { key: 'neg', value: { intValue: -7 } },
    { key: 'nan', value: { doubleValue: 'NaN' } },
    { key: 'bytes', value: { bytesValue: 'AQID' } },
    { key: 'empty', value: {} },
    {
      key: 'kv',
      value: {
        kvlistValue: {
          values: [
            { key: 'n', value: { intValue: '-9223372036854775808' } },
            { key: 'list', value: { arrayValue: { values: [{ boolValue: true }, {}] } } },
            { key: 'inf', value: { doubleValue: 'Infinity' } },
          ],
        },
      },
    },
  ];
  const tags = decodeOtlpJson(JSON.stringify(request)).find((s) => s.name === 'select cart')!.tags!;
  assert.equal(tags.big, '9007199254740993');
  assert.equal(tags.neg, '-7');
  assert.equal(tags.nan, 'NaN');
  assert.equal(tags.bytes, 'AQID');
  assert.equal(tags.empty, '');
  assert.equal(tags.kv, '{"n":-9223372036854775808,"list":[true,null],"inf":"Infinity"}');
});

test('protobuf: bytes and key-value list attributes', () => {
  const message = ExportTraceServiceRequest.decode(protobufOf(checkout())) as unknown as {
    resourceSpans: { scopeSpans: { spans: { name: string; attributes: unknown[] }[] }[] }[];
  };
  const span = message.resourceSpans[0]!.scopeSpans[0]!.spans.find((s) => s.name === 'GET /cart')!;
  span.attributes = [
    { key: 'bytes', value: { bytesValue: new Uint8Array([1, 2, 3]) } },
    { key: 'kv', value: { kvlistValue: { values: [{ key: 'x', value: { intValue: -1 } }] } } },
  ];
  const body = ExportTraceServiceRequest.encode(
    ExportTraceServiceRequest.fromObject(message),
  ).finish();
  const root = decodeOtlpProtobuf(body).find((s) => s.name === 'get /cart')!;
  assert.equal(root.tags!.bytes, 'AQID');
  assert.equal(root.tags!.kv, '{"x":-1}');
  assert.equal(root.level, undefined);
});

// --- bad input --------------------------------------------------------------------------------------

test('undecodable bodies are malformed', () => {
  const garbage = new TextEncoder().encode('this is not protobuf');
  rejects(() => decodeOtlpProtobuf(garbage), /^not a valid OTLP protobuf message: /, 'malformed');
  const body = protobufOf(checkout());
  rejects(
    () => decodeOtlpProtobuf(body.subarray(0, body.length - 7)),
    /^not a valid OTLP protobuf message: index out of range/,
    'malformed',
  );
  rejects(() => decodeOtlpJson('{"resourceSpans": ['), /^not valid OTLP JSON: /, 'malformed');
  rejects(() => decodeOtlpJson(jsonOf(checkout()).slice(0, -3)), /^not valid OTLP JSON/);
});

test('wrong JSON shapes name the place', () => {
  const cases: [string, RegExp][] = [
    ['[]', /^expected an OTLP ExportTraceServiceRequest object, not an array$/],
    ['"spans"', /^expected an OTLP ExportTraceServiceRequest object, not a string$/],
    ['{"resourceSpans": {}}', /^resourceSpans must be an array, not an object$/],
    ['{"resourceSpans": [7]}', /^resourceSpans\[0\] must be an object, not a number$/],
    [
      '{"resourceSpans": [{"scopeSpans": "x"}]}',
      /^resourceSpans\[0\]\.scopeSpans must be an array, not a string$/,
    ],
    [
      '{"resourceSpans": [{"scopeSpans": [{"spans": [null]}]}]}',
      /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\] must be an object, not null$/,
    ],
    [
      '{"resourceSpans": [{"resource": {"attributes": [{"key": 1}]}}]}',
      /^resourceSpans\[0\]\.resource\.attributes\[0\]\.key must be a string, not a number$/,
    ],
  ];
  for (const [text, message] of cases) rejects(() => decodeOtlpJson(text), message, 'malformed');
});

test('bad span fields in OTLP/JSON name the span and the field', () => {
  const place = String.raw`^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.`;
  const cases: [(span: Json) => void, string, string][] = [
    [(s) => (s.traceId = '0'.repeat(32)), 'traceId is all zeros', 'invalid_id'],
    [(s) => (s.traceId = 'abc'), 'traceId must be 32 hex digits, not 3', 'invalid_id'],
    [(s) => (s.traceId = 'q'.repeat(32)), 'traceId is not hex', 'invalid_id'],
    // OTLP/JSON ids are hex; base64, as protobuf's generic JSON mapping would have it, is refused.
    [(s) => (s.spanId = 'AQIDBAUGBwg='), 'spanId must be 16 hex digits, not 12', 'invalid_id'],
    [(s) => delete s.spanId, 'spanId is missing', 'invalid_id'],
    [(s) => (s.spanId = 42), 'spanId must be a string of 16 hex digits, not a number', ''],
    [(s) => (s.parentSpanId = 'abcd'), 'parentSpanId must be 16 hex digits, not 4', ''],
    [(s) => (s.kind = 'SERVER'), 'kind must be one of SPAN_KIND_UNSPECIFIED', 'invalid'],
    [(s) => (s.startTimeUnixNano = '-5'), 'startTimeUnixNano must be unsigned nanoseconds', ''],
    [(s) => (s.endTimeUnixNano = 1.5), 'endTimeUnixNano must be unsigned nanoseconds', ''],
    [
      (s) => (s.endTimeUnixNano = { low: 1, high: 2 }),
      'endTimeUnixNano must be unsigned nanoseconds',
      '',
    ],
    [(s) => (s.name = 'x'.repeat(300)), 'name is longer than 256 characters', 'too_large'],
    [(s) => (s.status = { code: 9.5 }), 'status.code must be one of STATUS_CODE_UNSET', ''],
    [(s) => (s.events = {}), 'events must be an array, not an object', 'malformed'],
    [(s) => (s.events = [{ name: 'e' }]), 'events\\[0\\].timeUnixNano is missing', ''],
    [
      (s) => (s.events = [{ name: '', timeUnixNano: '1700000000000000000' }]),
      'events\\[0\\].name is missing or empty',
      '',
    ],
    [
      (s) => (s.attributes = [{ key: 'n', value: { intValue: 'twelve' } }]),
      'attributes\\["n"\\].intValue must be a 64-bit integer',
      'invalid',
    ],
    [
      (s) => (s.attributes = [{ key: 'n', value: { intValue: '9223372036854775808' } }]),
      'attributes\\["n"\\].intValue must be a 64-bit integer',
      'invalid',
    ],
    [
      (s) => (s.attributes = [{ key: 'blkkin.level', value: { intValue: 9 } }]),
      'attributes\\["blkkin.level"\\] must be an integer 0–7 or an RFC 5424 level name, not 9',
      'invalid',
    ],
    [
      (s) => (s.attributes = [{ key: 'b', value: { bytesValue: [1, 2] } }]),
      'attributes\\["b"\\].bytesValue must be bytes, not an array',
      'invalid',
    ],
    [
      (s) => (s.attributes = [{ key: 'x', value: 'plain' }]),
      'attributes\\["x"\\] must be an AnyValue object, not a string',
      'malformed',
    ],
  ];
  for (const [mutate, message, reason] of cases) {
    const { request, span } = jsonRequest();
    // Make the mutated span the first one, so that the place is spans[0].
    const spans = ((request.resourceSpans as Json[])[0]!.scopeSpans as Json[])[0]!.spans as Json[];
    spans.splice(spans.indexOf(span), 1);
    spans.unshift(span);
    mutate(span);
    rejects(
      () => decodeOtlpJson(JSON.stringify(request)),
      new RegExp(place + message),
      reason || undefined,
    );
  }
});

test('bad ids in protobuf name the span and the field', () => {
  type PbSpan = { traceId: Uint8Array; spanId: Uint8Array; parentSpanId: Uint8Array };
  const cases: [(span: PbSpan) => void, string][] = [
    [(s) => (s.traceId = new Uint8Array(16)), 'traceId is all zeros'],
    [(s) => (s.traceId = new Uint8Array(8).fill(1)), 'traceId must be 16 bytes, not 8'],
    [(s) => (s.traceId = new Uint8Array(0)), 'traceId is missing'],
    [(s) => (s.spanId = new Uint8Array(8)), 'spanId is all zeros'],
    [(s) => (s.spanId = new Uint8Array(16).fill(1)), 'spanId must be 8 bytes, not 16'],
    [(s) => (s.parentSpanId = new Uint8Array(3).fill(1)), 'parentSpanId must be 8 bytes, not 3'],
  ];
  for (const [mutate, message] of cases) {
    const spans = record({ 'service.name': 'svc' }, (tracer) => {
      tracer.startSpan('one', { startTime: T0 }).end(at(1));
      tracer.startSpan('two', { startTime: T0 }).end(at(1));
    });
    const request = ExportTraceServiceRequest.decode(protobufOf(spans)) as unknown as {
      resourceSpans: { scopeSpans: { spans: PbSpan[] }[] }[];
    };
    mutate(request.resourceSpans[0]!.scopeSpans[0]!.spans[1]!);
    const body = ExportTraceServiceRequest.encode(request as never).finish();
    rejects(
      () => decodeOtlpProtobuf(body),
      new RegExp(String.raw`^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[1\]\.` + message),
      'invalid_id',
    );
  }
  // An all-zero parent reads as a root span.
  const spans = record({}, (tracer) => tracer.startSpan('root', { startTime: T0 }).end(at(1)));
  const request = ExportTraceServiceRequest.decode(protobufOf(spans)) as unknown as {
    resourceSpans: { scopeSpans: { spans: PbSpan[] }[] }[];
  };
  request.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.parentSpanId = new Uint8Array(8);
  const [root] = decodeOtlpProtobuf(ExportTraceServiceRequest.encode(request as never).finish());
  assert.equal(root!.parentId, undefined);
});

test('mangled bodies throw InvalidSpanError and nothing else', () => {
  // A small deterministic generator, so that a failure reproduces.
  let seed = 0x2545f491;
  const next = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const body = protobufOf(checkout());
  const text = jsonOf(checkout());
  const check = (run: () => unknown) => {
    try {
      const spans = run();
      assert.ok(Array.isArray(spans));
    } catch (err) {
      assert.ok(err instanceof InvalidSpanError, `threw ${String(err)}`);
    }
  };
  for (let round = 0; round < 400; round++) {
    const bytes = Uint8Array.from(body);
    for (let flips = 1 + (next() % 4); flips > 0; flips--) bytes[next() % bytes.length] = next();
    check(() => decodeOtlpProtobuf(bytes));
    check(() => decodeOtlpProtobuf(bytes.subarray(0, next() % bytes.length)));
    const random = Uint8Array.from({ length: next() % 64 }, () => next() & 0xff);
    check(() => decodeOtlpProtobuf(random));
    const chars = text.split('');
    chars[next() % chars.length] = String.fromCharCode(32 + (next() % 95));
    check(() => decodeOtlpJson(chars.join('')));
  }
  check(() => decodeOtlpProtobuf('not bytes' as unknown as Uint8Array));
  check(() => decodeOtlpJson(new Uint8Array(3) as unknown as string));
  const deep = '{"arrayValue":{"values":['.repeat(5000) + ']}}'.repeat(5000);
  check(() => decodeOtlpJson(text.replace('{"stringValue":"GET"}', deep)));
});
