import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TraceFlags,
  contextFromHex,
  spanIdHex,
  traceIdHex,
  type SpanContext,
} from '../src/context.js';
import {
  BINARY_CONTEXT_LENGTH,
  BLKIN_TRACE_INFO_LENGTH,
  b3Multi,
  b3Single,
  decodeBinaryContext,
  decodeBlkinTraceInfo,
  encodeBinaryContext,
  encodeBlkinTraceInfo,
  extract,
  extractParent,
  extractSampling,
  formatB3Single,
  formatTraceparent,
  fromBlkinTraceInfo,
  inject,
  normalizeTracestate,
  parseB3Single,
  parseTraceparent,
  samplingContext,
  textFormat,
  toBlkinTraceInfo,
  w3c,
  writeBinaryContext,
  writeBlkinTraceInfo,
} from '../src/propagation/index.js';
import { createTracer } from '../src/tracer.js';
import { Levels } from '../src/levels.js';
import type { ExportedSpan } from '../src/options.js';

const SAMPLED = TraceFlags.SAMPLED | TraceFlags.DECIDED;
const DENIED = TraceFlags.DECIDED;
const DEBUG = TraceFlags.DEBUG | TraceFlags.SAMPLED | TraceFlags.DECIDED;

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const PARENT = '05e3ac9a4f6e3b90';

function ctx(trace = TRACE, span = SPAN, parent?: string, flags = SAMPLED): SpanContext {
  const c = contextFromHex(trace, span, parent, flags);
  assert.ok(c);
  return c;
}

// ----- W3C

test('w3c: traceparent written as version 00, read back', () => {
  const c = ctx(TRACE, SPAN, PARENT);
  const headers: Record<string, string> = {};
  inject(c, headers, 'w3c');
  assert.deepEqual(headers, { traceparent: `00-${TRACE}-${SPAN}-01` });
  const back = extract(headers, 'w3c');
  // The parent id does not travel in W3C: the receiver's span is a child of SPAN.
  assert.deepEqual(back, { ...c, p0: 0, p1: 0 });
  inject(ctx(TRACE, SPAN, undefined, DENIED), headers, w3c);
  assert.equal(headers.traceparent, `00-${TRACE}-${SPAN}-00`);
  assert.equal(extract(headers)?.flags, DENIED);
  // Debug has no W3C bit: it is written as sampled.
  assert.equal(formatTraceparent(ctx(TRACE, SPAN, undefined, TraceFlags.DEBUG)).slice(-2), '01');
});

test('w3c: a 64-bit trace id is zero-padded to 32 digits and read back as 64-bit', () => {
  const c = ctx('a3ce929d0e0e4736', SPAN);
  assert.equal(formatTraceparent(c), `00-0000000000000000a3ce929d0e0e4736-${SPAN}-01`);
  const back = parseTraceparent(formatTraceparent(c));
  assert.equal(back && traceIdHex(back), 'a3ce929d0e0e4736');
});

test('w3c: invalid traceparents are rejected', () => {
  const ok = `00-${TRACE}-${SPAN}-01`;
  assert.ok(parseTraceparent(ok));
  const bad = [
    '',
    'garbage',
    `ff-${TRACE}-${SPAN}-01`, // version ff
    `00-${TRACE}-${SPAN}-01-extra`, // version 00 must be exactly 55 characters
    `00-${'0'.repeat(32)}-${SPAN}-01`, // zero trace id
    `00-${TRACE}-${'0'.repeat(16)}-01`, // zero parent id
    `00-${TRACE.toUpperCase()}-${SPAN}-01`, // uppercase
    `00-${TRACE}-${SPAN}-0g`,
    `0-${TRACE}-${SPAN}-01`,
    `00-${TRACE.slice(1)}-${SPAN}-01`,
    `00-${TRACE}-${SPAN.slice(1)}-01`,
    `00_${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01,00-${TRACE}-${SPAN}-01`,
    `01-${TRACE}-${SPAN}-01x`, // future version: the 56th character must be '-'
    `zz-${TRACE}-${SPAN}-01`,
  ];
  for (const value of bad) assert.equal(parseTraceparent(value), undefined, value);
  // Repeated headers (an array of two) are invalid.
  assert.equal(extract({ traceparent: [ok, ok] }), undefined);
  assert.ok(extract({ traceparent: [ok] }));
});

test('w3c: future versions are read as version 00 when they follow its layout', () => {
  const c = parseTraceparent(`cc-${TRACE}-${SPAN}-09-what-the-future-will-be-like`);
  assert.ok(c);
  assert.equal(traceIdHex(c), TRACE);
  assert.equal(spanIdHex(c), SPAN);
  assert.equal(c.flags, SAMPLED);
  assert.ok(parseTraceparent(`01-${TRACE}-${SPAN}-00`));
  assert.ok(parseTraceparent(`  00-${TRACE}-${SPAN}-00\t`), 'optional whitespace is trimmed');
});

test('w3c: tracestate passed through, normalised and bounded', () => {
  const headers = {
    traceparent: `00-${TRACE}-${SPAN}-01`,
    tracestate: 'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE',
  };
  const c = extract(headers);
  assert.equal(c?.traceState, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  const out: Record<string, string> = {};
  inject(c!, out);
  assert.equal(out.tracestate, 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  // Several tracestate headers are one list.
  assert.equal(
    extract({ traceparent: headers.traceparent, tracestate: ['a=1', 'b=2'] })?.traceState,
    'a=1,b=2',
  );
  // No traceparent: no tracestate either.
  assert.equal(extract({ tracestate: 'a=1' }), undefined);
  // Invalid members, duplicates and empty members dropped.
  assert.equal(normalizeTracestate('a=1,,B=2,c=,d=x=y,a=3, e@f=ok ,9=no'), 'a=1,e@f=ok');
  assert.equal(normalizeTracestate(''), undefined);
  assert.equal(normalizeTracestate('nothing valid'), undefined);
  // At most 32 members.
  const many = Array.from({ length: 40 }, (_, i) => `k${i}=v`).join(',');
  assert.equal(normalizeTracestate(many)?.split(',').length, 32);
  // At most 512 characters: long members (> 128) go first, then from the end.
  const long = 'big=' + 'x'.repeat(200);
  const members = [long, ...Array.from({ length: 30 }, (_, i) => `key${i}=${'v'.repeat(10)}`)];
  const state = normalizeTracestate(members.join(','))!;
  assert.ok(state.length <= 512);
  assert.ok(!state.includes('big='));
  assert.ok(state.startsWith('key0='));
  assert.equal(normalizeTracestate('a=' + 'x'.repeat(10_000)), undefined);
});

// ----- B3

test('b3 single: all the shapes of the specification', () => {
  const c = ctx(TRACE, SPAN, PARENT);
  assert.equal(formatB3Single(c), `${TRACE}-${SPAN}-1-${PARENT}`);
  assert.deepEqual(parseB3Single(formatB3Single(c)), c);
  assert.equal(formatB3Single(ctx(TRACE, SPAN, PARENT, DENIED)), `${TRACE}-${SPAN}-0-${PARENT}`);
  assert.equal(formatB3Single(ctx(TRACE, SPAN, undefined, DEBUG)), `${TRACE}-${SPAN}-d`);
  // Undecided: no sampling state, hence no parent either.
  assert.equal(formatB3Single(ctx(TRACE, SPAN, PARENT, 0)), `${TRACE}-${SPAN}`);
  assert.equal(
    formatB3Single(ctx('a3ce929d0e0e4736', SPAN, undefined)),
    `a3ce929d0e0e4736-${SPAN}-1`,
  );
  // Sampling state only.
  assert.equal(parseB3Single('0'), DENIED);
  assert.equal(parseB3Single('1'), SAMPLED);
  assert.equal(parseB3Single('d'), DEBUG);
  assert.equal(extract({ b3: '0' }, 'b3'), undefined);
  assert.equal(extractSampling({ b3: '0' }, 'b3'), DENIED);
  assert.equal(extractSampling({ b3: 'd' }, 'b3-single'), DEBUG);
  assert.equal(extractSampling({ b3: `${TRACE}-${SPAN}` }, 'b3'), undefined);
  const deferred = parseB3Single(`${TRACE}-${SPAN}`);
  assert.equal(typeof deferred === 'object' && deferred.flags, 0);
  for (const bad of [
    '',
    '2',
    'true',
    `${TRACE}`,
    `${TRACE}-`,
    `${TRACE}-${SPAN}-`,
    `${TRACE}-${SPAN}-x`,
    `${TRACE}-${SPAN}-1-`,
    `${TRACE}-${SPAN}-1-${PARENT}0`,
    `${TRACE}-${SPAN}-10`,
    `${TRACE.toUpperCase()}-${SPAN}-1`,
    `${TRACE.slice(2)}-${SPAN}-1`,
    `${TRACE}-${SPAN.slice(2)}-1`,
    `${'0'.repeat(32)}-${SPAN}-1`,
    `${TRACE}-${'0'.repeat(16)}-1`,
  ])
    assert.equal(parseB3Single(bad), undefined, bad);
});

test('b3 multi: headers written and read, case-insensitively', () => {
  const c = ctx(TRACE, SPAN, PARENT);
  const headers: Record<string, string> = {};
  inject(c, headers, 'b3-multi');
  assert.deepEqual(headers, {
    'x-b3-traceid': TRACE,
    'x-b3-spanid': SPAN,
    'x-b3-parentspanid': PARENT,
    'x-b3-sampled': '1',
  });
  assert.deepEqual(extract(headers, 'b3'), c);
  const debug: Record<string, string> = {};
  inject(ctx(TRACE, SPAN, undefined, DEBUG), debug, 'b3');
  assert.deepEqual(debug, { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-flags': '1' });
  assert.equal(extract(debug, 'b3')?.flags, DEBUG);
  // Zipkin's spelling, legacy sampled values, short ids (leading zeros dropped), uppercase.
  const zipkinStyle = {
    'X-B3-TraceId': 'A3CE929D0E0E4736',
    'X-B3-SpanId': 'f067aa0ba902b7',
    'X-B3-Sampled': 'true',
  };
  const z = extract(zipkinStyle, 'b3');
  assert.ok(z);
  assert.equal(traceIdHex(z), 'a3ce929d0e0e4736');
  assert.equal(spanIdHex(z), SPAN);
  assert.equal(z.flags, SAMPLED);
  assert.equal(extract({ ...zipkinStyle, 'X-B3-Sampled': 'false' }, 'b3')?.flags, DENIED);
  assert.equal(extract({ ...zipkinStyle, 'X-B3-Sampled': 'maybe' }, 'b3')?.flags, 0);
  assert.equal(extract({ ...zipkinStyle, 'X-B3-SpanId': 'nothex' }, 'b3'), undefined);
  assert.equal(extract({ 'x-b3-spanid': SPAN }, 'b3'), undefined);
  assert.equal(extractSampling({ 'x-b3-sampled': '0' }, 'b3'), DENIED);
  assert.equal(extractSampling({ 'x-b3-flags': '1' }, 'b3-multi'), DEBUG);
  // The single header wins over the multi headers.
  const mixed = { ...headers, b3: `${'1'.repeat(32)}-${SPAN}-0` };
  assert.equal(traceIdHex(extract(mixed, 'b3')!), '1'.repeat(32));
  // Injecting into a carrier that has another spelling replaces it.
  const other: Record<string, string> = { 'X-B3-TraceId': 'old' };
  inject(c, other, b3Multi);
  assert.equal(other['X-B3-TraceId'], undefined);
  assert.equal(other['x-b3-traceid'], TRACE);
});

test('formats: both, lists, Headers, Map, and Node-style getHeader/setHeader carriers', () => {
  const c = ctx(TRACE, SPAN, PARENT);
  const headers = new Headers();
  inject(c, headers, 'both');
  assert.equal(headers.get('traceparent'), `00-${TRACE}-${SPAN}-01`);
  assert.equal(headers.get('X-B3-SpanId'), SPAN);
  assert.deepEqual(extract(headers, 'both'), { ...c, p0: 0, p1: 0 }, 'W3C is read first');
  headers.delete('traceparent');
  assert.deepEqual(extract(headers, 'both'), c);
  const map = new Map<string, string>();
  inject(c, map, ['b3-single', 'w3c']);
  assert.equal(map.get('b3'), `${TRACE}-${SPAN}-1-${PARENT}`);
  assert.deepEqual(extract(map, ['w3c', b3Single]), { ...c, p0: 0, p1: 0 });
  const stored = new Map<string, string>();
  const outgoing = {
    setHeader: (k: string, v: string) => stored.set(k, v),
    getHeader: (k: string) => stored.get(k),
  };
  inject(c, outgoing, 'b3-single');
  assert.deepEqual(extract(outgoing, 'b3'), c);
  assert.equal(textFormat('both').name, 'w3c+b3');
  assert.throws(() => textFormat('nope' as 'w3c'), TypeError);
  // Unknown names at call time never throw.
  assert.equal(extract({}, 'nope' as 'w3c'), undefined);
  inject(c, {}, 'nope' as 'w3c');
});

test('contexts without ids carry only the sampling decision', () => {
  const unsampled = samplingContext(DENIED);
  const headers: Record<string, string> = {};
  inject(unsampled, headers, ['w3c', 'b3-single', 'b3-multi']);
  assert.deepEqual(headers, { b3: '0', 'x-b3-sampled': '0' });
  const debug: Record<string, string> = {};
  inject(samplingContext(DEBUG), debug, ['b3-single', 'b3-multi']);
  assert.deepEqual(debug, { b3: 'd', 'x-b3-flags': '1' });
  const undecided: Record<string, string> = {};
  inject(samplingContext(0), undecided, 'both');
  assert.deepEqual(undecided, {});
  assert.deepEqual(extractParent(headers, 'b3'), unsampled);
  assert.deepEqual(extractParent({ 'x-b3-flags': '1' }, 'both'), samplingContext(DEBUG));
  assert.equal(extractParent({}, 'both'), undefined);
  const c = ctx(TRACE, SPAN);
  assert.deepEqual(extractParent({ b3: formatB3Single(c) }, 'both'), c);
});

test('hostile carriers never throw', () => {
  const c = ctx();
  const throwing = {
    get() {
      throw new Error('boom');
    },
    set() {
      throw new Error('boom');
    },
  };
  const frozen = Object.freeze({});
  const proxy = new Proxy(
    {},
    {
      get() {
        throw new Error('boom');
      },
      ownKeys() {
        throw new Error('boom');
      },
    },
  );
  for (const carrier of [throwing, frozen, proxy, null, undefined, 42, 'text']) {
    for (const format of ['w3c', 'b3', 'b3-single', 'b3-multi', 'both'] as const) {
      assert.equal(extract(carrier as object, format), undefined);
      assert.equal(extractSampling(carrier as object, format), undefined);
      inject(c, carrier as object, format);
    }
  }
  const odd = { traceparent: 42, b3: { x: 1 }, 'x-b3-traceid': [1, 2], 'x-b3-spanid': null };
  for (const format of ['w3c', 'b3', 'both'] as const)
    assert.equal(extract(odd, format), undefined);
});

// ----- Binary

test('binary context: layout, level, writing in place, rejection', () => {
  const c = ctx(TRACE, SPAN, PARENT, DEBUG);
  const bytes = encodeBinaryContext(c, 5);
  assert.equal(bytes.length, BINARY_CONTEXT_LENGTH);
  assert.equal(
    Buffer.from(bytes).toString('hex'),
    '00' + TRACE + SPAN + (0x40 | (5 << 3) | 7).toString(16),
  );
  assert.deepEqual(decodeBinaryContext(bytes), { ...c, p0: 0, p1: 0, level: 5 });
  const noLevel = decodeBinaryContext(encodeBinaryContext(ctx(TRACE, SPAN, undefined, DENIED)));
  assert.deepEqual(noLevel, ctx(TRACE, SPAN, undefined, DENIED));
  assert.equal(noLevel && 'level' in noLevel, false);
  // In place, at an offset, in a larger frame.
  const frame = new Uint8Array(64).fill(0xee);
  assert.equal(writeBinaryContext(c, frame, 10, 0), 10 + BINARY_CONTEXT_LENGTH);
  assert.equal(frame[9], 0xee);
  assert.equal(frame[36], 0xee);
  assert.deepEqual(decodeBinaryContext(frame, 10), { ...c, p0: 0, p1: 0, level: 0 });
  assert.throws(() => writeBinaryContext(c, frame, 40), RangeError);
  // Invalid levels are not written.
  assert.equal(decodeBinaryContext(encodeBinaryContext(c, 9))?.level, undefined);
  // Rejections.
  assert.equal(decodeBinaryContext(bytes.subarray(0, 25)), undefined);
  assert.equal(decodeBinaryContext(bytes, 1), undefined);
  assert.equal(decodeBinaryContext(bytes, -1), undefined);
  assert.equal(decodeBinaryContext(bytes, 0.5), undefined);
  assert.equal(decodeBinaryContext(new Uint8Array(26)), undefined);
  const v1 = bytes.slice();
  v1[0] = 1;
  assert.equal(decodeBinaryContext(v1), undefined);
  assert.equal(decodeBinaryContext(null as unknown as Uint8Array), undefined);
});

// ----- BlkKin

test('blkin trace info: 24 big-endian bytes, signed int64 view, 128-bit trace ids keep the low half', () => {
  const c = ctx('a3ce929d0e0e4736', SPAN, PARENT);
  const bytes = encodeBlkinTraceInfo(c);
  assert.equal(bytes.length, BLKIN_TRACE_INFO_LENGTH);
  assert.equal(Buffer.from(bytes).toString('hex'), 'a3ce929d0e0e4736' + SPAN + PARENT);
  // As the C struct reads it: int64 big-endian, negative when the top bit is set.
  const view = Buffer.from(bytes);
  assert.equal(view.readBigInt64BE(0), BigInt.asIntN(64, 0xa3ce929d0e0e4736n));
  assert.ok(view.readBigInt64BE(0) < 0n);
  assert.deepEqual(toBlkinTraceInfo(c), {
    traceId: view.readBigInt64BE(0),
    spanId: view.readBigInt64BE(8),
    parentSpanId: view.readBigInt64BE(16),
  });
  assert.deepEqual(decodeBlkinTraceInfo(bytes), c);
  assert.deepEqual(fromBlkinTraceInfo(toBlkinTraceInfo(c)), c);
  assert.deepEqual(decodeBlkinTraceInfo(bytes, 0, DENIED), { ...c, flags: DENIED });
  // 128-bit: the low 64 bits travel.
  const wide = ctx(TRACE, SPAN);
  assert.equal(traceIdHex(decodeBlkinTraceInfo(encodeBlkinTraceInfo(wide))!), TRACE.slice(16));
  // Root span: parent 0.
  const root = decodeBlkinTraceInfo(encodeBlkinTraceInfo(ctx('1', '2')));
  assert.deepEqual([root?.p0, root?.p1], [0, 0]);
  // In place.
  const frame = new Uint8Array(30);
  assert.equal(writeBlkinTraceInfo(c, frame, 6), 30);
  assert.deepEqual(decodeBlkinTraceInfo(frame, 6), c);
  assert.throws(() => writeBlkinTraceInfo(c, frame, 7), RangeError);
  // Rejections: short, zero trace id, zero span id.
  assert.equal(decodeBlkinTraceInfo(bytes.subarray(1)), undefined);
  assert.equal(decodeBlkinTraceInfo(new Uint8Array(24)), undefined);
  const noSpan = bytes.slice();
  noSpan.fill(0, 8, 16);
  assert.equal(decodeBlkinTraceInfo(noSpan), undefined);
  assert.equal(fromBlkinTraceInfo({ traceId: 0n, spanId: 1n, parentSpanId: 0n }), undefined);
  assert.equal(fromBlkinTraceInfo({ traceId: -1n, spanId: 1n, parentSpanId: 0n })?.t2, 0xffffffff);
  assert.equal(
    fromBlkinTraceInfo(
      null as unknown as { traceId: bigint; spanId: bigint; parentSpanId: bigint },
    ),
    undefined,
  );
});

// ----- With the tracer: what a receiver starts from an extracted context is a child.

test('with a real tracer: every format makes the receiver a child of the sender', async () => {
  const spans: ExportedSpan[] = [];
  const tracer = createTracer({
    service: 'propagation',
    exporter: { type: 'custom', export: (batch) => void spans.push(...batch) },
    flushOnExit: false,
  });
  try {
    const sender = tracer.startSpan('send', { kind: 'PRODUCER', level: Levels.notice });
    const frame = Buffer.alloc(4 + BINARY_CONTEXT_LENGTH);
    writeBinaryContext(sender.context, frame, 4, Levels.notice);
    const fromBinary = decodeBinaryContext(frame, 4);
    const headers: Record<string, string> = {};
    inject(sender.context, headers, 'both');
    const parents = [
      fromBinary,
      decodeBlkinTraceInfo(encodeBlkinTraceInfo(sender.context)),
      extractParent(headers, 'w3c'),
      extractParent(headers, 'b3'),
    ];
    for (const [i, parent] of parents.entries()) {
      assert.ok(parent);
      tracer
        .startSpan(`receive ${i}`, { kind: 'CONSUMER', parent, level: fromBinary?.level })
        .end();
    }
    sender.end();
    await tracer.flush();
    const send = spans.find((s) => s.name === 'send')!;
    assert.equal(spans.length, 5);
    for (let i = 0; i < 4; i++) {
      const r = spans.find((s) => s.name === `receive ${i}`)!;
      assert.equal(r.parentId, send.id);
      // BlkKin's form keeps only the low 64 bits of the trace id.
      assert.equal(r.traceId, i === 1 ? send.traceId.slice(-16) : send.traceId);
      assert.equal(r.level, Levels.notice);
    }
  } finally {
    await tracer.close();
  }
});
