import { isIPv4, isIPv6 } from 'node:net';
import { normalizeSpanId, normalizeTraceId } from './ids.js';
import { DEFAULT_LIMITS, type SpanLimits } from './limits.js';
import { isLevel } from './levels.js';
import type { Annotation, Endpoint, Span, SpanKind } from './span.js';

/**
 * Validation at the boundary, as Zipkin's own model does it: every decoder (Zipkin JSON, proto3,
 * OTLP, agent batches) hands raw spans of the Zipkin v2 JSON shape to `normalizeSpans`, and what
 * comes out is trusted everywhere inside.
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

class Checker {
  path = '';
  constructor(readonly limits: SpanLimits) {}

  fail(field: string, problem: string, reason = 'invalid'): never {
    throw new InvalidSpanError(`${this.path}.${field} ${problem}`, reason);
  }

  optionalString(raw: Raw, field: string, max: number): string | undefined {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') this.fail(field, `must be a string, not ${typeOf(value)}`);
    if (value.length > max) this.fail(field, `is longer than ${max} characters`, 'too_large');
    return value;
  }

  /** A lowercase name, absent when empty. */
  name(raw: Raw, field: string): string | undefined {
    const value = this.optionalString(raw, field, this.limits.maxNameLength);
    return value ? value.toLowerCase() : undefined;
  }

  /** A positive integer of microseconds; 0 or absent means unknown. */
  micros(raw: Raw, field: string): number | undefined {
    const value = raw[field];
    if (value === undefined || value === null || value === 0) return undefined;
    const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
      this.fail(field, `must be a non-negative integer of microseconds, not ${show(value)}`);
    }
    return n === 0 ? undefined : n;
  }
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

function normalizeEndpoint(c: Checker, raw: unknown, field: string): Endpoint | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) c.fail(field, `must be an object, not ${typeOf(raw)}`);
  const saved = c.path;
  c.path = `${saved}.${field}`;
  const endpoint: Endpoint = {};
  const serviceName = c.name(raw, 'serviceName');
  if (serviceName) endpoint.serviceName = serviceName;
  for (const key of ['ipv4', 'ipv6'] as const) {
    const ip = c.optionalString(raw, key, 64);
    if (!ip) continue;
    // Like Zipkin, an address goes where its family says, and IPv4-mapped IPv6 becomes IPv4.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
    if (isIPv4(ip)) endpoint.ipv4 = ip;
    else if (mapped && isIPv4(mapped[1]!)) endpoint.ipv4 = mapped[1]!;
    else if (isIPv6(ip)) endpoint.ipv6 = ip.toLowerCase();
    else c.fail(key, `is not an IP address: ${show(ip)}`);
  }
  const port = raw.port;
  if (port !== undefined && port !== null && port !== 0) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      c.fail('port', `must be an integer 0–65535, not ${show(port)}`);
    }
    endpoint.port = port;
  }
  c.path = saved;
  return endpoint.serviceName !== undefined ||
    endpoint.ipv4 !== undefined ||
    endpoint.ipv6 !== undefined ||
    endpoint.port !== undefined
    ? endpoint
    : undefined;
}

function normalizeAnnotations(c: Checker, raw: unknown): Annotation[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) c.fail('annotations', `must be an array, not ${typeOf(raw)}`);
  if (raw.length === 0) return undefined;
  if (raw.length > c.limits.maxAnnotationsPerSpan) {
    c.fail('annotations', `has more than ${c.limits.maxAnnotationsPerSpan} entries`, 'too_large');
  }
  const saved = c.path;
  const out: Annotation[] = [];
  for (let i = 0; i < raw.length; i++) {
    const item: unknown = raw[i];
    c.path = `${saved}.annotations[${i}]`;
    if (!isObject(item)) {
      c.path = saved;
      c.fail(`annotations[${i}]`, `must be an object, not ${typeOf(item)}`);
    }
    const timestamp = c.micros(item, 'timestamp');
    if (timestamp === undefined) c.fail('timestamp', 'is missing: an annotation needs a time');
    const value = c.optionalString(item, 'value', c.limits.maxValueLength);
    if (!value) c.fail('value', 'is missing or empty');
    const annotation: Annotation = { timestamp, value };
    const level = item.level;
    if (level !== undefined && level !== null) {
      if (!isLevel(level)) c.fail('level', `must be an integer 0–7, not ${show(level)}`);
      annotation.level = level;
    }
    out.push(annotation);
  }
  c.path = saved;
  out.sort(
    (a, b) => a.timestamp - b.timestamp || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0),
  );
  // Zipkin keeps annotations as a sorted set: an exact repeat is dropped.
  return out.filter(
    (a, i) => i === 0 || a.timestamp !== out[i - 1]!.timestamp || a.value !== out[i - 1]!.value,
  );
}

function normalizeTags(c: Checker, raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) c.fail('tags', `must be an object, not ${typeOf(raw)}`);
  const keys = Object.keys(raw);
  if (keys.length === 0) return undefined;
  if (keys.length > c.limits.maxTagsPerSpan) {
    c.fail('tags', `has more than ${c.limits.maxTagsPerSpan} entries`, 'too_large');
  }
  keys.sort();
  const tags: Record<string, string> = {};
  for (const key of keys) {
    if (key.length === 0) c.fail('tags', 'has an empty key');
    if (key.length > c.limits.maxNameLength) {
      c.fail(
        `tags[${show(key)}]`,
        `key is longer than ${c.limits.maxNameLength} characters`,
        'too_large',
      );
    }
    const value = raw[key];
    let text: string;
    if (typeof value === 'string') text = value;
    else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
    else c.fail(`tags[${show(key)}]`, `must be a string, not ${typeOf(value)}`);
    if (text.length > c.limits.maxValueLength) {
      c.fail(
        `tags[${show(key)}]`,
        `is longer than ${c.limits.maxValueLength} characters`,
        'too_large',
      );
    }
    tags[key] = text;
  }
  return tags;
}

function normalizeKind(c: Checker, raw: unknown): SpanKind | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (raw === 'CLIENT' || raw === 'SERVER' || raw === 'PRODUCER' || raw === 'CONSUMER') return raw;
  return c.fail('kind', `must be CLIENT, SERVER, PRODUCER or CONSUMER, not ${show(raw)}`);
}

function requiredId(
  c: Checker,
  raw: Raw,
  field: string,
  normalize: (id: string) => string | { error: string },
): string {
  const value = raw[field];
  if (value === undefined || value === null) c.fail(field, 'is missing', 'invalid_id');
  if (typeof value !== 'string')
    c.fail(field, `must be a hex string, not ${typeOf(value)}`, 'invalid_id');
  const id = normalize(value);
  if (typeof id !== 'string') c.fail(field, `${id.error}: ${show(value)}`, 'invalid_id');
  return id;
}

/** Normalises one raw span; throws InvalidSpanError naming `spans[index].field`. */
export function normalizeSpan(
  raw: unknown,
  index: number,
  limits: SpanLimits = DEFAULT_LIMITS,
): Span {
  const c: Checker = new Checker(limits);
  c.path = `spans[${index}]`;
  if (!isObject(raw)) throw new InvalidSpanError(`${c.path} must be an object, not ${typeOf(raw)}`);

  const span: Span = {
    traceId: requiredId(c, raw, 'traceId', normalizeTraceId),
    id: requiredId(c, raw, 'id', normalizeSpanId),
  };
  const parent = raw.parentId;
  if (parent !== undefined && parent !== null && parent !== '') {
    const parentId = requiredId(c, raw, 'parentId', (id) =>
      /^0+$/.test(id) ? '0' : normalizeSpanId(id),
    );
    // An all-zero parent means root, and a span can't be its own parent (Zipkin undoes both).
    if (parentId !== '0' && parentId !== span.id) span.parentId = parentId;
  }
  const kind = normalizeKind(c, raw.kind);
  if (kind) span.kind = kind;
  const name = c.name(raw, 'name');
  if (name) span.name = name;
  const timestamp = c.micros(raw, 'timestamp');
  if (timestamp !== undefined) span.timestamp = timestamp;
  const duration = c.micros(raw, 'duration');
  if (duration !== undefined) span.duration = duration;
  const localEndpoint = normalizeEndpoint(c, raw.localEndpoint, 'localEndpoint');
  if (localEndpoint) span.localEndpoint = localEndpoint;
  const remoteEndpoint = normalizeEndpoint(c, raw.remoteEndpoint, 'remoteEndpoint');
  if (remoteEndpoint) span.remoteEndpoint = remoteEndpoint;
  const annotations = normalizeAnnotations(c, raw.annotations);
  if (annotations) span.annotations = annotations;
  const tags = normalizeTags(c, raw.tags);
  if (tags) span.tags = tags;
  if (raw.debug === true) span.debug = true;
  else if (raw.debug !== undefined && raw.debug !== null && raw.debug !== false) {
    c.fail('debug', `must be a boolean, not ${show(raw.debug)}`);
  }
  // Zipkin: shared marks the server half of a shared span id; on a client it is a mistake.
  if (raw.shared === true) {
    if (span.kind !== 'CLIENT') span.shared = true;
  } else if (raw.shared !== undefined && raw.shared !== null && raw.shared !== false) {
    c.fail('shared', `must be a boolean, not ${show(raw.shared)}`);
  }
  const level = raw.level;
  if (level !== undefined && level !== null) {
    if (!isLevel(level)) c.fail('level', `must be an integer 0–7, not ${show(level)}`);
    span.level = level;
  }
  const node = c.optionalString(raw, 'node', limits.maxNameLength);
  if (node) span.node = node;
  const offset = raw.clockOffset;
  if (offset !== undefined && offset !== null) {
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) {
      return c.fail('clockOffset', `must be an integer of microseconds, not ${show(offset)}`);
    }
    span.clockOffset = offset;
  }
  return span;
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
  const out = new Array<Span>(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = normalizeSpan(raw[i], i, limits);
  return out;
}
