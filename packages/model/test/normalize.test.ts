import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidSpanError, normalizeSpan, normalizeSpans } from '../src/normalize.js';
import { normalizeSpanId, normalizeTraceId } from '../src/ids.js';
import { parseLevel } from '../src/levels.js';

// Validation at the boundary, as Zipkin's model does it, plus BlkKin's fields and bounds.

const base = { traceId: '86154a4ba6e91385', id: '86154a4ba6e91385' };

test('trace ids: lowercased, padded to 16 or 32, high zeros dropped, all zeros refused', () => {
  assert.equal(normalizeTraceId('ABC'), '0000000000000abc');
  assert.equal(normalizeTraceId('1'.repeat(17)), '000000000000000' + '1'.repeat(17));
  assert.equal(normalizeTraceId('0000000000000000463ac35c9f6413ad'), '463ac35c9f6413ad');
  assert.deepEqual(normalizeTraceId('0'.repeat(32)), { error: 'is all zeros' });
  assert.deepEqual(normalizeTraceId('x'), { error: 'is not hex' });
  assert.deepEqual(normalizeTraceId('a'.repeat(33)), { error: 'is longer than 32 hex digits' });
  assert.equal(normalizeSpanId('F'), '000000000000000f');
  assert.deepEqual(normalizeSpanId('0'), { error: 'is all zeros' });
  assert.deepEqual(normalizeSpanId('1'.repeat(17)), { error: 'is longer than 16 hex digits' });
});

test('Zipkin normalisation of a span', () => {
  const span = normalizeSpan(
    {
      ...base,
      traceId: '86154A4BA6E91385',
      parentId: '0000000000000000',
      name: 'GET /Volume',
      kind: 'SERVER',
      timestamp: 0,
      duration: 0,
      localEndpoint: { serviceName: 'OSD.2', ipv4: '::ffff:10.0.0.1', port: 0 },
      remoteEndpoint: { serviceName: '', port: 0 },
      annotations: [
        { timestamp: 20, value: 'b' },
        { timestamp: 10, value: 'a' },
        { timestamp: 20, value: 'b' },
      ],
      tags: { z: 'last', a: 1, m: true },
      debug: false,
      shared: true,
      unknownField: 'ignored',
    },
    0,
  );
  assert.deepEqual(span, {
    traceId: '86154a4ba6e91385',
    id: '86154a4ba6e91385',
    kind: 'SERVER',
    name: 'get /volume',
    localEndpoint: { serviceName: 'osd.2', ipv4: '10.0.0.1' },
    annotations: [
      { timestamp: 10, value: 'a' },
      { timestamp: 20, value: 'b' },
    ],
    tags: { a: '1', m: 'true', z: 'last' },
    shared: true,
  });
  assert.deepEqual(Object.keys(span.tags!), ['a', 'm', 'z']);
});

test('a span that is its own parent becomes a root; shared is dropped on a client', () => {
  const span = normalizeSpan({ ...base, parentId: base.id, kind: 'CLIENT', shared: true }, 0);
  assert.equal(span.parentId, undefined);
  assert.equal(span.shared, undefined);
});

test('BlkKin fields: level, node, clock offset', () => {
  const span = normalizeSpan(
    {
      ...base,
      level: 3,
      node: 'node-7',
      clockOffset: -1200,
      annotations: [{ timestamp: 5, value: 'x', level: 7 }],
    },
    0,
  );
  assert.equal(span.level, 3);
  assert.equal(span.node, 'node-7');
  assert.equal(span.clockOffset, -1200);
  assert.deepEqual(span.annotations, [{ timestamp: 5, value: 'x', level: 7 }]);
  assert.equal(parseLevel('WARNING'), 4);
  assert.equal(parseLevel('7'), 7);
  assert.equal(parseLevel(8), undefined);
});

test('errors name the span and the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ id: base.id }, /^spans\[0\]\.traceId is missing$/],
    [{ ...base, id: 'zz' }, /^spans\[0\]\.id is not hex: "zz"$/],
    [{ ...base, traceId: 7 }, /traceId must be a hex string, not a number/],
    [{ ...base, timestamp: -1 }, /timestamp must be a non-negative integer/],
    [{ ...base, duration: 1.5 }, /duration must be a non-negative integer/],
    [{ ...base, kind: 'server' }, /kind must be CLIENT, SERVER, PRODUCER or CONSUMER/],
    [{ ...base, localEndpoint: 'x' }, /localEndpoint must be an object/],
    [
      { ...base, remoteEndpoint: { port: 70000 } },
      /remoteEndpoint\.port must be an integer 0–65535/,
    ],
    [{ ...base, localEndpoint: { ipv6: 'fe80::zz' } }, /localEndpoint\.ipv6 is not an IP address/],
    [{ ...base, annotations: [{ value: 'x' }] }, /annotations\[0\]\.timestamp is missing/],
    [
      { ...base, annotations: [{ timestamp: 1, value: '' }] },
      /annotations\[0\]\.value is missing or empty/,
    ],
    [{ ...base, tags: { k: { nested: 1 } } }, /tags\["k"\] must be a string, not an object/],
    [{ ...base, tags: [] }, /tags must be an object, not an array/],
    [{ ...base, debug: 'yes' }, /debug must be a boolean/],
    [{ ...base, level: 8 }, /level must be an integer 0–7/],
    [{ ...base, clockOffset: 'x' }, /clockOffset must be an integer/],
    ['span', /spans\[0\] must be an object, not a string/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(
      () => normalizeSpan(raw, 0),
      (err: unknown) => {
        assert.ok(err instanceof InvalidSpanError);
        assert.match(err.message, message);
        return true;
      },
    );
  }
});

test('bounds: names, values, counts and batch size', () => {
  const limits = {
    maxSpansPerBatch: 2,
    maxNameLength: 8,
    maxValueLength: 10,
    maxTagsPerSpan: 2,
    maxAnnotationsPerSpan: 1,
  };
  const tooLarge = (raw: unknown, message: RegExp) =>
    assert.throws(
      () => normalizeSpans(raw, limits),
      (err: unknown) => {
        assert.ok(err instanceof InvalidSpanError);
        assert.equal(err.reason, 'too_large');
        assert.match(err.message, message);
        return true;
      },
    );
  tooLarge([{ ...base, name: 'n'.repeat(9) }], /spans\[0\]\.name is longer than 8 characters/);
  tooLarge([{ ...base, tags: { k: 'v'.repeat(11) } }], /tags\["k"\] is longer than 10/);
  tooLarge([{ ...base, tags: { a: '1', b: '2', c: '3' } }], /tags has more than 2 entries/);
  tooLarge(
    [
      {
        ...base,
        annotations: [
          { timestamp: 1, value: 'a' },
          { timestamp: 2, value: 'b' },
        ],
      },
    ],
    /annotations has more than 1/,
  );
  tooLarge([base, base, base], /batch has 3 spans, more than the limit of 2/);
  assert.throws(() => normalizeSpans({}), /expected a JSON array of spans, not an object/);
  assert.equal(normalizeSpans([base, base], limits).length, 2);
});
