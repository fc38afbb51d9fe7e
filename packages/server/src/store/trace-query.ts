import type { Span } from '@blkkin/model';
import type { TraceQuery } from './store.js';

/**
 * Zipkin's trace-matching rules (zipkin2.storage.QueryRequest#test), for stores that filter in
 * memory and for live filters; plus the ordering rules every store shares.
 */

/**
 * The timestamp of a trace, epoch microseconds, as Zipkin takes it: that of the first root span
 * (no parent) that has one, else the earliest span timestamp; undefined when no span has one.
 * Spans in store order (see `compareSpans`), so the first root is the earliest one.
 */
export function traceTimestamp(spans: readonly Span[]): number | undefined {
  let earliest: number | undefined;
  for (const span of spans) {
    const ts = span.timestamp;
    if (ts === undefined) continue;
    if (span.parentId === undefined) return ts;
    if (earliest === undefined || ts < earliest) earliest = ts;
  }
  return earliest;
}

/** The window of a query in epoch microseconds, both ends included (as Zipkin's test does). */
export function queryWindow(endTs: number, lookback: number): { from: number; to: number } {
  return { from: (endTs - lookback) * 1000, to: endTs * 1000 };
}

/**
 * Whether a trace matches a query. The trace timestamp must be within the window. When
 * `serviceName` is given, a span of that local service must exist, and every other condition
 * must be met by spans of that service (each condition by any of them); otherwise by any span.
 * `annotationQuery` terms with a value match a tag with that key and value; bare terms (value '')
 * match a tag key or an annotation value; all terms must match. Durations are in microseconds; a
 * span without a duration meets neither bound. (`maxDuration` alone, which Zipkin's API refuses,
 * is an upper bound here.)
 */
export function matchesTraceQuery(query: TraceQuery, spans: readonly Span[]): boolean {
  const timestamp = traceTimestamp(spans);
  if (timestamp === undefined) return false;
  const { from, to } = queryWindow(query.endTs, query.lookback);
  if (timestamp < from || timestamp > to) return false;
  return matchesSpans(query, spans);
}

/** The span conditions of `matchesTraceQuery`, without the time window. */
export function matchesSpans(
  query: Omit<TraceQuery, 'endTs' | 'lookback' | 'limit'>,
  spans: readonly Span[],
): boolean {
  const { serviceName, remoteServiceName, spanName, minDuration, maxDuration } = query;
  let serviceFound = serviceName === undefined;
  let remoteFound = remoteServiceName === undefined;
  let nameFound = spanName === undefined;
  let durationFound = minDuration === undefined && maxDuration === undefined;
  const remaining = new Map(Object.entries(query.annotationQuery ?? {}));
  for (const span of spans) {
    if (serviceName !== undefined && span.localEndpoint?.serviceName !== serviceName) continue;
    serviceFound = true;
    if (!remoteFound && span.remoteEndpoint?.serviceName === remoteServiceName) remoteFound = true;
    if (!nameFound && span.name === spanName) nameFound = true;
    if (!durationFound && span.duration !== undefined) {
      durationFound =
        (minDuration === undefined || span.duration >= minDuration) &&
        (maxDuration === undefined || span.duration <= maxDuration);
    }
    if (remaining.size > 0) {
      if (span.annotations) {
        for (const a of span.annotations)
          if (remaining.get(a.value) === '') remaining.delete(a.value);
      }
      if (span.tags) {
        for (const key in span.tags) {
          const wanted = remaining.get(key);
          if (wanted !== undefined && (wanted === '' || wanted === span.tags[key])) {
            remaining.delete(key);
          }
        }
      }
    }
  }
  return serviceFound && remoteFound && nameFound && durationFound && remaining.size === 0;
}

function compareStrings(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}

/**
 * The order of spans within a trace: by timestamp (spans without one first), then id; then, for
 * spans sharing an id, unshared (client) first, then by local service name and kind.
 */
export function compareSpans(a: Span, b: Span): number {
  return (
    (a.timestamp ?? 0) - (b.timestamp ?? 0) ||
    compareStrings(a.id, b.id) ||
    (a.shared ? 1 : 0) - (b.shared ? 1 : 0) ||
    compareStrings(a.localEndpoint?.serviceName, b.localEndpoint?.serviceName) ||
    compareStrings(a.kind, b.kind) ||
    compareStrings(a.traceId.padStart(32, '0'), b.traceId.padStart(32, '0'))
  );
}

/** A canonical text of a span, equal for equal spans whatever their key order. */
export function spanKey(span: Span): string {
  const endpoint = (e: Span['localEndpoint']) =>
    e ? [e.serviceName, e.ipv4, e.ipv6, e.port] : undefined;
  return JSON.stringify([
    span.traceId,
    span.parentId,
    span.id,
    span.kind,
    span.name,
    span.timestamp,
    span.duration,
    endpoint(span.localEndpoint),
    endpoint(span.remoteEndpoint),
    span.annotations?.map((a) => [a.timestamp, a.value, a.level]),
    span.tags ? Object.entries(span.tags).sort(([x], [y]) => compareStrings(x, y)) : undefined,
    span.debug,
    span.shared,
    span.level,
    span.node,
    span.clockOffset,
  ]);
}

/**
 * Sorts the spans of a trace in place (see `compareSpans`) and drops exact repeats, as Zipkin's
 * in-memory store keeps a trace's spans as a set: a span reported twice is returned once.
 */
export function sortTrace(spans: Span[]): Span[] {
  spans.sort(compareSpans);
  let out = 0;
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!;
    if (out > 0 && compareSpans(spans[out - 1]!, span) === 0) {
      // Equal spans are adjacent: compareSpans orders by most of their fields.
      const key = spanKey(span);
      let duplicate = false;
      for (let j = out - 1; j >= 0 && compareSpans(spans[j]!, span) === 0; j--) {
        if (spanKey(spans[j]!) === key) {
          duplicate = true;
          break;
        }
      }
      if (duplicate) continue;
    }
    spans[out++] = span;
  }
  spans.length = out;
  return spans;
}

/** A trace id as 32 digits, for ordering 64-bit and 128-bit ids alike (by numeric value). */
export function paddedTraceId(traceId: string): string {
  return traceId.length === 32 ? traceId : traceId.padStart(32, '0');
}

/** Newest first by trace timestamp, then by trace id, descending. */
export function compareTracesNewestFirst(
  a: { timestamp: number; traceId: string },
  b: { timestamp: number; traceId: string },
): number {
  return (
    b.timestamp - a.timestamp || compareStrings(paddedTraceId(b.traceId), paddedTraceId(a.traceId))
  );
}

/** The start of the UTC day containing `micros`, in epoch microseconds. */
export function utcDayStart(micros: number): number {
  const DAY = 86_400_000_000;
  return Math.floor(micros / DAY) * DAY;
}

const TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/**
 * Refuses what no store can keep (a store's last line of defence: spans arrive normalised). Throws
 * naming the span, so that a write fails before storing anything.
 */
export function checkStorable(spans: readonly Span[]): void {
  for (let i = 0; i < spans.length; i++) {
    const span = spans[i]!;
    const bad =
      !TRACE_ID.test(span.traceId) ||
      /^0+$/.test(span.traceId) ||
      (span.traceId.length === 32 && span.traceId.startsWith('0000000000000000'))
        ? 'traceId'
        : !SPAN_ID.test(span.id) || span.id === '0000000000000000'
          ? 'id'
          : span.parentId !== undefined && !SPAN_ID.test(span.parentId)
            ? 'parentId'
            : undefined;
    if (bad) throw new Error(`spans[${i}].${bad} is not a normalised id: ${String(span[bad])}`);
  }
}

/** A deep copy of a span, so that callers and stores never share mutable objects. */
export function cloneSpan(span: Span): Span {
  const out: Span = { ...span };
  if (span.localEndpoint) out.localEndpoint = { ...span.localEndpoint };
  if (span.remoteEndpoint) out.remoteEndpoint = { ...span.remoteEndpoint };
  if (span.annotations) out.annotations = span.annotations.map((a) => ({ ...a }));
  if (span.tags) out.tags = { ...span.tags };
  return out;
}
