import type { Level } from './levels.js';

/**
 * The span model: Zipkin v2 semantics plus what BlkKin needs (severity level, recording node, that
 * node's clock offset). Instances of these types are normalised and validated (see normalize.ts):
 * code inside blkkin trusts them.
 */

export type SpanKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
export const SPAN_KINDS: readonly SpanKind[] = ['CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'];

export interface Endpoint {
  /** Lowercase; absent rather than empty. */
  serviceName?: string;
  ipv4?: string;
  ipv6?: string;
  /** 1–65535; absent means unknown. */
  port?: number;
}

export interface Annotation {
  /** Epoch microseconds. */
  timestamp: number;
  value: string;
  /** RFC 5424 severity of this tracepoint, when the recorder gave one. */
  level?: Level;
}

export interface Span {
  /** 16 or 32 lowercase hex digits, never all zeros. */
  traceId: string;
  /** 16 lowercase hex digits; absent for a root span. */
  parentId?: string;
  /** 16 lowercase hex digits, never all zeros. */
  id: string;
  kind?: SpanKind;
  /** Lowercase; absent rather than empty. */
  name?: string;
  /** Epoch microseconds; absent when unknown. */
  timestamp?: number;
  /** Microseconds, ≥ 1; absent when unknown. */
  duration?: number;
  localEndpoint?: Endpoint;
  remoteEndpoint?: Endpoint;
  /** Sorted by timestamp then value, without duplicates. */
  annotations?: Annotation[];
  /** Keys in ascending order. */
  tags?: Record<string, string>;
  debug?: true;
  shared?: true;
  /** RFC 5424 severity of the span's tracepoint. */
  level?: Level;
  /** The node (host) that recorded the span. */
  node?: string;
  /** The recording node's clock offset to the collector, microseconds, when known. */
  clockOffset?: number;
}

/** A link of the service dependency graph, as Zipkin's /api/v2/dependencies answers it. */
export interface DependencyLink {
  parent: string;
  child: string;
  callCount: number;
  errorCount?: number;
}
