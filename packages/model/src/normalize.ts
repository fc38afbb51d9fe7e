import { isZeroId, normalizeSpanId, normalizeTraceId } from './ids.js';
import { DEFAULT_LIMITS, type SpanLimits } from './limits.js';
import type { Annotation, Endpoint, Span } from './span.js';
import * as rules from './span-rules.js';
import { show, typeOf } from './span-rules.js';

/**
 * Validation at the boundary, as Zipkin's own model does it: decoders (Zipkin JSON, OTLP, agent
 * batches) hand raw spans of the Zipkin v2 JSON shape to `normalizeSpans`, and what comes out is
 * trusted everywhere inside. The per-field rules live in span-rules.ts, which the proto3 reader
 * applies directly to what it reads, so it makes the same spans without raw ones in between.
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

/** Where the checker is, kept as numbers and constants until a message needs it. */
class Where implements rules.Fail {
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

function normalizeEndpoint(w: Where, raw: unknown, field: string): Endpoint | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) w.fail(field, `must be an object, not ${typeOf(raw)}`);
  w.section = field === 'localEndpoint' ? '.localEndpoint' : '.remoteEndpoint';
  const endpoint = rules.endpoint(w, raw.serviceName, raw.ipv4, raw.ipv6, raw.port, w.limits);
  w.section = '';
  return endpoint;
}

function normalizeAnnotations(w: Where, raw: unknown): Annotation[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) w.fail('annotations', `must be an array, not ${typeOf(raw)}`);
  if (raw.length === 0) return undefined;
  rules.tooManyAnnotations(w, raw.length, w.limits);
  const out = new Array<Annotation>(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const item: unknown = raw[i];
    if (!isObject(item)) w.fail(`annotations[${i}]`, `must be an object, not ${typeOf(item)}`);
    w.annotation = i;
    out[i] = rules.annotation(w, item.timestamp, item.value, item.level, w.limits);
  }
  w.annotation = -1;
  return rules.sortAnnotations(out);
}

function normalizeTags(w: Where, raw: unknown): Record<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isObject(raw)) w.fail('tags', `must be an object, not ${typeOf(raw)}`);
  const keys = Object.keys(raw);
  const values = new Array<unknown>(keys.length);
  for (let i = 0; i < keys.length; i++) values[i] = raw[keys[i]!];
  return rules.tags(w, keys, values, w.limits);
}

function normalizeOne(w: Where, raw: unknown): Span {
  if (!isObject(raw))
    throw new InvalidSpanError(`${w.path()} must be an object, not ${typeOf(raw)}`);
  const span: Span = {
    traceId: w.id(raw.traceId, 'traceId', normalizeTraceId),
    id: w.id(raw.id, 'id', normalizeSpanId),
  };
  const parent = raw.parentId;
  // An all-zero parent means root.
  if (
    parent !== undefined &&
    parent !== null &&
    parent !== '' &&
    !(typeof parent === 'string' && isZeroId(parent))
  ) {
    const parentId = rules.parentOf(w.id(parent, 'parentId', normalizeSpanId), span.id);
    if (parentId !== undefined) span.parentId = parentId;
  }
  const kind = rules.kind(w, raw.kind);
  if (kind) span.kind = kind;
  const name = rules.lowerName(w, raw.name, 'name', w.limits);
  if (name) span.name = name;
  const timestamp = rules.micros(w, raw.timestamp, 'timestamp');
  if (timestamp !== undefined) span.timestamp = timestamp;
  const duration = rules.micros(w, raw.duration, 'duration');
  if (duration !== undefined) span.duration = duration;
  const localEndpoint = normalizeEndpoint(w, raw.localEndpoint, 'localEndpoint');
  if (localEndpoint) span.localEndpoint = localEndpoint;
  const remoteEndpoint = normalizeEndpoint(w, raw.remoteEndpoint, 'remoteEndpoint');
  if (remoteEndpoint) span.remoteEndpoint = remoteEndpoint;
  const annotations = normalizeAnnotations(w, raw.annotations);
  if (annotations) span.annotations = annotations;
  const tags = normalizeTags(w, raw.tags);
  if (tags) span.tags = tags;
  if (rules.optionalBoolean(w, raw.debug, 'debug')) span.debug = true;
  if (rules.keepsShared(rules.optionalBoolean(w, raw.shared, 'shared'), span.kind)) {
    span.shared = true;
  }
  if (raw.level !== undefined && raw.level !== null) span.level = rules.level(w, raw.level);
  const node = rules.node(w, raw.node, w.limits);
  if (node) span.node = node;
  const offset = raw.clockOffset;
  if (offset !== undefined && offset !== null) span.clockOffset = rules.clockOffset(w, offset);
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
