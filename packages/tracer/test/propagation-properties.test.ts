// Property tests (fast-check) for every propagation encoding: encode -> decode is the identity on
// valid contexts (up to what each format carries), and arbitrary input never throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TraceFlags, type SpanContext } from '../src/context.js';
import {
  BINARY_CONTEXT_LENGTH,
  BLKIN_TRACE_INFO_LENGTH,
  decodeBinaryContext,
  decodeBlkinTraceInfo,
  encodeBinaryContext,
  encodeBlkinTraceInfo,
  extract,
  extractSampling,
  formatB3Single,
  formatTraceparent,
  fromBlkinTraceInfo,
  inject,
  normalizeFlags,
  normalizeTracestate,
  parseB3Single,
  parseTraceparent,
  toBlkinTraceInfo,
  writeBinaryContext,
  type FormatName,
} from '../src/propagation/index.js';
import { spanContextArb, word } from './arbitraries.js';

const RUNS = { numRuns: 2000 };

// Edge words are where sign and padding bugs live.
const edgyWord = fc.oneof(word, fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));

const tracestateMember = fc
  .tuple(
    fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,8}(@[a-z][a-z0-9]{0,4})?$/),
    fc.stringMatching(/^[!-+\--<>-~]{1,12}$/),
  )
  .map(([k, v]) => [k, v] as const);
const tracestate = fc
  .uniqueArray(tracestateMember, { minLength: 1, maxLength: 8, selector: ([k]) => k })
  .map((members) => members.map(([k, v]) => `${k}=${v}`).join(','));

const contextArb = spanContextArb(edgyWord, tracestate);

function withoutState(c: SpanContext): SpanContext {
  const { traceState: _, ...rest } = c;
  return rest;
}

/** Every id word a uint32, trace and span ids not zero: what a decoder may return. */
function assertValid(c: SpanContext | undefined): void {
  if (c === undefined) return;
  for (const w of [c.t0, c.t1, c.t2, c.t3, c.s0, c.s1, c.p0, c.p1])
    assert.ok(Number.isInteger(w) && w >= 0 && w <= 0xffffffff);
  assert.ok(c.t0 | c.t1 | c.t2 | c.t3);
  assert.ok(c.s0 | c.s1);
  assert.equal(c.flags & ~7, 0);
}

test('w3c: inject -> extract is the identity on trace id, span id, sampling and tracestate', () => {
  fc.assert(
    fc.property(contextArb, (c) => {
      const headers: Record<string, string> = {};
      inject(c, headers, 'w3c');
      const sampled = c.flags & (TraceFlags.SAMPLED | TraceFlags.DEBUG);
      const expected: SpanContext = {
        ...c,
        p0: 0,
        p1: 0,
        flags: sampled ? TraceFlags.SAMPLED | TraceFlags.DECIDED : TraceFlags.DECIDED,
      };
      assert.deepEqual(extract(headers, 'w3c'), expected);
      assert.deepEqual(parseTraceparent(formatTraceparent(c)), withoutState(expected));
    }),
    RUNS,
  );
});

test('b3 single and multi: inject -> extract is the identity (flags normalised)', () => {
  fc.assert(
    fc.property(contextArb, (c) => {
      const flags = normalizeFlags(c.flags);
      const base = { ...withoutState(c), flags };
      const multi: Record<string, string> = {};
      inject(c, multi, 'b3-multi');
      assert.deepEqual(extract(multi, 'b3'), base);
      const single: Record<string, string> = {};
      inject(c, single, 'b3-single');
      // Without a sampling state the single header has no room for the parent.
      const expected = flags === 0 ? { ...base, p0: 0, p1: 0 } : base;
      assert.deepEqual(extract(single, 'b3'), expected);
      assert.deepEqual(parseB3Single(formatB3Single(c)), expected);
    }),
    RUNS,
  );
});

test('binary context: encode -> decode is the identity, in place at any offset', () => {
  fc.assert(
    fc.property(
      contextArb,
      fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }),
      fc.integer({ min: 0, max: 40 }),
      (c, level, offset) => {
        const expected = {
          ...withoutState(c),
          p0: 0,
          p1: 0,
          flags: normalizeFlags(c.flags),
          ...(level !== undefined ? { level } : {}),
        };
        assert.deepEqual(decodeBinaryContext(encodeBinaryContext(c, level)), expected);
        const frame = new Uint8Array(offset + BINARY_CONTEXT_LENGTH + 3);
        assert.equal(writeBinaryContext(c, frame, offset, level), offset + BINARY_CONTEXT_LENGTH);
        assert.deepEqual(decodeBinaryContext(frame, offset), expected);
      },
    ),
    RUNS,
  );
});

test('blkin trace info: encode -> decode is the identity on the low 64 bits', () => {
  fc.assert(
    fc.property(
      contextArb.filter((c) => (c.t2 | c.t3) !== 0),
      (c) => {
        const expected = { ...withoutState(c), t0: 0, t1: 0 };
        assert.deepEqual(decodeBlkinTraceInfo(encodeBlkinTraceInfo(c), 0, c.flags), expected);
        assert.deepEqual(fromBlkinTraceInfo(toBlkinTraceInfo(c), c.flags), expected);
        const bytes = Buffer.from(encodeBlkinTraceInfo(c));
        assert.equal(bytes.readBigInt64BE(0), toBlkinTraceInfo(c).traceId);
        assert.equal(bytes.readBigInt64BE(8), toBlkinTraceInfo(c).spanId);
        assert.equal(bytes.readBigInt64BE(16), toBlkinTraceInfo(c).parentSpanId);
      },
    ),
    RUNS,
  );
});

// ----- Hostile input

/** Valid header values, then mutated: the interesting garbage is nearly valid. */
function mutated(valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const edit = fc.record({
    at: fc.nat(),
    kind: fc.constantFrom('replace', 'insert', 'delete', 'truncate', 'upper'),
    ch: fc.constantFrom('-', '0', 'f', 'F', 'g', ' ', '\t', ',', '=', 'd', '1', 'é', '\u0000'),
  });
  return fc.tuple(valid, fc.array(edit, { maxLength: 4 })).map(([text, edits]) => {
    let s = text;
    for (const { at, kind, ch } of edits) {
      const i = s.length === 0 ? 0 : at % s.length;
      if (kind === 'replace') s = s.slice(0, i) + ch + s.slice(i + 1);
      else if (kind === 'insert') s = s.slice(0, i) + ch + s.slice(i);
      else if (kind === 'delete') s = s.slice(0, i) + s.slice(i + 1);
      else if (kind === 'truncate') s = s.slice(0, i);
      else s = s.toUpperCase();
    }
    return s;
  });
}

const validTraceparent = contextArb.map(formatTraceparent);
const validB3 = contextArb.map(formatB3Single);
const anyString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.string({ unit: fc.constantFrom('0', '1', 'a', 'f', 'd', '-', ' '), maxLength: 80 }),
);
const headerText = fc.oneof(anyString, mutated(validTraceparent), mutated(validB3));
const headerValue = fc.oneof(
  headerText,
  fc.array(headerText, { maxLength: 3 }),
  fc.constantFrom(undefined, null, 42, true, {}, [1, 2]),
);
const FIELDS = [
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'X-B3-TraceId',
  'TraceParent',
];
const carrierArb = fc.dictionary(fc.constantFrom(...FIELDS), headerValue, { maxKeys: 8 });
const FORMATS: FormatName[] = ['w3c', 'b3', 'b3-single', 'b3-multi', 'both'];

test('header formats: arbitrary carriers never throw, and what they return is valid', () => {
  fc.assert(
    fc.property(carrierArb, (carrier) => {
      for (const format of FORMATS) {
        const c = extract(carrier, format);
        assertValid(c);
        const s = extractSampling(carrier, format);
        assert.ok(s === undefined || (s & ~7) === 0);
        // What was read writes back and reads again the same (within the format's reach).
        if (c !== undefined) {
          const again: Record<string, string> = {};
          inject(c, again, format);
          assertValid(extract(again, format));
        }
        const h = new Headers();
        for (const [k, v] of Object.entries(carrier))
          if (typeof v === 'string') {
            try {
              h.set(k, v);
            } catch {
              // Not a valid header value for fetch: skip.
            }
          }
        assertValid(extract(h, format));
      }
    }),
    { numRuns: 3000 },
  );
});

test('traceparent and b3 parsers: arbitrary strings never throw', () => {
  fc.assert(
    fc.property(headerText, (text) => {
      assertValid(parseTraceparent(text));
      const b = parseB3Single(text);
      if (typeof b === 'object') assertValid(b);
      else assert.ok(b === undefined || (b & ~7) === 0);
      const state = normalizeTracestate(text);
      assert.ok(state === undefined || state.length <= 512);
    }),
    { numRuns: 5000 },
  );
});

test('tracestate: arbitrary input gives a bounded, valid, idempotent list', () => {
  const memberish = fc.oneof(
    tracestateMember.map(([k, v]) => `${k}=${v}`),
    fc.string({ maxLength: 300 }),
    fc.stringMatching(/^[a-z]{1,3}=[a-z]{100,300}$/),
  );
  fc.assert(
    fc.property(fc.array(memberish, { maxLength: 60 }), (members) => {
      const state = normalizeTracestate(members.join(','));
      if (state === undefined) return;
      assert.ok(state.length <= 512);
      assert.ok(state.split(',').length <= 32);
      assert.equal(normalizeTracestate(state), state);
    }),
    { numRuns: 1000 },
  );
});

const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  // Version 0 in front, so that decoding gets past the first byte.
  fc.uint8Array({ minLength: 26, maxLength: 40 }).map((b) => {
    b[0] = 0;
    return b;
  }),
);
const offsetArb = fc.oneof(
  fc.integer({ min: -4, max: 70 }),
  fc.constantFrom(0.5, NaN, Infinity, -Infinity, 2 ** 53),
);

test('binary forms: arbitrary bytes and offsets never throw; decoded contexts re-encode exactly', () => {
  fc.assert(
    fc.property(bytesArb, offsetArb, (bytes, offset) => {
      const c = decodeBinaryContext(bytes, offset);
      assertValid(c);
      if (c !== undefined) {
        assert.deepEqual(decodeBinaryContext(encodeBinaryContext(c, c.level)), c);
        // Re-encoding gives back the same bytes, bit 7 of the flags aside (reserved, ignored).
        const again = encodeBinaryContext(c, c.level);
        const original = bytes.subarray(offset, offset + BINARY_CONTEXT_LENGTH);
        assert.deepEqual(again.subarray(0, 25), original.subarray(0, 25));
      }
      const b = decodeBlkinTraceInfo(bytes, offset);
      assertValid(b);
      if (b !== undefined) {
        assert.deepEqual(
          encodeBlkinTraceInfo(b),
          bytes.slice(offset, offset + BLKIN_TRACE_INFO_LENGTH),
        );
      }
    }),
    { numRuns: 5000 },
  );
  for (const garbage of [null, undefined, 'bytes', 42, {}, [0, 1, 2], new ArrayBuffer(30)]) {
    assert.equal(decodeBinaryContext(garbage as unknown as Uint8Array), undefined);
    assert.equal(decodeBlkinTraceInfo(garbage as unknown as Uint8Array), undefined);
  }
});
