import type { DependencyLink, Span } from '@blkkin/model';

/** A search over traces with Zipkin's /api/v2/traces semantics. Times as Zipkin gives them. */
export interface TraceQuery {
  serviceName?: string;
  remoteServiceName?: string;
  spanName?: string;
  /** `k=v` tag matches, and bare keys (value '') matching a tag key or an annotation value. */
  annotationQuery?: Record<string, string>;
  /** Microseconds. */
  minDuration?: number;
  /** Microseconds. */
  maxDuration?: number;
  /** Epoch milliseconds: the end of the window. */
  endTs: number;
  /** Milliseconds before endTs. */
  lookback: number;
  limit: number;
}

/** Where ingest stands in the write-ahead log (see ingest/log.ts), stored with the spans. */
export interface WriteMark {
  /** The log sequence number of the last batch in this write. */
  logSeq: number;
}

/**
 * The one storage interface: async and batch-oriented, so that an embedded store (DuckDB), a
 * cluster store (ClickHouse) and an in-memory store serve the same callers.
 *
 * Spans arrive normalised (see @blkkin/model). Reads return spans in the model's shape; the order
 * of spans within a trace is by timestamp, then id.
 */
export interface Store {
  /** `duckdb`, `memory`, ... for logs and /health. */
  readonly kind: string;
  /** Where the data lives, for the start-up line ("memory" when nowhere). */
  readonly location: string;

  /**
   * Stores a batch. Resolves once it is durable: after a crash, the spans are there and
   * `lastMark()` is at least `mark`. Rejects on failure, having stored nothing of the batch.
   */
  write(spans: readonly Span[], mark?: WriteMark): Promise<void>;
  /** The mark of the last durable write (logSeq 0 when none). */
  lastMark(): Promise<WriteMark>;

  /** Spans of one trace (exact id match); empty when absent. */
  getTrace(traceId: string): Promise<Span[]>;
  /** The traces among these ids that exist, each as its spans. */
  getTraces(traceIds: readonly string[]): Promise<Span[][]>;
  /**
   * Traces matching the query (Zipkin's QueryRequest#test, see trace-query.ts: the trace's
   * timestamp, its root span's or else its earliest, within [endTs - lookback, endTs] ms, both
   * ends included), newest first by that timestamp (then by trace id, descending), at most
   * `limit`, each with all its spans.
   */
  findTraces(query: TraceQuery): Promise<Span[][]>;

  /** Sorted local service names. */
  getServiceNames(): Promise<string[]>;
  /** Sorted remote service names seen by spans of this local service. */
  getRemoteServiceNames(serviceName: string): Promise<string[]>;
  /** Sorted span names of this local service. */
  getSpanNames(serviceName: string): Promise<string[]>;
  /** Sorted distinct values of one tag key. */
  getTagValues(key: string): Promise<string[]>;
  /** Sorted distinct tag keys. */
  getTagKeys(): Promise<string[]>;

  /**
   * Service links (Zipkin's DependencyLinker, see linkDependencies) of the traces whose timestamp
   * is in [endTs - lookback, endTs] ms, both ends included; as Zipkin does for links, a trace is
   * all spans sharing the low 64 bits of their trace id.
   */
  getDependencies(endTs: number, lookback: number): Promise<DependencyLink[]>;

  /**
   * Removes whole UTC days older than the one containing `beforeMicros`, by each span's time (its
   * timestamp, else its first annotation's, else when it was written); resolves to spans removed.
   */
  deleteDaysBefore(beforeMicros: number): Promise<number>;
  /** Span count, for metrics and benchmarks. */
  countSpans(): Promise<number>;
  close(): Promise<void>;
}
