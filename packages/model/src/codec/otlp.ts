import { isIP } from 'node:net';
import { bytesToHex } from '../ids.js';
import { isLevel, parseLevel, type Level } from '../levels.js';
import { DEFAULT_LIMITS, type SpanLimits } from '../limits.js';
import { InvalidSpanError, normalizeSpans } from '../normalize.js';
import type { Span, SpanKind } from '../span.js';
import { ExportTraceServiceRequest, OTLP_SPAN_KINDS, OTLP_STATUS_CODES } from './otlp-schema.js';

/**
 * OTLP/HTTP trace decoding: an ExportTraceServiceRequest, as protobuf or as OTLP/JSON, becomes
 * blkkin spans. Both formats are walked by the same code (protobufjs gives the same lowerCamelCase
 * field names as OTLP/JSON; only the leaves differ: bytes or hex ids, Long or decimal-string
 * 64-bit integers, enum numbers or names), which builds raw spans of the Zipkin v2 JSON shape and
 * hands them to `normalizeSpans`. The mapping follows @opentelemetry/exporter-zipkin and the
 * OpenTelemetry→Zipkin specification; docs/otlp-mapping.md describes it.
 */

/** Decodes an OTLP/HTTP protobuf body (`application/x-protobuf`). Throws InvalidSpanError only. */
export function decodeOtlpProtobuf(body: Uint8Array, limits: SpanLimits = DEFAULT_LIMITS): Span[] {
  let request: unknown;
  try {
    if (!(body instanceof Uint8Array)) throw new Error(`expected bytes, not ${typeOf(body)}`);
    request = ExportTraceServiceRequest.decode(body);
  } catch (err) {
    throw new InvalidSpanError(`not a valid OTLP protobuf message: ${describe(err)}`, 'malformed');
  }
  return guarded(true, request, limits);
}

/** Decodes an OTLP/HTTP JSON body (`application/json`). Throws InvalidSpanError only. */
export function decodeOtlpJson(text: string, limits: SpanLimits = DEFAULT_LIMITS): Span[] {
  let request: unknown;
  try {
    if (typeof text !== 'string') throw new Error(`expected text, not ${typeOf(text)}`);
    request = JSON.parse(text);
  } catch (err) {
    throw new InvalidSpanError(`not valid OTLP JSON: ${describe(err)}`, 'malformed');
  }
  return guarded(false, request, limits);
}

function guarded(binary: boolean, request: unknown, limits: SpanLimits): Span[] {
  try {
    return new Walker(limits, binary).request(request);
  } catch (err) {
    if (err instanceof InvalidSpanError) throw err;
    // Only something unforeseen (a stack overflow on absurd nesting, say) gets here.
    const format = binary ? 'protobuf' : 'JSON';
    throw new InvalidSpanError(`not a valid OTLP ${format} message: ${describe(err)}`, 'malformed');
  }
}

type Raw = Record<string, unknown>;

/** Names normalize's Zipkin fields by what they were in OTLP, where that is one-to-one. */
function otlpNames(rest: string): string {
  return rest
    .replace(/^\.annotations\[(\d+)\]\.value\b/, '.events[$1].name')
    .replace(/^\.annotations\[(\d+)\]\.timestamp\b/, '.events[$1].timeUnixNano')
    .replace(/^\.annotations\b/, '.events');
}

function isObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function show(value: unknown): string {
  let text: string;
  if (value instanceof Uint8Array) text = `0x${bytesToHex(value)}`;
  else text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A protobufjs Long (64-bit integers decode to these when the long package is present). */
interface LongBits {
  low: number;
  high: number;
  unsigned?: boolean;
}

function isLong(value: unknown): value is LongBits {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as LongBits).low === 'number' &&
    typeof (value as LongBits).high === 'number'
  );
}

const NANOS_DIGITS = /^\d{1,20}$/;
const INT64 = /^-?\d{1,19}$/;
const MAX_DEPTH = 32;

const ANY_VALUE_FIELDS = [
  'stringValue',
  'intValue',
  'boolValue',
  'doubleValue',
  'arrayValue',
  'kvlistValue',
  'bytesValue',
] as const;
type AnyValueField = (typeof ANY_VALUE_FIELDS)[number];

const KINDS: readonly (SpanKind | undefined)[] = [
  undefined, // SPAN_KIND_UNSPECIFIED
  undefined, // SPAN_KIND_INTERNAL: Zipkin leaves local spans without a kind
  'SERVER',
  'CLIENT',
  'PRODUCER',
  'CONSUMER',
];

const SERVICE_NAME = 'service.name';
const HOST_NAME = 'host.name';
const LEVEL = 'blkkin.level';

/**
 * Where the remote endpoint comes from, by the span's role. The caller's view (CLIENT, PRODUCER):
 * the peer is the server it called. The callee's view (SERVER, CONSUMER): the peer is the client,
 * and `server.address` names the span's own host, so it is not used.
 */
interface RemoteKeys {
  serviceName: readonly string[];
  ip: readonly string[];
  port: readonly string[];
}

const CALLER: RemoteKeys = {
  serviceName: ['peer.service', 'server.address', 'net.peer.name'],
  ip: [
    'network.peer.address',
    'net.peer.ip',
    'net.sock.peer.addr',
    'server.address',
    'net.peer.name',
  ],
  port: ['network.peer.port', 'net.peer.port', 'net.sock.peer.port', 'server.port'],
};
const CALLEE: RemoteKeys = {
  serviceName: ['peer.service'],
  ip: ['network.peer.address', 'net.peer.ip', 'net.sock.peer.addr', 'client.address'],
  port: ['network.peer.port', 'net.peer.port', 'net.sock.peer.port', 'client.port'],
};
const REMOTE_KEYS = new Set([
  ...CALLER.serviceName,
  ...CALLER.ip,
  ...CALLER.port,
  ...CALLEE.ip,
  ...CALLEE.port,
]);

/** What every span of one resource shares. */
interface ResourceContext {
  serviceName?: string;
  node?: string;
  tags: [string, string][];
}

class Walker {
  /** Indices of the span being read, for messages. */
  private r = 0;
  private s = 0;
  private k = -1;
  /** The part within the span (or resource, or scope) being read: `status.`, `events[2].`, ... */
  private sub = '';
  /** Nanoseconds past the microsecond of the last time read by `micros`. */
  private ns = 0;
  /** The attribute being read (its list and key), named in messages only when one fails. */
  private attributes = 'attributes';
  private key = '';

  constructor(
    private readonly limits: SpanLimits,
    /** Protobuf (bytes ids, Long integers) rather than OTLP/JSON (hex ids, decimal strings). */
    private readonly binary: boolean,
  ) {}

  private where(): string {
    let path = `resourceSpans[${this.r}]`;
    if (this.s >= 0) path += `.scopeSpans[${this.s}]`;
    if (this.k >= 0) path += `.spans[${this.k}]`;
    return path;
  }

  private fail(field: string, problem: string, reason = 'invalid'): never {
    throw new InvalidSpanError(`${this.where()}.${this.sub}${field} ${problem}`, reason);
  }

  request(raw: unknown): Span[] {
    if (!isObject(raw)) {
      throw new InvalidSpanError(
        `expected an OTLP ExportTraceServiceRequest object, not ${typeOf(raw)}`,
        'malformed',
      );
    }
    const resourceSpans = raw.resourceSpans;
    if (resourceSpans === undefined || resourceSpans === null) return [];
    if (!Array.isArray(resourceSpans)) {
      throw new InvalidSpanError(
        `resourceSpans must be an array, not ${typeOf(resourceSpans)}`,
        'malformed',
      );
    }

    // First the shape and the size, so that an oversized batch costs nothing more.
    let total = 0;
    for (this.r = 0; this.r < resourceSpans.length; this.r++) {
      this.s = -1;
      this.k = -1;
      const rs = this.object(resourceSpans[this.r]);
      const scopeSpans = this.list(rs, 'scopeSpans');
      for (this.s = 0; this.s < scopeSpans.length; this.s++) {
        total += this.list(this.object(scopeSpans[this.s]), 'spans').length;
      }
    }
    if (total > this.limits.maxSpansPerBatch) {
      throw new InvalidSpanError(
        `batch has ${total} spans, more than the limit of ${this.limits.maxSpansPerBatch}: send smaller batches`,
        'too_large',
      );
    }

    const out: Raw[] = new Array<Raw>(total);
    const places = new Uint32Array(total * 3);
    let n = 0;
    for (this.r = 0; this.r < resourceSpans.length; this.r++) {
      this.s = -1;
      this.k = -1;
      const rs = resourceSpans[this.r] as Raw;
      const resource = this.resource(rs.resource);
      const scopeSpans = rs.scopeSpans as unknown[] | undefined;
      if (!scopeSpans) continue;
      for (this.s = 0; this.s < scopeSpans.length; this.s++) {
        this.k = -1;
        const ss = scopeSpans[this.s] as Raw;
        const scopeTags = this.scope(ss.scope);
        const spans = ss.spans as unknown[] | undefined;
        if (!spans) continue;
        for (this.k = 0; this.k < spans.length; this.k++) {
          out[n] = this.span(this.object(spans[this.k]), resource, scopeTags);
          places[n * 3] = this.r;
          places[n * 3 + 1] = this.s;
          places[n * 3 + 2] = this.k;
          n++;
        }
      }
    }

    try {
      return normalizeSpans(out, this.limits);
    } catch (err) {
      // normalize names spans by their place in the flat batch; name them by their OTLP place.
      if (!(err instanceof InvalidSpanError)) throw err;
      const match = /^spans\[(\d+)\]/.exec(err.message);
      if (!match) throw err;
      const i = Number(match[1]);
      const place = `resourceSpans[${places[i * 3]}].scopeSpans[${places[i * 3 + 1]}].spans[${places[i * 3 + 2]}]`;
      throw new InvalidSpanError(place + otlpNames(err.message.slice(match[0].length)), err.reason);
    }
  }

  // --- structure -------------------------------------------------------------------------------

  private object(raw: unknown): Raw {
    if (isObject(raw)) return raw;
    throw new InvalidSpanError(
      `${this.where()} must be an object, not ${typeOf(raw)}`,
      'malformed',
    );
  }

  private optionalObject(raw: Raw, field: string): Raw | undefined {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    if (!isObject(value)) this.fail(field, `must be an object, not ${typeOf(value)}`, 'malformed');
    return value;
  }

  private list(raw: Raw, field: string, label = field): unknown[] {
    const value = raw[field];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value))
      this.fail(label, `must be an array, not ${typeOf(value)}`, 'malformed');
    return value;
  }

  private string(raw: Raw, field: string): string {
    const value = raw[field];
    if (value === undefined || value === null) return '';
    if (typeof value !== 'string') this.fail(field, `must be a string, not ${typeOf(value)}`);
    return value;
  }

  private uint32(raw: Raw, field: string): number {
    const value = raw[field];
    if (value === undefined || value === null) return 0;
    const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      this.fail(field, `must be an unsigned 32-bit integer, not ${show(value)}`);
    }
    return n;
  }

  /** An enum as its number: OTLP/JSON may send the number or the value's name. */
  private enumeration(raw: Raw, field: string, names: readonly string[]): number {
    const value = raw[field];
    if (value === undefined || value === null) return 0;
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
    if (typeof value === 'string') {
      const index = names.indexOf(value);
      if (index >= 0) return index;
    }
    return this.fail(field, `must be one of ${names.join(', ')} or its number, not ${show(value)}`);
  }

  /**
   * Unix epoch nanoseconds (fixed64: a Long, a number, or a decimal string) as whole microseconds,
   * exactly, with the nanoseconds left over in `this.ns`; undefined when absent or 0.
   */
  private micros(raw: Raw, field: string): number | undefined {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    let us: number;
    if (this.binary && isLong(value)) {
      // high·2³² + low = 1000·high·4294967 + (high·296 + low), every part exact in a double.
      const high = value.high >>> 0;
      const rest = high * 296 + (value.low >>> 0);
      us = high * 4294967 + Math.floor(rest / 1000);
      this.ns = rest % 1000;
    } else if (typeof value === 'string' && NANOS_DIGITS.test(value)) {
      us = value.length > 3 ? Number(value.slice(0, -3)) : 0;
      this.ns = Number(value.slice(-3));
    } else if (typeof value === 'number' && Number.isInteger(value) && value >= 0) {
      us = Math.floor(value / 1000);
      this.ns = value - us * 1000;
    } else {
      return this.fail(field, `must be unsigned nanoseconds since the epoch, not ${show(value)}`);
    }
    return us === 0 && this.ns === 0 ? undefined : us;
  }

  /**
   * A trace or span id: bytes in protobuf, hex in OTLP/JSON (not base64, unlike protobuf's JSON
   * mapping). Undefined when empty; `required` makes empty an error.
   */
  private id(raw: Raw, field: string, bytes: number, required: boolean): string | undefined {
    const value = raw[field];
    // (protobufjs reads an absent bytes field as an empty array, its prototype's default.)
    if (
      value === undefined ||
      value === null ||
      ((typeof value === 'string' || value instanceof Uint8Array || Array.isArray(value)) &&
        value.length === 0)
    ) {
      if (required) this.fail(field, 'is missing', 'invalid_id');
      return undefined;
    }
    let hex: string;
    if (this.binary && value instanceof Uint8Array) {
      if (value.length !== bytes) {
        this.fail(field, `must be ${bytes} bytes, not ${value.length}`, 'invalid_id');
      }
      hex = bytesToHex(value);
    } else if (!this.binary && typeof value === 'string') {
      if (value.length !== bytes * 2) {
        this.fail(
          field,
          `must be ${bytes * 2} hex digits, not ${value.length}: ${show(value)}`,
          'invalid_id',
        );
      }
      if (!/^[0-9a-fA-F]+$/.test(value)) {
        this.fail(field, `is not hex: ${show(value)}`, 'invalid_id');
      }
      hex = value.toLowerCase();
    } else {
      const expected = this.binary ? `${bytes} bytes` : `a string of ${bytes * 2} hex digits`;
      return this.fail(field, `must be ${expected}, not ${typeOf(value)}`, 'invalid_id');
    }
    if (/^0+$/.test(hex)) {
      // An all-zero parent is how some senders say "root" (Zipkin reads it so too).
      if (!required) return undefined;
      this.fail(field, 'is all zeros', 'invalid_id');
    }
    return hex;
  }

  // --- attribute values --------------------------------------------------------------------------

  /** The set member of an AnyValue, or undefined for an empty one. */
  private member(value: Raw): AnyValueField | undefined {
    for (const field of ANY_VALUE_FIELDS) {
      if (Object.hasOwn(value, field) && value[field] !== undefined && value[field] !== null) {
        return field;
      }
    }
    return undefined;
  }

  /**
   * A KeyValue list, checked: every entry an object with a string key and an AnyValue object or
   * nothing as value. `label` names the list in messages.
   */
  private keyValues(raw: Raw, field: string, label = field): Raw[] {
    const list = this.list(raw, field, label);
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      if (!isObject(kv)) {
        this.fail(`${label}[${i}]`, `must be an object, not ${typeOf(kv)}`, 'malformed');
      }
      const key = kv.key;
      if (typeof key !== 'string') {
        this.fail(`${label}[${i}].key`, `must be a string, not ${typeOf(key)}`, 'malformed');
      }
      const value = kv.value;
      if (value !== undefined && value !== null && !isObject(value)) {
        this.fail(
          `${label}[${show(key)}]`,
          `must be an AnyValue object, not ${typeOf(value)}`,
          'malformed',
        );
      }
    }
    return list as Raw[];
  }

  /** Sets the attribute being read, for messages. */
  private reading(list: string, key: string): void {
    this.attributes = list;
    this.key = key;
  }

  /** Where a problem is: `at` inside an array or key-value list, or the attribute being read. */
  private label(at: string | undefined): string {
    return at ?? `${this.attributes}[${show(this.key)}]`;
  }

  /** The tag text of an attribute value: scalars as text, arrays and key-value lists as JSON. */
  private text(value: unknown): string {
    if (value === undefined || value === null) return '';
    const field = this.member(value as Raw);
    if (field === undefined) return '';
    const v = (value as Raw)[field];
    switch (field) {
      case 'stringValue':
        if (typeof v !== 'string')
          this.fail(`${this.label(undefined)}.stringValue`, `must be a string, not ${typeOf(v)}`);
        return v;
      case 'arrayValue':
      case 'kvlistValue':
        return this.json(value as Raw, this.label(undefined), 0);
      default:
        return this.scalar(field, v, undefined);
    }
  }

  /** int, double, bool or bytes (as base64) as text. */
  private scalar(field: AnyValueField, v: unknown, at: string | undefined): string {
    switch (field) {
      case 'boolValue':
        if (typeof v === 'boolean') return v ? 'true' : 'false';
        return this.fail(`${this.label(at)}.boolValue`, `must be a boolean, not ${typeOf(v)}`);
      case 'intValue':
        if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
        if (typeof v === 'string' && INT64.test(v)) {
          const n = BigInt(v);
          if (BigInt.asIntN(64, n) === n) return n.toString();
        }
        if (this.binary && isLong(v)) {
          // Most values fit a double exactly; the rest go through BigInt.
          if (!v.unsigned && v.high >= -0x200000 && v.high < 0x200000) {
            return String(v.high * 0x100000000 + (v.low >>> 0));
          }
          const bits = (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0);
          return (v.unsigned ? bits : BigInt.asIntN(64, bits)).toString();
        }
        return this.fail(`${this.label(at)}.intValue`, `must be a 64-bit integer, not ${show(v)}`);
      case 'doubleValue':
        // OTLP/JSON spells the non-finite ones "NaN", "Infinity" and "-Infinity".
        if (typeof v === 'number') return String(v);
        if (
          typeof v === 'string' &&
          (v === 'NaN' || (v.trim() !== '' && !Number.isNaN(Number(v))))
        ) {
          return v === 'NaN' ? v : String(Number(v));
        }
        return this.fail(`${this.label(at)}.doubleValue`, `must be a number, not ${show(v)}`);
      case 'bytesValue':
        if (this.binary && v instanceof Uint8Array) {
          return Buffer.from(v.buffer, v.byteOffset, v.length).toString('base64');
        }
        if (!this.binary && typeof v === 'string') return v; // OTLP/JSON sends base64 already
        return this.fail(`${this.label(at)}.bytesValue`, `must be bytes, not ${typeOf(v)}`);
      default:
        return this.fail(this.label(at), `is not a scalar`);
    }
  }

  /** An AnyValue as JSON text; `at` names it in messages. */
  private json(value: Raw | undefined, at: string, depth: number): string {
    if (depth > MAX_DEPTH)
      this.fail(this.label(undefined), `nests more than ${MAX_DEPTH} levels deep`);
    if (value === undefined) return 'null';
    const field = this.member(value);
    if (field === undefined) return 'null';
    const v = value[field];
    switch (field) {
      case 'stringValue':
        if (typeof v !== 'string')
          this.fail(`${at}.stringValue`, `must be a string, not ${typeOf(v)}`);
        return JSON.stringify(v);
      case 'bytesValue':
        return JSON.stringify(this.scalar(field, v, at));
      case 'arrayValue': {
        if (!isObject(v))
          this.fail(`${at}.arrayValue`, `must be an object, not ${typeOf(v)}`, 'malformed');
        const items = this.list(v, 'values', `${at}.arrayValue.values`);
        const parts: string[] = [];
        for (let i = 0; i < items.length; i++) {
          const item = items[i];
          const itemAt = `${at}.arrayValue.values[${i}]`;
          if (item !== undefined && item !== null && !isObject(item)) {
            this.fail(itemAt, `must be an AnyValue object, not ${typeOf(item)}`, 'malformed');
          }
          parts.push(this.json(item ?? undefined, itemAt, depth + 1));
        }
        return `[${parts.join(',')}]`;
      }
      case 'kvlistValue': {
        if (!isObject(v))
          this.fail(`${at}.kvlistValue`, `must be an object, not ${typeOf(v)}`, 'malformed');
        const parts: string[] = [];
        for (const kv of this.keyValues(v, 'values', `${at}.kvlistValue.values`)) {
          const key = kv.key as string;
          const item = (kv.value ?? undefined) as Raw | undefined;
          parts.push(`${JSON.stringify(key)}:${this.json(item, `${at}[${show(key)}]`, depth + 1)}`);
        }
        return `{${parts.join(',')}}`;
      }
      default: {
        const text = this.scalar(field, v, at);
        // Numbers stay numbers (64-bit integers keep every digit); NaN and infinities are strings.
        return field === 'doubleValue' && !Number.isFinite(Number(text))
          ? JSON.stringify(text)
          : text;
      }
    }
  }

  // --- resource, scope, span ---------------------------------------------------------------------

  private resource(raw: unknown): ResourceContext {
    const context: ResourceContext = { tags: [] };
    if (raw === undefined || raw === null) return context;
    if (!isObject(raw)) this.fail('resource', `must be an object, not ${typeOf(raw)}`, 'malformed');
    this.sub = 'resource.';
    for (const kv of this.keyValues(raw, 'attributes')) {
      const key = kv.key as string;
      this.reading('attributes', key);
      const text = this.text(kv.value);
      if (key === SERVICE_NAME) {
        if (text) context.serviceName = text;
        continue;
      }
      if (key === HOST_NAME && text) context.node = text;
      context.tags.push([key, text]);
    }
    this.sub = '';
    return context;
  }

  private scope(raw: unknown): [string, string][] {
    if (raw === undefined || raw === null) return [];
    if (!isObject(raw)) this.fail('scope', `must be an object, not ${typeOf(raw)}`, 'malformed');
    this.sub = 'scope.';
    const tags: [string, string][] = [];
    const name = this.string(raw, 'name');
    if (name) tags.push(['otel.scope.name', name]);
    const version = this.string(raw, 'version');
    if (version) tags.push(['otel.scope.version', version]);
    this.sub = '';
    return tags;
  }

  private span(raw: Raw, resource: ResourceContext, scopeTags: [string, string][]): Raw {
    const out: Raw = {
      traceId: this.id(raw, 'traceId', 16, true),
      id: this.id(raw, 'spanId', 8, true),
    };
    const parentId = this.id(raw, 'parentSpanId', 8, false);
    if (parentId) out.parentId = parentId;
    const kind = KINDS[this.enumeration(raw, 'kind', OTLP_SPAN_KINDS)];
    if (kind) out.kind = kind;
    const name = this.string(raw, 'name');
    if (name) out.name = name;

    const start = this.micros(raw, 'startTimeUnixNano');
    const startNs = this.ns;
    const end = this.micros(raw, 'endTimeUnixNano');
    if (start !== undefined) {
      out.timestamp = start;
      if (end !== undefined) {
        const elapsed = (end - start) * 1000 + (this.ns - startNs);
        if (elapsed > 0) out.duration = Math.max(1, Math.round(elapsed / 1000));
      }
    }

    const local: Raw = {};
    if (resource.serviceName) local.serviceName = resource.serviceName;
    out.localEndpoint = local;
    if (resource.node) out.node = resource.node;

    // Tags in exporter-zipkin's order: attributes, status, dropped counts, resource attributes.
    const tags: Record<string, string> = {};
    let peer: Map<string, string> | undefined;
    for (const kv of this.keyValues(raw, 'attributes')) {
      const key = kv.key as string;
      this.reading('attributes', key);
      if (key === LEVEL) {
        out.level = this.level(kv.value);
        continue;
      }
      const text = this.text(kv.value);
      // The specification: a boolean `error` tag of false is dropped (Zipkin reads any as failed).
      if (key === 'error' && text === 'false') continue;
      tags[key] = text;
      if (kind && REMOTE_KEYS.has(key)) (peer ??= new Map()).set(key, text.trim());
    }

    const status = this.optionalObject(raw, 'status');
    if (status) {
      this.sub = 'status.';
      const code = this.enumeration(status, 'code', OTLP_STATUS_CODES);
      if (code === 1) tags['otel.status_code'] = 'OK';
      else if (code === 2) {
        // As the specification says (exporter-zipkin leaves `error` out when there's no message).
        tags['otel.status_code'] = 'ERROR';
        tags.error = this.string(status, 'message');
      }
      this.sub = '';
    }
    const droppedAttributes = this.uint32(raw, 'droppedAttributesCount');
    if (droppedAttributes) tags['otel.dropped_attributes_count'] = String(droppedAttributes);
    const droppedEvents = this.uint32(raw, 'droppedEventsCount');
    if (droppedEvents) tags['otel.dropped_events_count'] = String(droppedEvents);
    const droppedLinks = this.uint32(raw, 'droppedLinksCount');
    if (droppedLinks) tags['otel.dropped_links_count'] = String(droppedLinks);
    for (const [key, text] of resource.tags) tags[key] = text;
    for (const [key, text] of scopeTags) tags[key] = text;
    out.tags = tags;

    if (peer) {
      const remote = this.remote(peer, kind === 'SERVER' || kind === 'CONSUMER' ? CALLEE : CALLER);
      if (remote) out.remoteEndpoint = remote;
    }

    const events = this.list(raw, 'events');
    if (events.length > 0) {
      const annotations: Raw[] = new Array<Raw>(events.length);
      for (let i = 0; i < events.length; i++) {
        const event = events[i];
        if (!isObject(event)) {
          this.fail(`events[${i}]`, `must be an object, not ${typeOf(event)}`, 'malformed');
        }
        this.sub = `events[${i}].`;
        annotations[i] = this.event(event);
      }
      this.sub = '';
      out.annotations = annotations;
    }
    return out;
  }

  /** An event becomes an annotation named like it (exporter-zipkin drops event attributes). */
  private event(raw: Raw): Raw {
    const annotation: Raw = {};
    const time = this.micros(raw, 'timeUnixNano');
    if (time !== undefined) annotation.timestamp = time;
    annotation.value = this.string(raw, 'name');
    for (const kv of this.keyValues(raw, 'attributes')) {
      if (kv.key !== LEVEL) continue;
      this.reading('attributes', LEVEL);
      annotation.level = this.level(kv.value);
    }
    return annotation;
  }

  /** `blkkin.level`: 0–7, or a level name. */
  private level(value: unknown): Level {
    const field = isObject(value) ? this.member(value) : undefined;
    const v = field && (value as Raw)[field];
    let level: Level | undefined;
    if (field === 'intValue') {
      const n = Number(this.scalar(field, v, undefined));
      if (isLevel(n)) level = n;
    } else if (field === 'stringValue') {
      level = parseLevel(v);
    }
    if (level === undefined) {
      this.fail(
        this.label(undefined),
        `must be an integer 0–7 or an RFC 5424 level name, not ${show(v ?? null)}`,
      );
    }
    return level;
  }

  private remote(peer: Map<string, string>, keys: RemoteKeys): Raw | undefined {
    const endpoint: Raw = {};
    let found = false;
    for (const key of keys.serviceName) {
      const value = peer.get(key);
      if (value && isIP(value) === 0 && value.length <= this.limits.maxNameLength) {
        endpoint.serviceName = value;
        found = true;
        break;
      }
    }
    for (const key of keys.ip) {
      const value = peer.get(key);
      const family = value ? isIP(value) : 0;
      if (family !== 0) {
        endpoint[family === 4 ? 'ipv4' : 'ipv6'] = value;
        found = true;
        break;
      }
    }
    for (const key of keys.port) {
      const value = peer.get(key);
      const port = value && /^\d{1,5}$/.test(value) ? Number(value) : 0;
      if (port > 0 && port <= 65535) {
        endpoint.port = port;
        found = true;
        break;
      }
    }
    return found ? endpoint : undefined;
  }
}
