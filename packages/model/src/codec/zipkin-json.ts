import { DEFAULT_LIMITS, type SpanLimits } from '../limits.js';
import { InvalidSpanError, normalizeSpans } from '../normalize.js';
import type { Annotation, Endpoint, Span } from '../span.js';

/**
 * Zipkin v2 JSON: decoding is JSON.parse and the shared validation; encoding writes Zipkin's own
 * field order (traceId, parentId, id, kind, name, timestamp, duration, localEndpoint,
 * remoteEndpoint, annotations, tags, debug, shared), then blkkin's extensions (level, node,
 * clockOffset; an annotation's level after its value), each only when present.
 */

const utf8 = new TextDecoder();

/** Decodes a Zipkin v2 JSON list of spans into validated spans, or throws InvalidSpanError. */
export function decodeZipkinJson(
  body: string | Uint8Array,
  limits: SpanLimits = DEFAULT_LIMITS,
): Span[] {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof body === 'string' ? body : utf8.decode(body));
  } catch (error) {
    throw new InvalidSpanError(`not valid JSON: ${(error as Error).message}`, 'malformed');
  }
  return normalizeSpans(raw, limits);
}

/** Tag keys in ascending order, as Zipkin writes them (object order puts integer keys first). */
function sortedKeys(tags: Record<string, string>): string[] {
  const keys = Object.keys(tags);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort();
  }
  return keys;
}

/**
 * Writes JSON as UTF-8 bytes. Building one string by concatenation leaves a rope of small pieces
 * that costs more to flatten, when the response is written, than to build; bytes don't.
 */
class JsonWriter {
  buf: Uint8Array;
  pos = 0;

  constructor(buf: Uint8Array) {
    this.buf = buf;
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buf.subarray(0, this.pos));
    this.buf = grown;
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** Text known to be ASCII without anything to escape: keys, ids, kinds. */
  ascii(text: string): void {
    const n = text.length;
    this.ensure(n);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) buf[pos++] = text.charCodeAt(i);
    this.pos = pos;
  }

  /** A JSON string: plain ASCII copied, anything else through JSON.stringify and UTF-8. */
  string(text: string): void {
    const n = text.length;
    this.ensure(n + 2);
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    buf[pos++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
        this.pos = start;
        this.escaped(text);
        return;
      }
      buf[pos++] = c;
    }
    buf[pos++] = 0x22;
    this.pos = pos;
  }

  escaped(text: string): void {
    const json = JSON.stringify(text);
    this.ensure(json.length * 3);
    this.pos += utf8Encoder.encodeInto(json, this.buf.subarray(this.pos)).written;
  }

  /** A safe integer: up to 16 digits, written as two int32 halves. */
  integer(value: number): void {
    this.ensure(17);
    if (value < 0) {
      this.buf[this.pos++] = 0x2d;
      value = -value;
    }
    if (value < 1e8) {
      this.digits(value);
    } else {
      const high = Math.floor(value / 1e8);
      this.digits(high);
      this.eightDigits(value - high * 1e8);
    }
  }

  digits(value: number): void {
    let count = 1;
    for (let v = value; v >= 10; v = (v / 10) | 0) count++;
    const buf = this.buf;
    let pos = this.pos + count;
    this.pos = pos;
    do {
      const q = (value / 10) | 0;
      buf[--pos] = 0x30 + value - q * 10;
      value = q;
    } while (value > 0);
  }

  eightDigits(value: number): void {
    const buf = this.buf;
    let pos = this.pos + 8;
    this.pos = pos;
    for (let i = 0; i < 8; i++) {
      const q = (value / 10) | 0;
      buf[--pos] = 0x30 + value - q * 10;
      value = q;
    }
  }

  endpoint(key: string, endpoint: Endpoint): void {
    const empty =
      endpoint.serviceName === undefined &&
      endpoint.ipv4 === undefined &&
      endpoint.ipv6 === undefined &&
      endpoint.port === undefined;
    if (empty) return;
    this.ascii(key);
    let sep = '{';
    if (endpoint.serviceName !== undefined) {
      this.ascii('{"serviceName":');
      this.string(endpoint.serviceName);
      sep = ',';
    }
    if (endpoint.ipv4 !== undefined) {
      this.ascii(sep === '{' ? '{"ipv4":' : ',"ipv4":');
      this.string(endpoint.ipv4);
      sep = ',';
    }
    if (endpoint.ipv6 !== undefined) {
      this.ascii(sep === '{' ? '{"ipv6":' : ',"ipv6":');
      this.string(endpoint.ipv6);
      sep = ',';
    }
    if (endpoint.port !== undefined) {
      this.ascii(sep === '{' ? '{"port":' : ',"port":');
      this.integer(endpoint.port);
    }
    this.byte(0x7d);
  }

  annotations(annotations: readonly Annotation[]): void {
    this.ascii(',"annotations":[');
    for (let i = 0; i < annotations.length; i++) {
      const a = annotations[i]!;
      this.ascii(i === 0 ? '{"timestamp":' : ',{"timestamp":');
      this.integer(a.timestamp);
      this.ascii(',"value":');
      this.string(a.value);
      if (a.level !== undefined) {
        this.ascii(',"level":');
        this.integer(a.level);
      }
      this.byte(0x7d);
    }
    this.byte(0x5d);
  }

  tags(tags: Record<string, string>): void {
    const keys = sortedKeys(tags);
    if (keys.length === 0) return;
    this.ascii(',"tags":{');
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (i > 0) this.byte(0x2c);
      this.string(key);
      this.byte(0x3a);
      this.string(tags[key]!);
    }
    this.byte(0x7d);
  }

  span(span: Span): void {
    this.ascii('{"traceId":"');
    this.ascii(span.traceId);
    if (span.parentId !== undefined) {
      this.ascii('","parentId":"');
      this.ascii(span.parentId);
    }
    this.ascii('","id":"');
    this.ascii(span.id);
    this.byte(0x22);
    if (span.kind !== undefined) {
      this.ascii(',"kind":"');
      this.ascii(span.kind);
      this.byte(0x22);
    }
    if (span.name !== undefined) {
      this.ascii(',"name":');
      this.string(span.name);
    }
    if (span.timestamp !== undefined) {
      this.ascii(',"timestamp":');
      this.integer(span.timestamp);
    }
    if (span.duration !== undefined) {
      this.ascii(',"duration":');
      this.integer(span.duration);
    }
    if (span.localEndpoint !== undefined) this.endpoint(',"localEndpoint":', span.localEndpoint);
    if (span.remoteEndpoint !== undefined) this.endpoint(',"remoteEndpoint":', span.remoteEndpoint);
    if (span.annotations !== undefined && span.annotations.length > 0) {
      this.annotations(span.annotations);
    }
    if (span.tags !== undefined) this.tags(span.tags);
    if (span.debug) this.ascii(',"debug":true');
    if (span.shared) this.ascii(',"shared":true');
    if (span.level !== undefined) {
      this.ascii(',"level":');
      this.integer(span.level);
    }
    if (span.node !== undefined) {
      this.ascii(',"node":');
      this.string(span.node);
    }
    if (span.clockOffset !== undefined) {
      this.ascii(',"clockOffset":');
      this.integer(span.clockOffset);
    }
    this.byte(0x7d);
  }

  spans(spans: readonly Span[]): void {
    this.byte(0x5b);
    for (let i = 0; i < spans.length; i++) {
      if (i > 0) this.byte(0x2c);
      this.span(spans[i]!);
    }
    this.byte(0x5d);
  }
}

const utf8Encoder = new TextEncoder();
/** Kept between calls up to this size, so that small responses allocate nothing to build. */
const SCRATCH_LIMIT = 1 << 20;
let scratch: Uint8Array = new Uint8Array(64 * 1024);

function write(body: (writer: JsonWriter) => void): JsonWriter {
  const writer = new JsonWriter(scratch);
  body(writer);
  if (writer.buf !== scratch && writer.buf.length <= SCRATCH_LIMIT) scratch = writer.buf;
  return writer;
}

/** A list of spans as Zipkin v2 JSON (the body of POST /api/v2/spans, GET /api/v2/trace/{id}). */
export function encodeZipkinJson(spans: readonly Span[]): string {
  const writer = write((w) => w.spans(spans));
  return utf8.decode(writer.buf.subarray(0, writer.pos));
}

/** encodeZipkinJson as UTF-8 bytes, ready to send. */
export function encodeZipkinJsonBytes(spans: readonly Span[]): Uint8Array {
  const writer = write((w) => w.spans(spans));
  return writer.buf.slice(0, writer.pos);
}

function writeTraces(w: JsonWriter, traces: readonly (readonly Span[])[]): void {
  w.byte(0x5b);
  for (let i = 0; i < traces.length; i++) {
    if (i > 0) w.byte(0x2c);
    w.spans(traces[i]!);
  }
  w.byte(0x5d);
}

/** A list of traces, each a list of spans: the body of GET /api/v2/traces. */
export function encodeTracesJson(traces: readonly (readonly Span[])[]): string {
  const writer = write((w) => writeTraces(w, traces));
  return utf8.decode(writer.buf.subarray(0, writer.pos));
}

/** encodeTracesJson as UTF-8 bytes, ready to send. */
export function encodeTracesJsonBytes(traces: readonly (readonly Span[])[]): Uint8Array {
  const writer = write((w) => writeTraces(w, traces));
  return writer.buf.slice(0, writer.pos);
}

function endpointObject(endpoint: Endpoint): object | undefined {
  const out: Endpoint = {};
  if (endpoint.serviceName !== undefined) out.serviceName = endpoint.serviceName;
  if (endpoint.ipv4 !== undefined) out.ipv4 = endpoint.ipv4;
  if (endpoint.ipv6 !== undefined) out.ipv6 = endpoint.ipv6;
  if (endpoint.port !== undefined) out.port = endpoint.port;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * One span as a plain object in Zipkin's v2 JSON field order. (A JavaScript object lists
 * integer-like keys first, so tags such as "10" precede "a" here; encodeZipkinJson writes every
 * tag in ascending order.)
 */
export function spanToZipkinJson(span: Span): object {
  const out: Record<string, unknown> = { traceId: span.traceId };
  if (span.parentId !== undefined) out.parentId = span.parentId;
  out.id = span.id;
  if (span.kind !== undefined) out.kind = span.kind;
  if (span.name !== undefined) out.name = span.name;
  if (span.timestamp !== undefined) out.timestamp = span.timestamp;
  if (span.duration !== undefined) out.duration = span.duration;
  const local = span.localEndpoint && endpointObject(span.localEndpoint);
  if (local) out.localEndpoint = local;
  const remote = span.remoteEndpoint && endpointObject(span.remoteEndpoint);
  if (remote) out.remoteEndpoint = remote;
  if (span.annotations !== undefined && span.annotations.length > 0) {
    out.annotations = span.annotations.map((a) =>
      a.level === undefined
        ? { timestamp: a.timestamp, value: a.value }
        : { timestamp: a.timestamp, value: a.value, level: a.level },
    );
  }
  if (span.tags !== undefined) {
    const keys = sortedKeys(span.tags);
    if (keys.length > 0) {
      const tags: Record<string, string> = {};
      for (const key of keys) {
        if (key === '__proto__') {
          Object.defineProperty(tags, key, {
            value: span.tags[key],
            enumerable: true,
            writable: true,
            configurable: true,
          });
        } else {
          tags[key] = span.tags[key]!;
        }
      }
      out.tags = tags;
    }
  }
  if (span.debug) out.debug = true;
  if (span.shared) out.shared = true;
  if (span.level !== undefined) out.level = span.level;
  if (span.node !== undefined) out.node = span.node;
  if (span.clockOffset !== undefined) out.clockOffset = span.clockOffset;
  return out;
}
