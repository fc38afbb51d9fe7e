import { DEFAULT_LIMITS, type SpanLimits } from '../limits.js';
import { InvalidSpanError } from '../normalize.js';
import type { Annotation, Endpoint, Span, SpanKind } from '../span.js';
import * as rules from '../span-rules.js';

/**
 * Zipkin v2 proto3 (zipkin.proto's ListOfSpans), read and written by hand for the ingest hot path.
 *
 * The reader goes in one pass from the wire format to normalised spans, with the rules of
 * span-rules.ts that `normalizeSpans` applies to every other input, and allocates only what the
 * result holds. It checks every length against the bytes left in its enclosing message, never
 * reads past the body, and fails only with an InvalidSpanError naming the span and the field, as
 * normalizeSpans does: reason 'malformed' for bytes that are not a ListOfSpans, naming the byte.
 * The first problem on the wire is the one reported, but within a span the checks that don't
 * concern the bytes themselves are made once it is read, in normalizeSpans' order.
 *
 * blkkin's extensions, skipped by Zipkin as unknown fields: Span 100 level (uint32, 0–7), 101 node
 * (string), 102 clock_offset (sint64, µs); Annotation 100 level (uint32). A level or clock offset
 * of 0 is written explicitly, so its presence survives (proto3 would otherwise drop the default).
 */

// Wire types.
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const SGROUP = 3;
const EGROUP = 4;
const I32 = 5;

const KINDS: readonly (SpanKind | undefined)[] = [
  undefined,
  'CLIENT',
  'SERVER',
  'PRODUCER',
  'CONSUMER',
];
const TWO_32 = 4294967296;
/** From this high word up, hi * 2^32 + lo is beyond Number.MAX_SAFE_INTEGER. */
const SAFE_HI = 0x200000;
const MAX_GROUP_DEPTH = 64;

const SPAN_FIELDS: Record<number, string> = {
  1: 'trace_id',
  2: 'parent_id',
  3: 'id',
  4: 'kind',
  5: 'name',
  6: 'timestamp',
  7: 'duration',
  8: 'local_endpoint',
  9: 'remote_endpoint',
  10: 'annotations',
  11: 'tags',
  12: 'debug',
  13: 'shared',
  100: 'level',
  101: 'node',
  102: 'clock_offset',
};

// ---------------------------------------------------------------------------------------------
// Strings: short ASCII strings (service names, span names, tag keys, common values) repeat from
// span to span, so they are looked up in a small table before anything is allocated.

const utf8 = new TextDecoder();
const CACHE_SLOTS = 4096;
const CACHE_MAX_BYTES = 48;
/** Slot i holds a string, its UTF-8 length, and its bytes at i * CACHE_MAX_BYTES. */
const cachedStrings: string[] = new Array<string>(CACHE_SLOTS).fill('');
const cachedLengths = new Int32Array(CACHE_SLOTS);
const cachedBytes = new Uint8Array(CACHE_SLOTS * CACHE_MAX_BYTES);
const cachedView = new DataView(cachedBytes.buffer);

function decodeString(buf: Uint8Array, view: DataView, start: number, end: number): string {
  const length = end - start;
  if (length === 0) return '';
  if (length > CACHE_MAX_BYTES) return utf8.decode(buf.subarray(start, end));
  const slot =
    (length * 977 + buf[start]! * 31 + buf[end - 1]! * 7919 + buf[start + (length >> 1)]! * 131) &
    (CACHE_SLOTS - 1);
  const base = slot * CACHE_MAX_BYTES;
  if (cachedLengths[slot] === length) {
    // Four bytes at a time, then the rest.
    let i = 0;
    const whole = length & ~3;
    while (i < whole && cachedView.getInt32(base + i) === view.getInt32(start + i)) i += 4;
    if (i >= whole) {
      while (i < length && cachedBytes[base + i] === buf[start + i]) i++;
      if (i === length) return cachedStrings[slot]!;
    }
  }
  const bytes = buf.subarray(start, end);
  const text = utf8.decode(bytes);
  cachedStrings[slot] = text;
  cachedLengths[slot] = length;
  cachedBytes.set(bytes, base);
  return text;
}

function dottedQuad(buf: Uint8Array, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** RFC 5952 text of 16 bytes: lowercase, no leading zeros, the longest zero run as '::'. */
export function ipv6BytesToText(buf: Uint8Array, at = 0): string {
  const groups = new Array<number>(8);
  for (let i = 0; i < 8; i++) groups[i] = (buf[at + 2 * i]! << 8) | buf[at + 2 * i + 1]!;
  // IPv4-mapped addresses keep their dotted tail (and normalisation turns them into ipv4).
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    return `::ffff:${dottedQuad(buf, at + 12)}`;
  }
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

// ---------------------------------------------------------------------------------------------
// Reader

const ZERO_ID = '0000000000000000';

const HEX_CODES = new Uint16Array(512);
for (let b = 0; b < 256; b++) {
  HEX_CODES[2 * b] = '0123456789abcdef'.charCodeAt(b >> 4);
  HEX_CODES[2 * b + 1] = '0123456789abcdef'.charCodeAt(b & 15);
}

/** Lowercase hex of 8 bytes: one flat string, made at once (ids are read for every span). */
function hex8(buf: Uint8Array, at: number): string {
  const c = HEX_CODES;
  const b0 = 2 * buf[at]!;
  const b1 = 2 * buf[at + 1]!;
  const b2 = 2 * buf[at + 2]!;
  const b3 = 2 * buf[at + 3]!;
  const b4 = 2 * buf[at + 4]!;
  const b5 = 2 * buf[at + 5]!;
  const b6 = 2 * buf[at + 6]!;
  const b7 = 2 * buf[at + 7]!;
  return String.fromCharCode(
    c[b0]!,
    c[b0 + 1]!,
    c[b1]!,
    c[b1 + 1]!,
    c[b2]!,
    c[b2 + 1]!,
    c[b3]!,
    c[b3 + 1]!,
    c[b4]!,
    c[b4 + 1]!,
    c[b5]!,
    c[b5 + 1]!,
    c[b6]!,
    c[b6 + 1]!,
    c[b7]!,
    c[b7 + 1]!,
  );
}

/** What the reader has read of one endpoint: the fields of the proto message. */
class EndpointFields {
  present = false;
  serviceName: string | undefined = undefined;
  ipv4: string | undefined = undefined;
  ipv6: string | undefined = undefined;
  port: number | undefined = undefined;

  reset(): void {
    this.present = false;
    this.serviceName = undefined;
    this.ipv4 = undefined;
    this.ipv6 = undefined;
    this.port = undefined;
  }
}

const SPAN_PREFIX = 'not a valid Zipkin proto3 ListOfSpans: ';

class SpanReader implements rules.Fail {
  pos = 0;
  /** End of the message being read: nothing is read at or past it. */
  end: number;
  /** High 32 bits of the last 64-bit varint or fixed64. */
  hi = 0;
  /** Index of the span being read, or of the next one at the top level. */
  span = 0;
  /** The submessage being read inside the span (a field name, or ''), for error messages. */
  where = '';
  /** ≥ 0 while an annotation is checked: its index, for error messages. */
  annotation = -1;
  /** The first problem of the span's annotations, reported in its turn once the span is read. */
  annotationError: InvalidSpanError | undefined = undefined;
  /** Whether the trace id came as 16 bytes, all zero but for its low half (see hexId). */
  wideTraceId = false;

  readonly view: DataView;

  // The span being read, field by field; reset for each span.
  spanTraceId: string | undefined = undefined;
  spanParentId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  kindValue: SpanKind | number | undefined = undefined;
  name: string | undefined = undefined;
  timestamp: number | string | undefined = undefined;
  duration: number | string | undefined = undefined;
  readonly local = new EndpointFields();
  readonly remote = new EndpointFields();
  annotations: Annotation[] | undefined = undefined;
  /** Distinct tag keys in the order first seen, and their values (a repeated key: the last). */
  readonly tagKeys: string[] = [];
  readonly tagValues: string[] = [];
  debug = false;
  shared = false;
  level: number | undefined = undefined;
  node: string | undefined = undefined;
  clockOffset: number | string | undefined = undefined;

  constructor(
    readonly buf: Uint8Array,
    readonly limits: SpanLimits,
  ) {
    this.end = buf.length;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  malformed(problem: string, at: number): never {
    const where = this.where ? `, ${this.where}` : '';
    throw new InvalidSpanError(
      `${SPAN_PREFIX}${problem} at byte ${at} (span ${this.span}${where})`,
      'malformed',
    );
  }

  /** A problem with a field of the span being read: `spans[3].localEndpoint.port ...`. */
  fail(field: string, problem: string, reason = 'invalid'): never {
    const where =
      this.annotation >= 0
        ? `.annotations[${this.annotation}]`
        : this.where === 'localEndpoint' || this.where === 'remoteEndpoint'
          ? `.${this.where}`
          : '';
    throw new InvalidSpanError(`spans[${this.span}]${where}.${field} ${problem}`, reason);
  }

  /** A varint of up to 64 bits: returns the low 32 (unsigned) and leaves the high 32 in `hi`. */
  varint(): number {
    const pos = this.pos;
    if (pos < this.end) {
      const b = this.buf[pos]!;
      if (b < 0x80) {
        this.pos = pos + 1;
        this.hi = 0;
        return b;
      }
    }
    return this.varintSlow();
  }

  varintSlow(): number {
    const buf = this.buf;
    const end = this.end;
    const start = this.pos;
    let pos = start;
    let lo = 0;
    let hi = 0;
    let b = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) this.malformed('truncated varint', start);
      b = buf[pos++]!;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = 0;
        return lo >>> 0;
      }
    }
    if (pos >= end) this.malformed('truncated varint', start);
    b = buf[pos++]!;
    lo |= (b & 0x7f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b < 0x80) {
      this.pos = pos;
      this.hi = hi;
      return lo >>> 0;
    }
    for (let shift = 3; shift < 38; shift += 7) {
      if (pos >= end) this.malformed('truncated varint', start);
      b = buf[pos++]!;
      hi |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.hi = hi >>> 0;
        return lo >>> 0;
      }
    }
    return this.malformed('varint longer than 10 bytes', start);
  }

  /** A fixed64: returns the low 32 bits and leaves the high 32 in `hi`. */
  fixed64(): number {
    const buf = this.buf;
    const pos = this.pos;
    if (this.end - pos < 8) this.malformed('truncated fixed64', pos);
    this.pos = pos + 8;
    this.hi =
      (buf[pos + 4]! | (buf[pos + 5]! << 8) | (buf[pos + 6]! << 16) | (buf[pos + 7]! << 24)) >>> 0;
    return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
  }

  /** An unsigned 64-bit value: exact number, or its decimal text when beyond 2^53 (refused later). */
  uint64(lo: number): number | string {
    const hi = this.hi;
    if (hi < SAFE_HI) return hi * TWO_32 + lo;
    return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
  }

  /** Length of a length-delimited field, bounded by the bytes left in the enclosing message. */
  length(): number {
    const at = this.pos;
    if (at < this.end) {
      const b = this.buf[at]!;
      if (b < 0x80 && b < this.end - at) {
        this.pos = at + 1;
        return b;
      }
    }
    const length = this.varintSlow();
    if (this.hi !== 0 || length > this.end - this.pos) {
      const value = this.hi === 0 ? length : this.uint64(length);
      this.malformed(
        `length ${value} runs past the end of its message (${this.end - this.pos} bytes left)`,
        at,
      );
    }
    return length;
  }

  /** Reads a tag: returns it (field << 3 | wire type); 0 means a bad field number. */
  tag(): number {
    const at = this.pos;
    // The caller checked at < end.
    const b = this.buf[at]!;
    if (b >= 8 && b < 0x80) {
      this.pos = at + 1;
      return b;
    }
    const tag = this.varintSlow();
    if (this.hi !== 0 || tag >>> 3 === 0) this.malformed('invalid field number', at);
    return tag;
  }

  wrongType(tag: number, at: number, names: Record<number, string>): never {
    const field = tag >>> 3;
    const name = names[field];
    return this.malformed(
      `field ${field}${name ? ` (${name})` : ''} has the wrong wire type ${tag & 7}`,
      at,
    );
  }

  /** Skips the value of an unknown field. */
  skip(tag: number, at: number, depth = 0): void {
    switch (tag & 7) {
      case VARINT:
        this.varint();
        return;
      case I64:
        if (this.end - this.pos < 8) this.malformed('truncated fixed64', this.pos);
        this.pos += 8;
        return;
      case LEN: {
        const length = this.length(); // before reading pos, which it moves
        this.pos += length;
        return;
      }
      case I32:
        if (this.end - this.pos < 4) this.malformed('truncated fixed32', this.pos);
        this.pos += 4;
        return;
      case SGROUP: {
        if (depth >= MAX_GROUP_DEPTH) this.malformed('groups nested too deeply', at);
        for (;;) {
          if (this.pos >= this.end) this.malformed(`unterminated group ${tag >>> 3}`, at);
          const innerAt = this.pos;
          const inner = this.tag();
          if ((inner & 7) === EGROUP) {
            if (inner >>> 3 !== tag >>> 3) this.malformed('mismatched end of group', innerAt);
            return;
          }
          this.skip(inner, innerAt, depth + 1);
        }
      }
      case EGROUP:
        return this.malformed(`end of group ${tag >>> 3} without a start`, at);
      default:
        return this.malformed(`invalid wire type ${tag & 7} (field ${tag >>> 3})`, at);
    }
  }

  string(): string {
    const length = this.length();
    const start = this.pos;
    this.pos = start + length;
    return decodeString(this.buf, this.view, start, start + length);
  }

  /** Lowercase hex of an id; undefined when empty (proto3's absent). */
  /** Zigzag-decoded sint64 from lo and `hi`: exact number, or decimal text beyond 2^53. */
  sint64(lo: number): number | string {
    const hi = this.hi;
    const negative = (lo & 1) === 1;
    const mlo = ((lo >>> 1) | (hi << 31)) >>> 0;
    const mhi = hi >>> 1;
    // The value is m when even, -(m + 1) when odd.
    if (mhi < SAFE_HI) {
      const m = mhi * TWO_32 + mlo;
      return negative ? -m - 1 : m;
    }
    const m = (BigInt(mhi) << 32n) | BigInt(mlo);
    return (negative ? -m - 1n : m).toString();
  }

  /** Enters a submessage: returns the outer end, to give back to `leave`. */
  enter(where: string): number {
    const length = this.length();
    const outer = this.end;
    this.end = this.pos + length;
    this.where = where;
    return outer;
  }

  leave(outer: number): void {
    this.end = outer;
    this.where = '';
  }

  /**
   * Lowercase hex of a span id (8 bytes) or trace id (8 or 16), undefined when empty (proto3's
   * absent). Of the id rules only two are left for bytes: a 16-byte trace id whose high half is
   * zero is its low half (see normalizeTraceId), and all zeros is no id (checked by the caller).
   */
  hexId(field: string, trace: boolean): string | undefined {
    const length = this.length();
    const start = this.pos;
    this.pos = start + length;
    if (trace) this.wideTraceId = false;
    if (length === 0) return undefined;
    if (length === 8) return hex8(this.buf, start);
    if (length !== 16 || !trace) {
      const sizes = trace ? '8 or 16' : '8';
      this.fail(field, `must be ${sizes} bytes, not ${length}`, 'invalid_id');
    }
    const buf = this.buf;
    let high = 0;
    for (let i = start; i < start + 8; i++) high |= buf[i]!;
    const low = hex8(buf, start + 8);
    if (high !== 0) return hex8(buf, start) + low;
    this.wideTraceId = true;
    return low;
  }

  /** A span or trace id that must be there and not all zeros, as normalizeSpans says it. */
  requireId(field: string, id: string | undefined, wide: boolean): string {
    if (id === undefined) this.fail(field, 'is missing', 'invalid_id');
    if (id === ZERO_ID) {
      this.fail(field, `is all zeros: ${rules.show(wide ? ZERO_ID + ZERO_ID : id)}`, 'invalid_id');
    }
    return id;
  }

  spans(): Span[] {
    const max = this.limits.maxSpansPerBatch;
    const spans: Span[] = [];
    while (this.pos < this.end) {
      const at = this.pos;
      const tag = this.tag();
      if (tag >>> 3 !== 1) {
        this.skip(tag, at);
        continue;
      }
      if ((tag & 7) !== LEN) this.wrongType(tag, at, { 1: 'spans' });
      const length = this.length();
      if (spans.length >= max) {
        // Count the rest without decoding it, to say how large the batch is.
        this.pos += length;
        this.span++;
        continue;
      }
      const outer = this.end;
      this.end = this.pos + length;
      spans.push(this.readOne());
      this.end = outer;
      this.span++;
    }
    if (this.span > max) {
      throw new InvalidSpanError(
        `batch has ${this.span} spans, more than the limit of ${max}: send smaller batches`,
        'too_large',
      );
    }
    return spans;
  }

  /**
   * One span. Problems of the bytes themselves (and the limits on repeated fields) are reported
   * as they are read; the rest once the span is read, field by field in normalizeSpans' order.
   */
  readOne(): Span {
    this.spanTraceId = undefined;
    this.wideTraceId = false;
    this.spanParentId = undefined;
    this.spanId = undefined;
    this.kindValue = undefined;
    this.name = undefined;
    this.timestamp = undefined;
    this.duration = undefined;
    this.local.reset();
    this.remote.reset();
    this.annotations = undefined;
    this.annotationError = undefined;
    this.tagKeys.length = 0;
    this.tagValues.length = 0;
    this.debug = false;
    this.shared = false;
    this.level = undefined;
    this.node = undefined;
    this.clockOffset = undefined;
    const limits = this.limits;
    while (this.pos < this.end) {
      const at = this.pos;
      const tag = this.tag();
      switch (tag) {
        case (1 << 3) | LEN:
          this.spanTraceId = this.hexId('traceId', true);
          break;
        case (2 << 3) | LEN:
          this.spanParentId = this.hexId('parentId', false);
          break;
        case (3 << 3) | LEN:
          this.spanId = this.hexId('id', false);
          break;
        case (4 << 3) | VARINT: {
          const kind = this.varint() | 0; // an enum is an int32
          this.kindValue = kind >= 0 && kind <= 4 ? KINDS[kind] : kind;
          break;
        }
        case (5 << 3) | LEN:
          this.name = this.string();
          break;
        case (6 << 3) | I64:
          this.timestamp = this.uint64(this.fixed64());
          break;
        case (7 << 3) | VARINT:
          this.duration = this.uint64(this.varint());
          break;
        case (8 << 3) | LEN:
          this.endpointFields(this.local, 'localEndpoint');
          break;
        case (9 << 3) | LEN:
          this.endpointFields(this.remote, 'remoteEndpoint');
          break;
        case (10 << 3) | LEN: {
          const list = (this.annotations ??= []);
          list.push(this.annotationEntry(list.length));
          // Checked as it grows, so a body of empty entries can't make millions of objects.
          rules.tooManyAnnotations(this, list.length, limits);
          break;
        }
        case (11 << 3) | LEN:
          this.tagPair();
          break;
        case (12 << 3) | VARINT:
          this.debug = (this.varint() | this.hi) !== 0;
          break;
        case (13 << 3) | VARINT:
          this.shared = (this.varint() | this.hi) !== 0;
          break;
        case (100 << 3) | VARINT:
          this.level = this.varint(); // a uint32 keeps the low 32 bits
          break;
        case (101 << 3) | LEN:
          this.node = this.string();
          break;
        case (102 << 3) | VARINT:
          this.clockOffset = this.sint64(this.varint());
          break;
        default:
          if (SPAN_FIELDS[tag >>> 3] !== undefined) this.wrongType(tag, at, SPAN_FIELDS);
          this.skip(tag, at);
      }
    }
    const traceId = this.requireId('traceId', this.spanTraceId, this.wideTraceId);
    const id = this.requireId('id', this.spanId, false);
    const span: Span = { traceId, id };
    // An all-zero parent means root.
    if (this.spanParentId !== undefined && this.spanParentId !== ZERO_ID) {
      const parentId = rules.parentOf(this.spanParentId, id);
      if (parentId !== undefined) span.parentId = parentId;
    }
    const kind = rules.kind(this, this.kindValue);
    if (kind) span.kind = kind;
    const name = rules.lowerName(this, this.name, 'name', limits);
    if (name) span.name = name;
    const timestamp = rules.micros(this, this.timestamp, 'timestamp');
    if (timestamp !== undefined) span.timestamp = timestamp;
    const duration = rules.micros(this, this.duration, 'duration');
    if (duration !== undefined) span.duration = duration;
    const local = this.local.present ? this.makeEndpoint(this.local, 'localEndpoint') : undefined;
    if (local) span.localEndpoint = local;
    const remote = this.remote.present
      ? this.makeEndpoint(this.remote, 'remoteEndpoint')
      : undefined;
    if (remote) span.remoteEndpoint = remote;
    if (this.annotationError) throw this.annotationError;
    if (this.annotations) span.annotations = rules.sortAnnotations(this.annotations);
    const tags = rules.tags(this, this.tagKeys, this.tagValues, limits);
    if (tags) span.tags = tags;
    if (this.debug) span.debug = true;
    if (rules.keepsShared(this.shared, span.kind)) span.shared = true;
    if (this.level !== undefined) span.level = rules.level(this, this.level);
    const node = rules.node(this, this.node, limits);
    if (node) span.node = node;
    if (this.clockOffset !== undefined) {
      span.clockOffset = rules.clockOffset(this, this.clockOffset);
    }
    return span;
  }

  makeEndpoint(fields: EndpointFields, field: string): Endpoint | undefined {
    const { serviceName, ipv4, ipv6, port } = fields;
    this.where = field;
    const endpoint = rules.endpoint(this, serviceName, ipv4, ipv6, port, this.limits, true);
    this.where = '';
    return endpoint;
  }

  endpointFields(endpoint: EndpointFields, field: string): void {
    // A repeated message field merges into the earlier one, as protobuf says.
    endpoint.present = true;
    const outer = this.enter(field);
    while (this.pos < this.end) {
      const at = this.pos;
      const tag = this.tag();
      switch (tag) {
        case (1 << 3) | LEN:
          endpoint.serviceName = this.string();
          break;
        case (2 << 3) | LEN: {
          const length = this.length();
          const start = this.pos;
          this.pos += length;
          if (length === 4) endpoint.ipv4 = dottedQuad(this.buf, start);
          else if (length === 0) endpoint.ipv4 = undefined;
          else this.fail('ipv4', `must be 4 bytes, not ${length}`);
          break;
        }
        case (3 << 3) | LEN: {
          const length = this.length();
          const start = this.pos;
          this.pos += length;
          if (length === 16) endpoint.ipv6 = ipv6BytesToText(this.buf, start);
          else if (length === 0) endpoint.ipv6 = undefined;
          else this.fail('ipv6', `must be 16 bytes, not ${length}`);
          break;
        }
        case (4 << 3) | VARINT:
          endpoint.port = this.varint() | 0; // an int32
          break;
        default:
          if (tag >>> 3 <= 4) this.wrongType(tag, at, ENDPOINT_FIELDS);
          this.skip(tag, at);
      }
    }
    this.leave(outer);
  }

  /**
   * The annotation at `index`. A bad one is kept as the span's annotation error, for its turn
   * once the span is read, so the first problem is the one normalizeSpans would name.
   */
  annotationEntry(index: number): Annotation {
    let timestamp: number | string | undefined;
    let value: string | undefined;
    let level: number | undefined;
    const outer = this.enter('annotations');
    while (this.pos < this.end) {
      const at = this.pos;
      const tag = this.tag();
      switch (tag) {
        case (1 << 3) | I64:
          timestamp = this.uint64(this.fixed64());
          break;
        case (2 << 3) | LEN:
          value = this.string();
          break;
        case (100 << 3) | VARINT:
          level = this.varint();
          break;
        default:
          if (ANNOTATION_FIELDS[tag >>> 3] !== undefined) {
            this.wrongType(tag, at, ANNOTATION_FIELDS);
          }
          this.skip(tag, at);
      }
    }
    this.leave(outer);
    if (this.annotationError === undefined) {
      this.annotation = index;
      try {
        return rules.annotation(this, timestamp, value, level, this.limits);
      } catch (error) {
        this.annotationError = error as InvalidSpanError;
      } finally {
        this.annotation = -1;
      }
    }
    return { timestamp: 0, value: '' }; // never kept: the span fails
  }

  tagPair(): void {
    let key = '';
    let value = '';
    const outer = this.enter('tags');
    while (this.pos < this.end) {
      const at = this.pos;
      const tag = this.tag();
      switch (tag) {
        case (1 << 3) | LEN:
          key = this.string();
          break;
        case (2 << 3) | LEN:
          value = this.string();
          break;
        default:
          if (tag >>> 3 <= 2) this.wrongType(tag, at, { 1: 'key', 2: 'value' });
          this.skip(tag, at);
      }
    }
    this.leave(outer);
    const keys = this.tagKeys;
    const index = keys.indexOf(key);
    if (index >= 0) {
      this.tagValues[index] = value; // a repeated key: the last one wins, as in a protobuf map
      return;
    }
    const max = this.limits.maxTagsPerSpan;
    if (keys.length >= max) this.fail('tags', `has more than ${max} entries`, 'too_large');
    keys.push(key);
    this.tagValues.push(value);
  }
}

const ENDPOINT_FIELDS: Record<number, string> = {
  1: 'service_name',
  2: 'ipv4',
  3: 'ipv6',
  4: 'port',
};
const ANNOTATION_FIELDS: Record<number, string> = { 1: 'timestamp', 2: 'value', 100: 'level' };

/**
 * Decodes a zipkin.proto ListOfSpans (Zipkin's `application/x-protobuf` body) into validated
 * spans. Throws InvalidSpanError, and nothing else, for anything it can't accept.
 */
export function decodeZipkinProto3(body: Uint8Array, limits: SpanLimits = DEFAULT_LIMITS): Span[] {
  const reader = new SpanReader(body, limits);
  try {
    return reader.spans();
  } catch (error) {
    if (error instanceof InvalidSpanError) throw error;
    // Not expected; but whatever the bytes, the caller gets the one error type it handles.
    throw new InvalidSpanError(
      `${SPAN_PREFIX}${(error as Error)?.message ?? String(error)} (span ${reader.span})`,
      'malformed',
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

const utf8Encoder = new TextEncoder();

class Writer {
  buf: Uint8Array;
  pos = 0;

  constructor(size: number) {
    this.buf = new Uint8Array(Math.max(size, 64));
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  /** A varint of a non-negative 32-bit value, or any safe non-negative integer. */
  uvarint(value: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    if (value > 0xffffffff) {
      this.pos = pos;
      this.varint64(value >>> 0, Math.floor(value / TWO_32));
      return;
    }
    while (value > 0x7f) {
      buf[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[pos++] = value;
    this.pos = pos;
  }

  varint64(lo: number, hi: number): void {
    this.ensure(10);
    const buf = this.buf;
    let pos = this.pos;
    while (hi !== 0 || lo > 0x7f) {
      buf[pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[pos++] = lo;
    this.pos = pos;
  }

  /** A field key of field numbers below 16 and wire types: one byte. */
  key(tag: number): void {
    this.ensure(1);
    this.buf[this.pos++] = tag;
  }

  fixed64(value: number): void {
    this.ensure(8);
    const buf = this.buf;
    const pos = this.pos;
    const lo = value >>> 0;
    const hi = Math.floor(value / TWO_32) >>> 0;
    buf[pos] = lo;
    buf[pos + 1] = lo >>> 8;
    buf[pos + 2] = lo >>> 16;
    buf[pos + 3] = lo >>> 24;
    buf[pos + 4] = hi;
    buf[pos + 5] = hi >>> 8;
    buf[pos + 6] = hi >>> 16;
    buf[pos + 7] = hi >>> 24;
    this.pos = pos + 8;
  }

  /** Reserves room for a length prefix; `finish` writes it, moving the content if need be. */
  begin(reserve: number): number {
    this.ensure(reserve);
    this.pos += reserve;
    return this.pos;
  }

  finish(contentStart: number, reserve: number): void {
    const length = this.pos - contentStart;
    const size = varintSize(length);
    if (size !== reserve) {
      this.ensure(size - reserve);
      this.buf.copyWithin(contentStart - reserve + size, contentStart, this.pos);
      this.pos += size - reserve;
    }
    let at = contentStart - reserve;
    let value = length;
    const buf = this.buf;
    while (value > 0x7f) {
      buf[at++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[at] = value;
  }

  string(key: number, text: string): void {
    this.keyOf(key);
    const n = text.length;
    const reserve = varintSize(n * 3);
    const start = this.begin(reserve);
    this.ensure(n * 3);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) {
        pos += utf8Encoder.encodeInto(text.slice(i), buf.subarray(pos)).written;
        break;
      }
      buf[pos++] = c;
    }
    this.pos = pos;
    this.finish(start, reserve);
  }

  /** A field key of any field number. */
  keyOf(tag: number): void {
    if (tag < 0x80) this.key(tag);
    else this.uvarint(tag);
  }

  /** The bytes of a lowercase hex id. */
  hexId(key: number, hex: string): void {
    const n = hex.length >> 1;
    this.ensure(2 + n);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = key;
    buf[pos++] = n;
    for (let i = 0; i < n; i++) {
      buf[pos++] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
    }
    this.pos = pos;
  }

  bytes(key: number, bytes: Uint8Array): void {
    this.ensure(2 + bytes.length);
    this.buf[this.pos++] = key;
    this.buf[this.pos++] = bytes.length;
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A dotted quad as 4 bytes, parsed in place; false when it isn't one. */
  ipv4(key: number, text: string): boolean {
    this.ensure(6);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = key;
    buf[pos++] = 4;
    let part = 0;
    let digits = 0;
    let dots = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x2e) {
        if (digits === 0 || dots === 3) return false;
        buf[pos++] = part;
        dots++;
        part = 0;
        digits = 0;
      } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
        part = part * 10 + c - 0x30;
        digits++;
        if (part > 255) return false;
      } else {
        return false;
      }
    }
    if (digits === 0 || dots !== 3) return false;
    buf[pos++] = part;
    this.pos = pos;
    return true;
  }

  endpoint(key: number, endpoint: Endpoint, index: number, field: string): void {
    this.key(key);
    const start = this.begin(1);
    if (endpoint.serviceName) this.string((1 << 3) | LEN, endpoint.serviceName);
    if (endpoint.ipv4 && !this.ipv4((2 << 3) | LEN, endpoint.ipv4)) {
      badAddress(index, `${field}.ipv4`, endpoint.ipv4);
    }
    if (endpoint.ipv6) {
      const bytes = ipv6TextToBytes(endpoint.ipv6);
      if (!bytes) badAddress(index, `${field}.ipv6`, endpoint.ipv6);
      this.bytes((3 << 3) | LEN, bytes);
    }
    if (endpoint.port) {
      this.key((4 << 3) | VARINT);
      this.uvarint(endpoint.port);
    }
    this.finish(start, 1);
  }

  annotation(annotation: Annotation): void {
    this.key((10 << 3) | LEN);
    const start = this.begin(1);
    this.key((1 << 3) | I64);
    this.fixed64(annotation.timestamp);
    this.string((2 << 3) | LEN, annotation.value);
    if (annotation.level !== undefined) {
      this.keyOf((100 << 3) | VARINT);
      this.uvarint(annotation.level);
    }
    this.finish(start, 1);
  }

  span(span: Span, index: number): void {
    this.key((1 << 3) | LEN);
    const start = this.begin(2);
    this.hexId((1 << 3) | LEN, span.traceId);
    if (span.parentId !== undefined) this.hexId((2 << 3) | LEN, span.parentId);
    this.hexId((3 << 3) | LEN, span.id);
    if (span.kind !== undefined) {
      const kind = KINDS.indexOf(span.kind);
      if (kind > 0) {
        this.key((4 << 3) | VARINT);
        this.uvarint(kind);
      }
    }
    if (span.name) this.string((5 << 3) | LEN, span.name);
    if (span.timestamp) {
      this.key((6 << 3) | I64);
      this.fixed64(span.timestamp);
    }
    if (span.duration) {
      this.key((7 << 3) | VARINT);
      this.uvarint(span.duration);
    }
    if (span.localEndpoint) {
      this.endpoint((8 << 3) | LEN, span.localEndpoint, index, 'localEndpoint');
    }
    if (span.remoteEndpoint) {
      this.endpoint((9 << 3) | LEN, span.remoteEndpoint, index, 'remoteEndpoint');
    }
    if (span.annotations) for (const a of span.annotations) this.annotation(a);
    if (span.tags) {
      const tags = span.tags;
      for (const key in tags) {
        this.key((11 << 3) | LEN);
        const entry = this.begin(1);
        this.string((1 << 3) | LEN, key);
        this.string((2 << 3) | LEN, tags[key]!);
        this.finish(entry, 1);
      }
    }
    if (span.debug) {
      this.key((12 << 3) | VARINT);
      this.key(1);
    }
    if (span.shared) {
      this.key((13 << 3) | VARINT);
      this.key(1);
    }
    if (span.level !== undefined) {
      this.keyOf((100 << 3) | VARINT);
      this.uvarint(span.level);
    }
    if (span.node) this.string((101 << 3) | LEN, span.node);
    if (span.clockOffset !== undefined) {
      this.keyOf((102 << 3) | VARINT);
      this.sint64(span.clockOffset);
    }
    this.finish(start, 2);
  }

  sint64(value: number): void {
    // Zigzag: 2v for v ≥ 0, 2|v| - 1 for v < 0, computed on 32-bit halves to stay exact.
    const m = Math.abs(value);
    let lo = m >>> 0;
    let hi = Math.floor(m / TWO_32) >>> 0;
    hi = ((hi << 1) | (lo >>> 31)) >>> 0;
    lo = (lo << 1) >>> 0;
    if (value < 0) {
      if (lo === 0) hi = (hi - 1) >>> 0;
      lo = (lo - 1) >>> 0;
    }
    this.varint64(lo, hi);
  }
}

function badAddress(index: number, field: string, value: string): never {
  throw new InvalidSpanError(`spans[${index}].${field} is not an IP address: ${value}`);
}

function varintSize(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

const NIBBLES = new Uint8Array(128);
for (let i = 0; i < 16; i++) {
  NIBBLES['0123456789abcdef'.charCodeAt(i)] = i;
  NIBBLES['0123456789ABCDEF'.charCodeAt(i)] = i;
}

function nibble(c: number): number {
  return NIBBLES[c & 0x7f]!;
}

function ipv4TextToBytes(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    out[i] = Number(part);
  }
  return out;
}

/** 16 bytes of IPv6 text (any valid form, with an optional dotted tail; a zone is dropped). */
export function ipv6TextToBytes(text: string): Uint8Array | undefined {
  const zone = text.indexOf('%');
  const address = zone >= 0 ? text.slice(0, zone) : text;
  const halves = address.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = ipv4TextToBytes(piece);
        if (!v4) return undefined;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return groups;
  };
  const head = parse(halves[0]!);
  const tail = halves.length === 2 ? parse(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  return out;
}

/**
 * Encodes spans as a zipkin.proto ListOfSpans, with blkkin's extension fields when present.
 * Expects normalised spans (see normalizeSpans); an address that isn't one throws InvalidSpanError.
 */
export function encodeZipkinProto3(spans: readonly Span[]): Uint8Array {
  const writer = new Writer(spans.length * 256);
  for (let i = 0; i < spans.length; i++) writer.span(spans[i]!, i);
  return writer.buf.slice(0, writer.pos);
}
