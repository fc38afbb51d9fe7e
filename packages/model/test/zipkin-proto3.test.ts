import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import protobuf from 'protobufjs';
import {
  decodeZipkinProto3,
  encodeZipkinProto3,
  ipv6BytesToText,
  ipv6TextToBytes,
} from '../src/codec/zipkin-proto3.js';
import { bytesToHex, hexToBytes } from '../src/ids.js';
import { DEFAULT_LIMITS } from '../src/limits.js';
import { InvalidSpanError, normalizeSpan, normalizeSpans } from '../src/normalize.js';
import type { Span } from '../src/span.js';
import { text, validSpan } from './arbitraries.js';

// zipkin.proto (openzipkin/zipkin-api), written out here, plus blkkin's extension fields in a
// second schema. The extensions are `optional` so that protobufjs writes a level of 0.
const ZIPKIN_PROTO = `
syntax = "proto3";
package zipkin.proto3;
message Span {
  bytes trace_id = 1;
  bytes parent_id = 2;
  bytes id = 3;
  enum Kind {
    SPAN_KIND_UNSPECIFIED = 0;
    CLIENT = 1;
    SERVER = 2;
    PRODUCER = 3;
    CONSUMER = 4;
  }
  Kind kind = 4;
  string name = 5;
  fixed64 timestamp = 6;
  uint64 duration = 7;
  Endpoint local_endpoint = 8;
  Endpoint remote_endpoint = 9;
  repeated Annotation annotations = 10;
  map<string, string> tags = 11;
  bool debug = 12;
  bool shared = 13;
  EXTENSION_FIELDS
}
message Endpoint {
  string service_name = 1;
  bytes ipv4 = 2;
  bytes ipv6 = 3;
  int32 port = 4;
}
message Annotation {
  fixed64 timestamp = 1;
  string value = 2;
  ANNOTATION_EXTENSION_FIELDS
}
message ListOfSpans {
  repeated Span spans = 1;
}
`;

function schema(extensions: boolean): protobuf.Type {
  const source = ZIPKIN_PROTO.replace(
    'EXTENSION_FIELDS',
    extensions
      ? 'optional uint32 level = 100; optional string node = 101; optional sint64 clock_offset = 102;'
      : '',
  ).replace('ANNOTATION_EXTENSION_FIELDS', extensions ? 'optional uint32 level = 100;' : '');
  return protobuf.parse(source).root.lookupType('zipkin.proto3.ListOfSpans');
}
const ZipkinList = schema(false);
const BlkkinList = schema(true);

const KIND_NUMBERS = { CLIENT: 1, SERVER: 2, PRODUCER: 3, CONSUMER: 4 } as const;

// ----- Test-side conversions, independent of the codec under test.

/** RFC 5952 text of an IPv6 address, by WHATWG URL's serializer (same rules, bar IPv4 tails). */
function canonicalIpv6(bytes: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1);
}

function ipv6Bytes(text: string): Uint8Array {
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined): number[] =>
    part ? part.split(':').map((g) => parseInt(g, 16)) : [];
  const left = parse(head);
  const right = parse(tail);
  const groups =
    tail === undefined
      ? left
      : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 255;
  });
  return out;
}

type PbObject = Record<string, unknown>;

function endpointToPb(e: NonNullable<Span['localEndpoint']>): PbObject {
  const out: PbObject = {};
  if (e.serviceName) out.serviceName = e.serviceName;
  if (e.ipv4) out.ipv4 = Uint8Array.from(e.ipv4.split('.').map(Number));
  if (e.ipv6) out.ipv6 = ipv6Bytes(e.ipv6);
  if (e.port) out.port = e.port;
  return out;
}

function spanToPb(span: Span): PbObject {
  const out: PbObject = { traceId: hexToBytes(span.traceId), id: hexToBytes(span.id) };
  if (span.parentId) out.parentId = hexToBytes(span.parentId);
  if (span.kind) out.kind = KIND_NUMBERS[span.kind];
  if (span.name) out.name = span.name;
  if (span.timestamp) out.timestamp = span.timestamp;
  if (span.duration) out.duration = span.duration;
  if (span.localEndpoint) out.localEndpoint = endpointToPb(span.localEndpoint);
  if (span.remoteEndpoint) out.remoteEndpoint = endpointToPb(span.remoteEndpoint);
  if (span.annotations) {
    out.annotations = span.annotations.map((a) =>
      a.level === undefined ? { ...a } : { timestamp: a.timestamp, value: a.value, level: a.level },
    );
  }
  if (span.tags) out.tags = { ...span.tags };
  if (span.debug) out.debug = true;
  if (span.shared) out.shared = true;
  if (span.level !== undefined) out.level = span.level;
  if (span.node) out.node = span.node;
  if (span.clockOffset !== undefined) out.clockOffset = span.clockOffset;
  return out;
}

function endpointFromPb(e: PbObject): Record<string, unknown> {
  const ipv4 = e.ipv4 as Uint8Array | undefined;
  const ipv6 = e.ipv6 as Uint8Array | undefined;
  return {
    serviceName: e.serviceName,
    ipv4: ipv4 && ipv4.length ? Array.from(ipv4).join('.') : undefined,
    ipv6: ipv6 && ipv6.length ? canonicalIpv6(ipv6) : undefined,
    port: e.port,
  };
}

/** A protobufjs-decoded span back in the Zipkin JSON shape, normalised. */
function spanFromPb(o: PbObject, index: number): Span {
  const hex = (b: unknown): string | undefined =>
    b instanceof Uint8Array && b.length ? bytesToHex(b) : undefined;
  const kinds = [undefined, 'CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'];
  return normalizeSpan(
    {
      traceId: hex(o.traceId),
      parentId: hex(o.parentId),
      id: hex(o.id),
      kind: kinds[(o.kind as number | undefined) ?? 0],
      name: o.name,
      timestamp: o.timestamp,
      duration: o.duration,
      localEndpoint: o.localEndpoint && endpointFromPb(o.localEndpoint as PbObject),
      remoteEndpoint: o.remoteEndpoint && endpointFromPb(o.remoteEndpoint as PbObject),
      annotations: o.annotations,
      tags: o.tags,
      debug: o.debug,
      shared: o.shared,
      level: o.level,
      node: o.node,
      clockOffset: o.clockOffset,
    },
    index,
  );
}

function pbEncode(type: protobuf.Type, spans: readonly Span[]): Uint8Array {
  return type.encode(type.fromObject({ spans: spans.map(spanToPb) })).finish();
}

function pbDecode(type: protobuf.Type, body: Uint8Array): Span[] {
  const object = type.toObject(type.decode(body), { longs: Number, arrays: false });
  return ((object.spans ?? []) as PbObject[]).map(spanFromPb);
}

// ----- Arbitrary valid spans: raw spans that normalise, normalised.

const ipv6 = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  // IPv4-mapped addresses become ipv4 on the way in; they have their own test.
  .filter((b) => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255))
  .map(canonicalIpv6);
const validProtoSpan = validSpan({ ipv6 });
const validSpans = fc.array(validProtoSpan, { maxLength: 5 });

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
      { timestamp: 1_700_000_000_124_000, value: 'ws', level: 6 },
      { timestamp: 1_700_000_000_125_000, value: 'wr' },
    ],
    tags: { 'http.method': 'GET', 'http.path': '/api', ünïcode: 'välue ✓' },
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

function malformed(fn: () => unknown, pattern?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidSpanError, `not an InvalidSpanError: ${String(error)}`);
    assert.equal(error.reason, 'malformed', error.message);
    assert.match(error.message, /^not a valid Zipkin proto3 ListOfSpans: /);
    if (pattern) assert.match(error.message, pattern);
    return true;
  });
}

function invalid(fn: () => unknown, reason: string, pattern: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidSpanError, `not an InvalidSpanError: ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.match(error.message, pattern);
    return true;
  });
}

/** Decoding either succeeds or throws InvalidSpanError: nothing else, whatever the bytes. */
function decodesOrRefuses(body: Uint8Array): Span[] | InvalidSpanError {
  try {
    return decodeZipkinProto3(body);
  } catch (error) {
    if (error instanceof InvalidSpanError) return error;
    throw error;
  }
}

// ----- Hand-built wire bytes.

function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, value);
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const key = (field: number, wire: number) => varint((BigInt(field) << 3n) | BigInt(wire));
const len = (field: number, bytes: readonly number[]) => [
  ...key(field, 2),
  ...varint(BigInt(bytes.length)),
  ...bytes,
];
const ids = (trace = 8, span = 8) => [
  ...len(1, new Array<number>(trace).fill(0xab)),
  ...len(3, new Array<number>(span).fill(0xcd)),
];
const list = (...spans: number[][]) => Uint8Array.from(spans.flatMap((s) => len(1, s)));

// ----- Tests.

test('decodes what protobufjs encodes from zipkin.proto', () => {
  const body = pbEncode(ZipkinList, [FULL, SERVER]);
  const withoutExtensions = { ...FULL };
  delete withoutExtensions.level;
  delete withoutExtensions.node;
  delete withoutExtensions.clockOffset;
  withoutExtensions.annotations = FULL.annotations!.map(({ timestamp, value }) => ({
    timestamp,
    value,
  }));
  assert.deepEqual(decodeZipkinProto3(body), [withoutExtensions, SERVER]);
  assert.deepEqual(decodeZipkinProto3(pbEncode(BlkkinList, [FULL, SERVER])), [FULL, SERVER]);
});

test('protobufjs decodes what we encode, extensions included', () => {
  const body = encodeZipkinProto3([FULL, SERVER]);
  assert.deepEqual(pbDecode(BlkkinList, body), [FULL, SERVER]);
  // A plain zipkin.proto reader skips the extension fields.
  const plain = pbDecode(ZipkinList, body);
  assert.equal(plain[0]!.level, undefined);
  assert.equal(plain[0]!.node, undefined);
  assert.deepEqual(plain[1], SERVER);
});

test('property: spans survive our encode -> our decode, and cross protobufjs both ways', () => {
  fc.assert(
    fc.property(validSpans, (spans) => {
      const ours = encodeZipkinProto3(spans);
      assert.deepEqual(decodeZipkinProto3(ours), spans);
      assert.deepEqual(pbDecode(BlkkinList, ours), spans);
      assert.deepEqual(decodeZipkinProto3(pbEncode(BlkkinList, spans)), spans);
    }),
    { numRuns: 300 },
  );
});

test('empty body is an empty list; a Buffer slice at an offset decodes', () => {
  assert.deepEqual(decodeZipkinProto3(new Uint8Array(0)), []);
  const body = encodeZipkinProto3([FULL]);
  const pooled = Buffer.alloc(body.length + 7);
  pooled.set(body, 5);
  assert.deepEqual(decodeZipkinProto3(pooled.subarray(5, 5 + body.length)), [FULL]);
});

test('presence of level 0 and clock offset 0 survives; extreme clock offsets are exact', () => {
  for (const clockOffset of [0, 1, -1, 2 ** 31, -(2 ** 32), Number.MAX_SAFE_INTEGER]) {
    const span = { ...SERVER, level: 0 as const, clockOffset };
    assert.deepEqual(decodeZipkinProto3(encodeZipkinProto3([span])), [span]);
    assert.deepEqual(pbDecode(BlkkinList, encodeZipkinProto3([span])), [span]);
  }
});

test('skips unknown fields of every wire type, at every level', () => {
  const unknown = [
    ...key(50, 0),
    ...varint(-1n), // a 10-byte varint
    ...key(51, 1),
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    ...len(52, [1, 2, 3]),
    ...key(53, 5),
    1,
    2,
    3,
    4,
    ...key(54, 3), // a group, with a nested group inside
    ...key(1, 0),
    5,
    ...key(2, 3),
    ...len(3, [9]),
    ...key(2, 4),
    ...key(54, 4),
    ...key(536870911, 0), // the largest field number
    1,
  ];
  const endpoint = [...unknown, ...len(1, [...Buffer.from('svc')]), ...unknown];
  const annotation = [
    ...unknown,
    ...key(1, 1),
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...len(2, [...Buffer.from('a')]),
    ...unknown,
  ];
  const tag = [...unknown, ...len(1, [0x6b]), ...unknown, ...len(2, [0x76]), ...unknown];
  const span = [
    ...unknown,
    ...ids(),
    ...len(8, endpoint),
    ...unknown,
    ...len(10, annotation),
    ...len(11, tag),
    ...unknown,
  ];
  const body = Uint8Array.from([...unknown, ...len(1, span), ...unknown]);
  assert.deepEqual(decodeZipkinProto3(body), [
    {
      traceId: 'abababababababab',
      id: 'cdcdcdcdcdcdcdcd',
      localEndpoint: { serviceName: 'svc' },
      annotations: [{ timestamp: 1, value: 'a' }],
      tags: { k: 'v' },
    },
  ]);
  // protobufjs agrees (it skips the same fields).
  assert.deepEqual(pbDecode(ZipkinList, body), decodeZipkinProto3(body));
});

// A future zipkin.proto with fields we don't know, of every proto3 wire type, at every level.
const FutureList = protobuf
  .parse(
    ZIPKIN_PROTO.replace(
      'EXTENSION_FIELDS',
      'int64 f20 = 20; fixed32 f21 = 21; double f22 = 22; string f23 = 23; ' +
        'repeated sint32 f24 = 24; Endpoint f25 = 25; optional uint32 level = 100; ' +
        'optional string node = 101; optional sint64 clock_offset = 102;',
    )
      .replace(
        'ANNOTATION_EXTENSION_FIELDS',
        'sfixed64 f3 = 3; bytes f4 = 4; optional uint32 level = 100;',
      )
      .replace('int32 port = 4;', 'int32 port = 4; float f5 = 5; repeated uint64 f6 = 6;')
      .replace(
        'repeated Span spans = 1;',
        'repeated Span spans = 1; fixed64 f2 = 2; string f3 = 3;',
      ),
  )
  .root.lookupType('zipkin.proto3.ListOfSpans');

test('property: fields of a future zipkin.proto are skipped, whatever their type', () => {
  const future = fc.record({
    f20: fc.integer(),
    f21: fc.nat(),
    f22: fc.double({ noNaN: true }),
    f23: text(10),
    f24: fc.array(fc.integer(), { maxLength: 3 }),
    f25: fc.record({ serviceName: text(5), f5: fc.float({ noNaN: true }) }),
  });
  fc.assert(
    fc.property(validSpans, fc.array(future), text(5), (spans, extras, note) => {
      const object = {
        spans: spans.map((span, i) => {
          const pb: PbObject = { ...spanToPb(span), ...extras[i] };
          const annotations = pb.annotations as PbObject[] | undefined;
          annotations?.forEach((a) => Object.assign(a, { f3: -i, f4: Uint8Array.of(i) }));
          if (pb.localEndpoint) Object.assign(pb.localEndpoint, { f5: 1.5, f6: [i, 2 ** 40] });
          return pb;
        }),
        f2: 7,
        f3: note,
      };
      const body = FutureList.encode(FutureList.fromObject(object)).finish();
      assert.deepEqual(decodeZipkinProto3(body), spans);
    }),
    { numRuns: 200 },
  );
});

test('merges a repeated endpoint; the last of a repeated scalar or tag key wins', () => {
  const body = list([
    ...ids(),
    ...len(5, [0x61]),
    ...len(5, [0x62]),
    ...len(8, len(1, [0x61])),
    ...len(8, [...key(4, 0), 80]),
    ...len(11, [...len(1, [0x6b]), ...len(2, [0x31])]),
    ...len(11, [...len(1, [0x6b]), ...len(2, [0x32])]),
  ]);
  assert.deepEqual(decodeZipkinProto3(body), [
    {
      traceId: 'abababababababab',
      id: 'cdcdcdcdcdcdcdcd',
      name: 'b',
      localEndpoint: { serviceName: 'a', port: 80 },
      tags: { k: '2' },
    },
  ]);
});

test('addresses: dotted quads, RFC 5952 IPv6 text, IPv4-mapped IPv6 as ipv4', () => {
  const cases: [string, string][] = [
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['20010db8000000010000000000000000', '2001:db8:0:1::'],
    ['fe800000000000000000000000abcdef', 'fe80::ab:cdef'],
  ];
  for (const [hex, expected] of cases) {
    assert.equal(ipv6BytesToText(hexToBytes(hex)), expected);
    assert.equal(bytesToHex(ipv6TextToBytes(expected)!), hex);
  }
  assert.equal(bytesToHex(ipv6TextToBytes('::ffff:1.2.3.4')!), '00000000000000000000ffff01020304');
  assert.equal(bytesToHex(ipv6TextToBytes('FE80::1%eth0')!), 'fe800000000000000000000000000001');
  for (const bad of ['1::2::3', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '::g', '1:2:3:4:5:6:7::8'])
    assert.equal(ipv6TextToBytes(bad), undefined, bad);
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const text = ipv6BytesToText(bytes);
      assert.deepEqual(ipv6TextToBytes(text), bytes);
      if (!text.includes('.')) assert.equal(text, canonicalIpv6(bytes));
    }),
  );
  const mapped = list([
    ...ids(),
    ...len(9, len(3, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 10, 0, 0, 1])),
  ]);
  assert.deepEqual(decodeZipkinProto3(mapped)[0]!.remoteEndpoint, { ipv4: '10.0.0.1' });
});

test('truncated at every byte: a whole-span prefix decodes, anything else is malformed', () => {
  const spans = [FULL, SERVER, FULL];
  const body = encodeZipkinProto3(spans);
  const boundaries = new Map<number, number>([[0, 0]]);
  for (let n = 1; n <= spans.length; n++) {
    boundaries.set(encodeZipkinProto3(spans.slice(0, n)).length, n);
  }
  for (let end = 0; end < body.length; end++) {
    const prefix = body.slice(0, end);
    const n = boundaries.get(end);
    if (n !== undefined) assert.deepEqual(decodeZipkinProto3(prefix), spans.slice(0, n));
    else malformed(() => decodeZipkinProto3(prefix), / at byte \d+ \(span \d/);
  }
});

test('a span cut short inside (lengths fixed up) fails cleanly at every byte', () => {
  const inner = encodeZipkinProto3([FULL]).subarray(2); // past the key and 2-byte length
  for (let end = 0; end < inner.length; end++) {
    const result = decodesOrRefuses(list([...inner.subarray(0, end)]));
    if (!(result instanceof InvalidSpanError)) assert.equal(result.length, 1);
  }
});

test('property: garbage and bit flips never throw anything but InvalidSpanError', () => {
  const body = encodeZipkinProto3([FULL, SERVER]);
  for (let i = 0; i < body.length; i++) {
    for (const bit of [0x01, 0x10, 0x80]) {
      const flipped = body.slice();
      flipped[i]! ^= bit;
      decodesOrRefuses(flipped);
    }
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      decodesOrRefuses(bytes);
      decodesOrRefuses(list([...bytes]));
      decodesOrRefuses(list([...ids(), ...bytes]));
    }),
    { numRuns: 1000 },
  );
});

test('malformed input names the problem, the byte and the span', () => {
  malformed(
    () => decodeZipkinProto3(Uint8Array.from([0x0a])),
    /truncated varint at byte 1 \(span 0\)/,
  );
  malformed(
    () => decodeZipkinProto3(Uint8Array.from([0x0a, 0x05, 1, 2])),
    /length 5 runs past the end of its message \(2 bytes left\) at byte 1/,
  );
  malformed(
    () => decodeZipkinProto3(list(ids(), [...ids(), ...key(7, 0), 0xff, 0xff])),
    /truncated varint at byte 45 \(span 1\)/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(7, 0), ...new Array<number>(11).fill(0xff)])),
    /varint longer than 10 bytes at byte 23 \(span 0\)/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(6, 1), 1, 2, 3])),
    /truncated fixed64 at byte 23/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(60, 5), 1, 2, 3])),
    /truncated fixed32 at byte 24/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(1, 0), 1])),
    /field 1 \(trace_id\) has the wrong wire type 0 at byte 22/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...len(8, [...key(4, 2), 0])])),
    /field 4 \(port\) has the wrong wire type 2 at byte 24 \(span 0, localEndpoint\)/,
  );
  malformed(
    () => decodeZipkinProto3(Uint8Array.from([...key(1, 0), 1])),
    /field 1 \(spans\) has the wrong wire type 0 at byte 0/,
  );
  malformed(() => decodeZipkinProto3(list([...ids(), 0x00, 1])), /invalid field number at byte 22/);
  malformed(() => decodeZipkinProto3(list([...ids(), ...key(70, 6)])), /invalid wire type 6/);
  malformed(() => decodeZipkinProto3(list([...ids(), ...key(70, 7)])), /invalid wire type 7/);
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(70, 4)])),
    /end of group 70 without a start/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(70, 3), ...key(1, 0), 1])),
    /unterminated group 70/,
  );
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...key(70, 3), ...key(71, 4)])),
    /mismatched end of group/,
  );
  const deep = [...new Array<number[]>(100).fill(key(70, 3)).flat()];
  malformed(() => decodeZipkinProto3(list([...ids(), ...deep])), /groups nested too deeply/);
  malformed(
    () => decodeZipkinProto3(list([...ids(), ...len(10, [...key(1, 1), 1, 2])])),
    /truncated fixed64 at byte 25 \(span 0, annotations\)/,
  );
});

test('wrong id lengths name the span and the field', () => {
  invalid(
    () => decodeZipkinProto3(list(ids(), ids(5))),
    'invalid_id',
    /^spans\[1\]\.traceId must be 8 or 16 bytes, not 5$/,
  );
  invalid(
    () => decodeZipkinProto3(list(ids(8, 16))),
    'invalid_id',
    /^spans\[0\]\.id must be 8 bytes, not 16$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...len(2, [1, 2, 3, 4])])),
    'invalid_id',
    /^spans\[0\]\.parentId must be 8 bytes, not 4$/,
  );
  invalid(
    () => decodeZipkinProto3(list(len(3, [1, 1, 1, 1, 1, 1, 1, 1]))),
    'invalid_id',
    /^spans\[0\]\.traceId is missing/,
  );
  invalid(
    () => decodeZipkinProto3(list(len(1, [1, 1, 1, 1, 1, 1, 1, 1]))),
    'invalid_id',
    /^spans\[0\]\.id is missing/,
  );
});

test('all-zero ids are refused; an all-zero parent means root', () => {
  const zeros = new Array<number>(8).fill(0);
  invalid(
    () => decodeZipkinProto3(list([...len(1, zeros), ...len(3, [1, 1, 1, 1, 1, 1, 1, 1])])),
    'invalid_id',
    /^spans\[0\]\.traceId is all zeros/,
  );
  invalid(
    () =>
      decodeZipkinProto3(
        list([...len(1, [...zeros, ...zeros]), ...len(3, [1, 1, 1, 1, 1, 1, 1, 1])]),
      ),
    'invalid_id',
    /^spans\[0\]\.traceId is all zeros/,
  );
  invalid(
    () => decodeZipkinProto3(list([...len(1, [1, 1, 1, 1, 1, 1, 1, 1]), ...len(3, zeros)])),
    'invalid_id',
    /^spans\[0\]\.id is all zeros/,
  );
  const root = decodeZipkinProto3(list([...ids(), ...len(2, zeros)]));
  assert.equal(root[0]!.parentId, undefined);
  // A 128-bit trace id whose high half is zero is a 64-bit one.
  const short = decodeZipkinProto3(
    list([
      ...len(1, [...zeros, 1, 2, 3, 4, 5, 6, 7, 8]),
      ...len(
        3,
        zeros.map(() => 9),
      ),
    ]),
  );
  assert.equal(short[0]!.traceId, '0102030405060708');
});

test('invalid enum, level, ports, addresses and out-of-range times are refused by name', () => {
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...key(4, 0), 7])),
    'invalid',
    /^spans\[0\]\.kind must be CLIENT, SERVER, PRODUCER or CONSUMER, not 7$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...key(4, 0), ...varint(-1n)])),
    'invalid',
    /^spans\[0\]\.kind .* not -1$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...key(100, 0), 8])),
    'invalid',
    /^spans\[0\]\.level must be an integer 0–7, not 8$/,
  );
  invalid(
    () =>
      decodeZipkinProto3(
        list([
          ...ids(),
          ...len(10, [...key(1, 1), 1, 0, 0, 0, 0, 0, 0, 0, ...len(2, [0x61]), ...key(100, 0), 9]),
        ]),
      ),
    'invalid',
    /^spans\[0\]\.annotations\[0\]\.level must be an integer 0–7, not 9$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...len(8, [...key(4, 0), ...varint(-80n)])])),
    'invalid',
    /^spans\[0\]\.localEndpoint\.port must be an integer 0–65535, not -80$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...len(9, len(2, [1, 2, 3]))])),
    'invalid',
    /^spans\[0\]\.remoteEndpoint\.ipv4 must be 4 bytes, not 3$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...len(8, len(3, [1, 2, 3, 4]))])),
    'invalid',
    /^spans\[0\]\.localEndpoint\.ipv6 must be 16 bytes, not 4$/,
  );
  invalid(
    () =>
      decodeZipkinProto3(list([...ids(), ...key(6, 1), 255, 255, 255, 255, 255, 255, 255, 255])),
    'invalid',
    /^spans\[0\]\.timestamp must be a non-negative integer of microseconds, not "18446744073709551615"$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...key(7, 0), ...varint(2n ** 53n)])),
    'invalid',
    /^spans\[0\]\.duration .* not "9007199254740992"$/,
  );
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...key(102, 0), ...varint(2n ** 60n + 1n)])),
    'invalid',
    /^spans\[0\]\.clockOffset must be an integer of microseconds, not "-576460752303423489"$/,
  );
  // The largest exact values still pass.
  const edge = decodeZipkinProto3(
    list([
      ...ids(),
      ...key(7, 0),
      ...varint(2n ** 53n - 1n),
      ...key(102, 0),
      ...varint(2n ** 54n - 3n),
    ]),
  );
  assert.equal(edge[0]!.duration, Number.MAX_SAFE_INTEGER);
  assert.equal(edge[0]!.clockOffset, -Number.MAX_SAFE_INTEGER);
});

test('over-limit batches and spans are refused as too large', () => {
  const limits = { ...DEFAULT_LIMITS, maxSpansPerBatch: 2 };
  const three = encodeZipkinProto3([SERVER, SERVER, SERVER]);
  assert.equal(decodeZipkinProto3(encodeZipkinProto3([SERVER, SERVER]), limits).length, 2);
  invalid(
    () => decodeZipkinProto3(three, limits),
    'too_large',
    /^batch has 3 spans, more than the limit of 2: send smaller batches$/,
  );
  // The same words as normalizeSpans, for every decoder.
  invalid(
    () => normalizeSpans([SERVER, SERVER, SERVER], limits),
    'too_large',
    /^batch has 3 spans/,
  );
  const tagged = { ...SERVER, tags: { a: '1', b: '2', c: '3' } };
  invalid(
    () =>
      decodeZipkinProto3(encodeZipkinProto3([tagged]), { ...DEFAULT_LIMITS, maxTagsPerSpan: 2 }),
    'too_large',
    /^spans\[0\]\.tags has more than 2 entries$/,
  );
});

test('a body of empty annotations or tags stops at the limit, not at the end', () => {
  const annotations = new Array<number[]>(50_000).fill(len(10, [])).flat();
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...annotations])),
    'too_large',
    /^spans\[0\]\.annotations has more than 1024 entries$/,
  );
  const tags = Array.from({ length: 300 }, (_, i) => len(11, len(1, [...Buffer.from(`k${i}`)])));
  invalid(
    () => decodeZipkinProto3(list([...ids(), ...tags.flat()])),
    'too_large',
    /^spans\[0\]\.tags has more than 256 entries$/,
  );
  // A repeated key is one tag.
  const same = new Array<number[]>(300).fill(len(11, len(1, [0x6b]))).flat();
  assert.deepEqual(decodeZipkinProto3(list([...ids(), ...same]))[0]!.tags, { k: '' });
});

test('the encoder refuses an address it cannot write', () => {
  for (const ipv4 of ['1.2.3', '1.2.3.4.5', '1..2.3', 'a.b.c.d', '1.2.3.1000']) {
    invalid(
      () => encodeZipkinProto3([{ ...SERVER, remoteEndpoint: { ipv4 } }]),
      'invalid',
      /^spans\[0\]\.remoteEndpoint\.ipv4 is not an IP address/,
    );
  }
  invalid(
    () => encodeZipkinProto3([{ ...SERVER, localEndpoint: { ipv6: '1:2' } }]),
    'invalid',
    /^spans\[0\]\.localEndpoint\.ipv6 is not an IP address/,
  );
  const bad = { ...SERVER, localEndpoint: { ipv4: '300.1.1.1' } };
  invalid(
    () => encodeZipkinProto3([bad]),
    'invalid',
    /^spans\[0\]\.localEndpoint\.ipv4 is not an IP address/,
  );
});

test('long strings and big batches keep their length prefixes right', () => {
  const long = { ...SERVER, name: 'x'.repeat(70_000), tags: { k: 'é'.repeat(20_000) } };
  assert.deepEqual(
    decodeZipkinProto3(encodeZipkinProto3([long]), { ...DEFAULT_LIMITS, maxNameLength: 100_000 }),
    [long],
  );
  const many = Array.from({ length: 3000 }, () => FULL);
  assert.deepEqual(decodeZipkinProto3(encodeZipkinProto3(many)), many);
});
