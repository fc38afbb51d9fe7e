import { isIPv4, isIPv6 } from 'node:net';
import { isZeroId, normalizeSpanId, normalizeTraceId } from './ids.js';
import { DEFAULT_LIMITS, type SpanLimits } from './limits.js';
import { isLevel } from './levels.js';
import type { Annotation, Endpoint, Span, SpanKind } from './span.js';

/**
 * Validation at the boundary, as Zipkin's own model does it: every decoder (Zipkin JSON, proto3,
 * OTLP, agent batches) hands raw spans of the Zipkin v2 JSON shape to `normalizeSpans`, and what
 * comes out is trusted everywhere inside.
 *
 * This runs for every ingested span, so it allocates only what the result holds: the path of a
 * problem ("spans[3].localEndpoint.port") is put together only when there is one, and sorting
 * happens only when the input is not sorted already.
 */

/** A batch that cannot be accepted; `message` names the span and the field. */
export class InvalidSpanError extends Error {
  override readonly name = 'InvalidSpanError';
  /** A short, stable reason for metrics (`invalid_id`, `too_large`, ...). */
  readonly reason: string;
  constructor(message: string, reason = 'invalid') {
    super(message);
    this.reason = reason;
  }
}

type Raw = Record<string, unknown>;

function isObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** Where the checker is, kept as numbers and constants until a message needs it. */
class Where {
  index = 0;
  /** '' or '.localEndpoint' / '.remoteEndpoint'. */
  section = '';
  /** ≥ 0 while inside annotations[annotation]. */
  annotation = -1;

  constructor(readonly limits: SpanLimits) {}

  path(): string {
    const inner = this.annotation >= 0 ? `.annotations[${this.annotation}]` : this.section;
    return `spans[${this.index}]${inner}`;
  }

  fail(field: string, problem: string, reason = 'invalid'): never {
    throw new InvalidSpanError(`${this.path()}.${field} ${problem}`, reason);
  }

  optionalString(value: unknown, field: string, max: number): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') this.fail(field, `must be a string, not ${typeOf(value)}`);
    if (value.length > max) this.fail(field, `is longer than ${max} characters`, 'too_large');
    return value;
  }

  /** A lowercase name, absent when empty. */
  name(value: unknown, field: string): string | undefined {
    const text = this.optionalString(value, field, this.limits.maxNameLength);
    return text ? text.toLowerCase() : undefined;
  }

  /** A positive integer of microseconds; 0 or absent means unknown. */
  micros(value: unknown, field: string): number | undefined {
    if (value === undefined || value === null || value === 0) return undefined;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      this.fail(field, `must be a non-negative integer of microseconds, not ${show(value)}`);
    }
    return n === 0 ? undefined : n;
  }

  id(value: unknown, field: string, normalize: (id: string) => string | { error: string }): string {
    if (value === undefined || value === null) this.fail(field, 'is missing', 'invalid_id');
    if (typeof value !== 'string') {
      this.fail(field, `must be a hex string, not ${typeOf(value)}`, 'invalid_id');
    }
    const id = normalize(value);
    if (typeof id !== 'string') this.fail(field, `${id.error}: ${show(value)}`, 'invalid_id');
    return id;
  }
}

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

function normalizeEndpoint(w: Where, raw: unknown, field: string): Endpoint | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) w.fail(field, `must be an object, not ${typeOf(raw)}`);
  w.section = field === 'localEndpoint' ? '.localEndpoint' : '.remoteEndpoint';
  const endpoint: Endpoint = {};
  let empty = true;
  const serviceName = w.name(raw.serviceName, 'serviceName');
  if (serviceName) {
    endpoint.serviceName = serviceName;
    empty = false;
  }
  for (const key of ['ipv4', 'ipv6'] as const) {
    const ip = w.optionalString(raw[key], key, 64);
    if (!ip) continue;
    empty = false;
    // Like Zipkin, an address goes where its family says, and IPv4-mapped IPv6 becomes IPv4.
    if (isIPv4(ip)) endpoint.ipv4 = ip;
    else if (isIPv6(ip)) {
      const mapped = IPV4_MAPPED.exec(ip);
      if (mapped && isIPv4(mapped[1]!)) endpoint.ipv4 = mapped[1]!;
      else endpoint.ipv6 = ip.toLowerCase();
    } else w.fail(key, `is not an IP address: ${show(ip)}`);
  }
  const port = raw.port;
  if (port !== undefined && port !== null && port !== 0) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      w.fail('port', `must be an integer 0–65535, not ${show(port)}`);
    }
    endpoint.port = port;
    empty = false;
  }
  w.section = '';
  return empty ? undefined : endpoint;
}

function compareAnnotations(a: Annotation, b: Annotation): number {
  return a.timestamp - b.timestamp || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
}

function normalizeAnnotations(w: Where, raw: unknown): Annotation[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) w.fail('annotations', `must be an array, not ${typeOf(raw)}`);
  if (raw.length === 0) return undefined;
  if (raw.length > w.limits.maxAnnotationsPerSpan) {
    w.fail('annotations', `has more than ${w.limits.maxAnnotationsPerSpan} entries`, 'too_large');
  }
  const out = new Array<Annotation>(raw.length);
  let sorted = true;
  for (let i = 0; i < raw.length; i++) {
    const item: unknown = raw[i];
    if (!isObject(item)) w.fail(`annotations[${i}]`, `must be an object, not ${typeOf(item)}`);
    w.annotation = i;
    const timestamp = w.micros(item.timestamp, 'timestamp');
    if (timestamp === undefined) w.fail('timestamp', 'is missing: an annotation needs a time');
    const value = w.optionalString(item.value, 'value', w.limits.maxValueLength);
    if (!value) w.fail('value', 'is missing or empty');
    const level = item.level;
    let annotation: Annotation;
    if (level === undefined || level === null) annotation = { timestamp, value };
    else {
      if (!isLevel(level)) w.fail('level', `must be an integer 0–7, not ${show(level)}`);
      annotation = { timestamp, value, level };
    }
    if (i > 0 && sorted && compareAnnotations(out[i - 1]!, annotation) >= 0) sorted = false;
    out[i] = annotation;
  }
  w.annotation = -1;
  if (sorted) return out;
  // Zipkin keeps annotations as a sorted set: an exact repeat is dropped.
  out.sort(compareAnnotations);
  let kept = 1;
  for (let i = 1; i < out.length; i++) {
    const a = out[i]!;
    const last = out[kept - 1]!;
    if (a.timestamp !== last.timestamp || a.value !== last.value) out[kept++] = a;
  }
  out.length = kept;
  return out;
}

function tagValue(w: Where, key: string, value: unknown): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else w.fail(`tags[${show(key)}]`, `must be a string, not ${typeOf(value)}`);
  if (text.length > w.limits.maxValueLength) {
    w.fail(
      `tags[${show(key)}]`,
      `is longer than ${w.limits.maxValueLength} characters`,
      'too_large',
    );
  }
  return text;
}

function normalizeTags(w: Where, raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) w.fail('tags', `must be an object, not ${typeOf(raw)}`);
  const keys = Object.keys(raw);
  if (keys.length === 0) return undefined;
  if (keys.length > w.limits.maxTagsPerSpan) {
    w.fail('tags', `has more than ${w.limits.maxTagsPerSpan} entries`, 'too_large');
  }
  let sorted = true;
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      sorted = false;
      break;
    }
  }
  if (!sorted) keys.sort();
  const tags: Record<string, string> = {};
  for (const key of keys) {
    if (key.length === 0) w.fail('tags', 'has an empty key');
    if (key.length > w.limits.maxNameLength) {
      w.fail(
        `tags[${show(key)}]`,
        `key is longer than ${w.limits.maxNameLength} characters`,
        'too_large',
      );
    }
    const value = tagValue(w, key, raw[key]);
    // A plain assignment of "__proto__" would set the prototype and lose the tag.
    if (key === '__proto__') {
      Object.defineProperty(tags, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else tags[key] = value;
  }
  return tags;
}

function normalizeKind(w: Where, raw: unknown): SpanKind | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (raw === 'CLIENT' || raw === 'SERVER' || raw === 'PRODUCER' || raw === 'CONSUMER') return raw;
  return w.fail('kind', `must be CLIENT, SERVER, PRODUCER or CONSUMER, not ${show(raw)}`);
}

function optionalBoolean(w: Where, value: unknown, field: string): boolean {
  if (value === true) return true;
  if (value === undefined || value === null || value === false) return false;
  return w.fail(field, `must be a boolean, not ${show(value)}`);
}

function normalizeOne(w: Where, raw: unknown): Span {
  if (!isObject(raw))
    throw new InvalidSpanError(`${w.path()} must be an object, not ${typeOf(raw)}`);
  const span: Span = {
    traceId: w.id(raw.traceId, 'traceId', normalizeTraceId),
    id: w.id(raw.id, 'id', normalizeSpanId),
  };
  const parent = raw.parentId;
  // An all-zero parent means root, and a span can't be its own parent (Zipkin undoes both).
  if (
    parent !== undefined &&
    parent !== null &&
    parent !== '' &&
    !(typeof parent === 'string' && isZeroId(parent))
  ) {
    const parentId = w.id(parent, 'parentId', normalizeSpanId);
    if (parentId !== span.id) span.parentId = parentId;
  }
  const kind = normalizeKind(w, raw.kind);
  if (kind) span.kind = kind;
  const name = w.name(raw.name, 'name');
  if (name) span.name = name;
  const timestamp = w.micros(raw.timestamp, 'timestamp');
  if (timestamp !== undefined) span.timestamp = timestamp;
  const duration = w.micros(raw.duration, 'duration');
  if (duration !== undefined) span.duration = duration;
  const localEndpoint = normalizeEndpoint(w, raw.localEndpoint, 'localEndpoint');
  if (localEndpoint) span.localEndpoint = localEndpoint;
  const remoteEndpoint = normalizeEndpoint(w, raw.remoteEndpoint, 'remoteEndpoint');
  if (remoteEndpoint) span.remoteEndpoint = remoteEndpoint;
  const annotations = normalizeAnnotations(w, raw.annotations);
  if (annotations) span.annotations = annotations;
  const tags = normalizeTags(w, raw.tags);
  if (tags) span.tags = tags;
  if (optionalBoolean(w, raw.debug, 'debug')) span.debug = true;
  // Zipkin: shared marks the server half of a shared span id; on a client it is a mistake.
  if (optionalBoolean(w, raw.shared, 'shared') && span.kind !== 'CLIENT') span.shared = true;
  const level = raw.level;
  if (level !== undefined && level !== null) {
    if (!isLevel(level)) w.fail('level', `must be an integer 0–7, not ${show(level)}`);
    span.level = level;
  }
  const node = w.optionalString(raw.node, 'node', w.limits.maxNameLength);
  if (node) span.node = node;
  const offset = raw.clockOffset;
  if (offset !== undefined && offset !== null) {
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) {
      return w.fail('clockOffset', `must be an integer of microseconds, not ${show(offset)}`);
    }
    span.clockOffset = offset;
  }
  return span;
}

/** Normalises one raw span; throws InvalidSpanError naming `spans[index].field`. */
export function normalizeSpan(
  raw: unknown,
  index: number,
  limits: SpanLimits = DEFAULT_LIMITS,
): Span {
  const w = new Where(limits);
  w.index = index;
  return normalizeOne(w, raw);
}

/** Normalises a whole batch: all of it, or an InvalidSpanError for the first bad span. */
export function normalizeSpans(raw: unknown, limits: SpanLimits = DEFAULT_LIMITS): Span[] {
  if (!Array.isArray(raw)) {
    throw new InvalidSpanError(`expected a JSON array of spans, not ${typeOf(raw)}`, 'malformed');
  }
  if (raw.length > limits.maxSpansPerBatch) {
    throw new InvalidSpanError(
      `batch has ${raw.length} spans, more than the limit of ${limits.maxSpansPerBatch}: send smaller batches`,
      'too_large',
    );
  }
  const w = new Where(limits);
  const out = new Array<Span>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    w.index = i;
    out[i] = normalizeOne(w, raw[i]);
  }
  return out;
}
