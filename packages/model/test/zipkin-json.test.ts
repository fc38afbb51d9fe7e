import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeZipkinJson,
  encodeTracesJson,
  encodeTracesJsonBytes,
  encodeZipkinJson,
  encodeZipkinJsonBytes,
  spanToZipkinJson,
} from '../src/codec/zipkin-json.js';
import { DEFAULT_LIMITS } from '../src/limits.js';
import { InvalidSpanError, normalizeSpan } from '../src/normalize.js';
import type { Span } from '../src/span.js';
import { validSpan } from './arbitraries.js';

// ----- Arbitrary valid spans: raw spans that normalise, normalised.

// JSON carries any UTF-16, lone surrogates included.
const validJsonSpan = validSpan({
  strings: (maxLength) => fc.string({ unit: 'binary', maxLength }),
});

// ----- Fixtures.

const FULL: Span = normalizeSpan(
  {
    traceId: '463ac35c9f6413ad48485a3953bb6124',
    parentId: '6b221d5bc9e6496c',
    id: '5b4185666d50f68b',
    kind: 'CLIENT',
    name: 'get /api',
    timestamp: 1_700_000_000_123_456,
    duration: 2500,
    localEndpoint: { serviceName: 'frontend', ipv4: '192.168.99.1', port: 8080 },
    remoteEndpoint: { serviceName: 'backend', ipv6: '2001:db8::c001', port: 9000 },
    annotations: [
      { timestamp: 1_700_000_000_125_000, value: 'wr' },
      { timestamp: 1_700_000_000_124_000, value: 'ws', level: 6 },
    ],
    tags: { 'http.path': '/api', 'http.method': 'GET', quote: 'say "hi"\n' },
    debug: true,
    level: 0,
    node: 'node-1',
    clockOffset: -1234,
  },
  0,
);
const SERVER: Span = normalizeSpan(
  {
    traceId: '48485a3953bb6124',
    id: '6b221d5bc9e6496c',
    kind: 'SERVER',
    shared: true,
    localEndpoint: { serviceName: 'backend' },
  },
  1,
);

const FULL_JSON =
  '{"traceId":"463ac35c9f6413ad48485a3953bb6124","parentId":"6b221d5bc9e6496c",' +
  '"id":"5b4185666d50f68b","kind":"CLIENT","name":"get /api","timestamp":1700000000123456,' +
  '"duration":2500,' +
  '"localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","port":8080},' +
  '"remoteEndpoint":{"serviceName":"backend","ipv6":"2001:db8::c001","port":9000},' +
  '"annotations":[{"timestamp":1700000000124000,"value":"ws","level":6},' +
  '{"timestamp":1700000000125000,"value":"wr"}],' +
  '"tags":{"http.method":"GET","http.path":"/api","quote":"say \\"hi\\"\\n"},' +
  '"debug":true,"level":0,"node":"node-1","clockOffset":-1234}';
const SERVER_JSON =
  '{"traceId":"48485a3953bb6124","id":"6b221d5bc9e6496c","kind":"SERVER",' +
  '"localEndpoint":{"serviceName":"backend"},"shared":true}';

function refused(fn: () => unknown, reason: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidSpanError, `not an InvalidSpanError: ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

// ----- Tests.

test('golden: Zipkin v2 field order, blkkin extensions last, absent fields omitted', () => {
  assert.equal(encodeZipkinJson([FULL, SERVER]), `[${FULL_JSON},${SERVER_JSON}]`);
  assert.equal(JSON.stringify(spanToZipkinJson(FULL)), FULL_JSON);
  assert.equal(JSON.stringify(spanToZipkinJson(SERVER)), SERVER_JSON);
  assert.equal(encodeZipkinJson([]), '[]');
});

test('traces are a list of lists', () => {
  assert.equal(encodeTracesJson([]), '[]');
  assert.equal(
    encodeTracesJson([[FULL, SERVER], [SERVER], []]),
    `[[${FULL_JSON},${SERVER_JSON}],[${SERVER_JSON}],[]]`,
  );
});

test('the byte forms are the same documents, and never share memory between calls', () => {
  const utf8 = new TextDecoder();
  const first = encodeZipkinJsonBytes([FULL]);
  const firstText = utf8.decode(first);
  assert.equal(firstText, `[${FULL_JSON}]`);
  const big = Array.from({ length: 5000 }, () => FULL); // outgrows the kept scratch buffer
  assert.equal(utf8.decode(encodeZipkinJsonBytes(big)), encodeZipkinJson(big));
  assert.equal(
    utf8.decode(encodeTracesJsonBytes([[SERVER], [FULL]])),
    encodeTracesJson([[SERVER], [FULL]]),
  );
  assert.equal(utf8.decode(first), firstText);
  assert.equal(encodeZipkinJson([SERVER]), `[${SERVER_JSON}]`);
});

test('numbers: zero, negatives and the largest safe integers', () => {
  for (const clockOffset of [0, -1, 9, 10, 99_999_999, 100_000_000, -Number.MAX_SAFE_INTEGER]) {
    const span = { ...SERVER, timestamp: Number.MAX_SAFE_INTEGER, duration: 1e15, clockOffset };
    assert.deepEqual(JSON.parse(encodeZipkinJson([span])), [spanToZipkinJson(span)]);
  }
});

test('tags are written in ascending key order, integer-like keys included', () => {
  const span = { ...SERVER, tags: { b: '1', '10': '2', a: '3', '9': '4', __proto__x: '5' } };
  assert.match(
    encodeZipkinJson([span]),
    /"tags":\{"10":"2","9":"4","__proto__x":"5","a":"3","b":"1"\}/,
  );
});

test('an empty endpoint, annotation list or tag map is left out', () => {
  const span: Span = { ...SERVER, localEndpoint: {}, annotations: [], tags: {} };
  assert.equal(
    encodeZipkinJson([span]),
    '[{"traceId":"48485a3953bb6124","id":"6b221d5bc9e6496c","kind":"SERVER","shared":true}]',
  );
  assert.deepEqual(spanToZipkinJson(span), JSON.parse(encodeZipkinJson([span]))[0]);
});

test('decodes strings and UTF-8 bytes', () => {
  const body = encodeZipkinJson([FULL, SERVER]);
  assert.deepEqual(decodeZipkinJson(body), [FULL, SERVER]);
  assert.deepEqual(decodeZipkinJson(new TextEncoder().encode(body)), [FULL, SERVER]);
  assert.deepEqual(decodeZipkinJson(Buffer.from(`  ${body}\n`)), [FULL, SERVER]);
  assert.deepEqual(decodeZipkinJson('[]'), []);
});

test('property: any valid span survives encode -> decode unchanged', () => {
  fc.assert(
    fc.property(fc.array(validJsonSpan, { maxLength: 5 }), (spans) => {
      const body = encodeZipkinJson(spans);
      assert.deepEqual(decodeZipkinJson(body), spans);
      assert.deepEqual(decodeZipkinJson(Buffer.from(body)), spans);
      // spanToZipkinJson is the same document as an object, in the same order unless a tag key
      // is an array index (objects list those first).
      assert.deepEqual(JSON.parse(body), spans.map(spanToZipkinJson));
      const indexKey = (k: string) => /^(0|[1-9]\d*)$/.test(k);
      if (!spans.some((s) => Object.keys(s.tags ?? {}).some(indexKey))) {
        assert.equal(JSON.stringify(spans.map(spanToZipkinJson)), body);
      }
      assert.equal(encodeTracesJson([spans, spans]), `[${body},${body}]`);
    }),
    { numRuns: 300 },
  );
});

test('malformed JSON is refused with the parser message', () => {
  for (const body of ['', '[{"traceId":', 'nope', '[1,]', '\u0000']) {
    refused(() => decodeZipkinJson(body), 'malformed', /^not valid JSON: \S/);
  }
  refused(() => decodeZipkinJson(Uint8Array.of(0x5b, 0xff)), 'malformed', /^not valid JSON: /);
  refused(
    () => decodeZipkinJson('{"traceId":"1"}'),
    'malformed',
    /^expected a JSON array of spans, not an object$/,
  );
});

test('invalid spans are refused by the shared validation, naming span and field', () => {
  refused(
    () => decodeZipkinJson('[{"traceId":"1","id":"2"},{"traceId":"0","id":"2"}]'),
    'invalid_id',
    /^spans\[1\]\.traceId is all zeros/,
  );
  refused(
    () => decodeZipkinJson('[{"traceId":"1","id":"2","kind":"BOTH"}]'),
    'invalid',
    /^spans\[0\]\.kind must be CLIENT, SERVER, PRODUCER or CONSUMER, not "BOTH"$/,
  );
  refused(
    () =>
      decodeZipkinJson('[{"traceId":"1","id":"2"},{"traceId":"1","id":"3"}]', {
        ...DEFAULT_LIMITS,
        maxSpansPerBatch: 1,
      }),
    'too_large',
    /^batch has 2 spans, more than the limit of 1/,
  );
});

test('big documents encode and decode', () => {
  const many = Array.from({ length: 20_000 }, (_, i) => (i % 2 ? FULL : SERVER));
  const body = encodeZipkinJson(many);
  assert.equal(body.length, 10_000 * (FULL_JSON.length + SERVER_JSON.length + 2) + 1);
  assert.deepEqual(decodeZipkinJson(body), many);
});
