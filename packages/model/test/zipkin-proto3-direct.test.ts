import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeZipkinProto3, encodeZipkinProto3 } from '../src/codec/zipkin-proto3.js';
import { normalizeSpans } from '../src/normalize.js';
import type { Span } from '../src/span.js';

// The proto3 reader makes normalised spans itself, with the rules normalizeSpans uses: for spans
// that need normalising (the encoder writes what it is given), both must give the same spans,
// down to the order of their keys.

const TRACE = '463ac35c9f6413ad48485a3953bb6124';
const raw = [
  {
    traceId: '0000000000000000' + '48485a3953bb6124',
    id: '0000000000000002',
    parentId: '0000000000000002',
    kind: 'CLIENT',
    name: 'GET /Objects',
    timestamp: 1_700_000_000_000_001,
    duration: 12,
    localEndpoint: { serviceName: 'RadosGW', ipv4: '10.0.0.1', port: 8080 },
    remoteEndpoint: { ipv6: '::ffff:10.1.2.3' },
    annotations: [
      { timestamp: 1_700_000_000_000_009, value: 'b' },
      { timestamp: 1_700_000_000_000_002, value: 'a', level: 0 },
      { timestamp: 1_700_000_000_000_009, value: 'b' },
      { timestamp: 1_700_000_000_000_009, value: 'a' },
    ],
    tags: { zeta: '1', __proto__x: '2', alpha: '3', '10': 'ten', '9': 'nine' },
    shared: true,
    debug: true,
    level: 0,
    node: 'Node-A',
    clockOffset: 0,
  },
  {
    traceId: TRACE,
    id: '00000000000000a1',
    parentId: '0000000000000000',
    kind: 'SERVER',
    shared: true,
    remoteEndpoint: { ipv6: '2001:db8::1', port: 0 },
    localEndpoint: {},
    clockOffset: -123_456,
  },
  { traceId: TRACE, id: '00000000000000a2', parentId: '00000000000000a1', name: '' },
] as unknown as Span[];

test('proto3 reader gives what normalizeSpans gives, key order included', () => {
  const withProto = JSON.parse(JSON.stringify(raw)) as Record<string, unknown>[];
  Object.defineProperty(withProto[2]!, 'tags', {
    value: JSON.parse('{"__proto__":"p","b":"x","a":"y"}') as unknown,
    enumerable: true,
    writable: true,
    configurable: true,
  });
  const expected = normalizeSpans(withProto);
  const decoded = decodeZipkinProto3(encodeZipkinProto3(withProto as unknown as Span[]));
  assert.deepEqual(decoded, expected);
  assert.equal(JSON.stringify(decoded), JSON.stringify(expected));
  assert.equal(decoded[2]!.tags!['__proto__'], 'p');
  assert.equal(decoded[0]!.parentId, undefined);
  assert.equal(decoded[0]!.shared, undefined);
  assert.equal(decoded[0]!.traceId, '48485a3953bb6124');
  assert.equal(decoded[0]!.remoteEndpoint!.ipv4, '10.1.2.3');
  assert.equal(decoded[0]!.annotations!.length, 3);
});

test('proto3 reader gives a repeated tag key its last value', () => {
  const spans = encodeZipkinProto3([
    { traceId: TRACE, id: '00000000000000a1', tags: { b: '1', a: '2' } },
  ]);
  // The same span with its first tag entry (b=1) again at the end, as b=3.
  const extra = Uint8Array.from([0x5a, 0x06, 0x0a, 0x01, 0x62, 0x12, 0x01, 0x33]);
  const body = new Uint8Array(spans.length + extra.length);
  body.set(spans);
  body.set(extra, spans.length);
  body[1] = body[1]! + extra.length; // one-byte span length in this small span
  assert.deepEqual(decodeZipkinProto3(body), [
    { traceId: TRACE, id: '00000000000000a1', tags: { a: '2', b: '3' } },
  ]);
});
