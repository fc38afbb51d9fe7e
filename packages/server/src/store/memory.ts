import { linkDependencies, type DependencyLink, type Span } from '@blkkin/model';
import type { Store, TraceQuery, WriteMark } from './store.js';
import {
  checkStorable,
  cloneSpan,
  compareTracesNewestFirst,
  matchesTraceQuery,
  queryWindow,
  sortTrace,
  traceTimestamp,
  utcDayStart,
} from './trace-query.js';

interface Stored {
  span: Span;
  /** When the span happened for retention: its timestamp, else its first annotation's, else when written. */
  at: number;
}

/**
 * The store of tests and of `--storage memory`: Zipkin's InMemoryStorage semantics (strict trace
 * ids: a 64-bit and a 128-bit id are different traces; exact repeats of a span read back once),
 * with nothing bounded and nothing durable.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly location = 'memory';
  private readonly traces = new Map<string, Stored[]>();
  private spanCount = 0;
  private mark: WriteMark = { logSeq: 0 };
  private closed = false;

  async write(spans: readonly Span[], mark?: WriteMark): Promise<void> {
    this.checkOpen();
    checkStorable(spans);
    const now = Date.now() * 1000;
    for (const span of spans) {
      const at = span.timestamp ?? span.annotations?.[0]?.timestamp ?? now;
      let trace = this.traces.get(span.traceId);
      if (!trace) this.traces.set(span.traceId, (trace = []));
      trace.push({ span: cloneSpan(span), at });
    }
    this.spanCount += spans.length;
    if (mark) this.mark = { logSeq: mark.logSeq };
  }

  async lastMark(): Promise<WriteMark> {
    return { ...this.mark };
  }

  async getTrace(traceId: string): Promise<Span[]> {
    this.checkOpen();
    return this.read(traceId) ?? [];
  }

  async getTraces(traceIds: readonly string[]): Promise<Span[][]> {
    this.checkOpen();
    const out: Span[][] = [];
    for (const id of new Set(traceIds)) {
      const trace = this.read(id);
      if (trace) out.push(trace);
    }
    return out;
  }

  async findTraces(query: TraceQuery): Promise<Span[][]> {
    this.checkOpen();
    const found: { timestamp: number; traceId: string; spans: Span[] }[] = [];
    for (const traceId of this.traces.keys()) {
      const spans = this.read(traceId)!;
      if (!matchesTraceQuery(query, spans)) continue;
      found.push({ timestamp: traceTimestamp(spans)!, traceId, spans });
    }
    return found
      .sort(compareTracesNewestFirst)
      .slice(0, query.limit)
      .map((t) => t.spans);
  }

  async getServiceNames(): Promise<string[]> {
    return this.distinct((s) => [s.localEndpoint?.serviceName]);
  }

  async getRemoteServiceNames(serviceName: string): Promise<string[]> {
    const service = serviceName.toLowerCase();
    return this.distinct((s) =>
      s.localEndpoint?.serviceName === service ? [s.remoteEndpoint?.serviceName] : [],
    );
  }

  async getSpanNames(serviceName: string): Promise<string[]> {
    const service = serviceName.toLowerCase();
    return this.distinct((s) => (s.localEndpoint?.serviceName === service ? [s.name] : []));
  }

  async getTagValues(key: string): Promise<string[]> {
    return this.distinct((s) => [s.tags?.[key]]);
  }

  async getTagKeys(): Promise<string[]> {
    return this.distinct((s) => (s.tags ? Object.keys(s.tags) : []));
  }

  async getDependencies(endTs: number, lookback: number): Promise<DependencyLink[]> {
    this.checkOpen();
    // Like Zipkin, links ignore the high bits of trace ids, lest a trace reported with both a
    // 64-bit and a 128-bit id count twice.
    const byLowId = new Map<string, Span[]>();
    for (const [traceId, stored] of this.traces) {
      const low = traceId.slice(-16);
      let group = byLowId.get(low);
      if (!group) byLowId.set(low, (group = []));
      for (const s of stored) group.push(s.span);
    }
    const { from, to } = queryWindow(endTs, lookback);
    const inWindow: Span[][] = [];
    for (const group of byLowId.values()) {
      const spans = sortTrace([...group]);
      const timestamp = traceTimestamp(spans);
      if (timestamp !== undefined && timestamp >= from && timestamp <= to) inWindow.push(spans);
    }
    return linkDependencies(inWindow);
  }

  async deleteDaysBefore(beforeMicros: number): Promise<number> {
    this.checkOpen();
    const cutoff = utcDayStart(beforeMicros);
    let removed = 0;
    for (const [traceId, stored] of this.traces) {
      const kept = stored.filter((s) => s.at >= cutoff);
      removed += stored.length - kept.length;
      if (kept.length === 0) this.traces.delete(traceId);
      else if (kept.length < stored.length) this.traces.set(traceId, kept);
    }
    this.spanCount -= removed;
    return removed;
  }

  async countSpans(): Promise<number> {
    return this.spanCount;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the memory store is closed');
  }

  private read(traceId: string): Span[] | undefined {
    const stored = this.traces.get(traceId);
    return stored ? sortTrace(stored.map((s) => cloneSpan(s.span))) : undefined;
  }

  private distinct(pick: (span: Span) => (string | undefined)[]): string[] {
    this.checkOpen();
    const out = new Set<string>();
    for (const stored of this.traces.values()) {
      for (const { span } of stored)
        for (const value of pick(span)) if (value !== undefined) out.add(value);
    }
    return [...out].sort();
  }
}
