import type { Level, LevelName } from './levels.js';
import type { SpanContext } from './context.js';

export type SpanKind = 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';

/** A network endpoint, as Zipkin describes one. */
export interface Endpoint {
  serviceName?: string;
  /** Dotted quad. */
  ipv4?: string;
  ipv6?: string;
  port?: number;
}

/**
 * Head sampling of new traces. Serializable: the agent pushes these at run time
 * (tracer.configure({ sampler })). A trace whose context carries the debug flag is always recorded.
 */
export interface SamplerConfig {
  /** Fraction of new traces recorded, 0–1. Default 1. */
  probability?: number;
  /** At most this many new traces recorded per second (token bucket, burst of one second). Default: no bound. */
  perSecond?: number;
  /** Follow the decision carried by the parent's context when there is one. Default true. */
  parentBased?: boolean;
}

/** Where finished spans go. Every kind but 'custom' also runs in a worker thread. */
export type ExporterConfig =
  | {
      /** The node's blkkin agent over a Unix socket (docs/agent-protocol.md). */
      type: 'agent';
      /** Socket path; default $BLKKIN_AGENT, else the documented default (see agentSocketPath). */
      path?: string;
      /** Take level and sampling changes pushed by the agent (default true). */
      acceptConfig?: boolean;
    }
  | {
      /** A collector's Zipkin v2 endpoint: blkkin serve, or Zipkin itself. */
      type: 'zipkin';
      /** Base URL (http://host:9411) or the full URL of the spans endpoint (…/api/v2/spans). */
      url: string;
      /** Default 'proto3' (Zipkin and blkkin serve both accept application/x-protobuf). */
      format?: 'proto3' | 'json';
      headers?: Record<string, string>;
    }
  | { type: 'none' }
  | {
      /** Hand the finished spans to a function (main thread only; tests, adapters). */
      type: 'custom';
      export(spans: ExportedSpan[]): void | Promise<void>;
    };

export interface TracerOptions {
  /** The local service name (Zipkin's localEndpoint.serviceName). */
  service: string;
  /** The rest of the local endpoint. */
  endpoint?: Omit<Endpoint, 'serviceName'>;
  /** The node that records (blkkin's span.node); default os.hostname(). */
  node?: string;
  /** Level threshold: tracepoints with a higher (less severe) level are not recorded. Default 'info'. */
  level?: Level | LevelName;
  sampler?: SamplerConfig;
  /** Default { type: 'agent' }. */
  exporter?: ExporterConfig;
  /** Ring buffer size in bytes (a power of two is used). Default 4 MiB. */
  bufferSize?: number;
  /**
   * Where events are assembled into spans, encoded and sent: 'main' (a deferred task on this
   * thread) or 'worker' (a worker thread draining the shared ring). Default 'main'.
   */
  thread?: 'main' | 'worker';
  /** How often the ring is drained and a partial batch sent, ms. Default 1000. */
  flushInterval?: number;
  /** Spans per export batch. Default 2000. */
  batchSize?: number;
  /** Encoded batches waiting to be sent, at most; beyond, batches are dropped and counted. Default 16. */
  maxQueuedBatches?: number;
  /** Distinct strings interned (names, keys, repeated values). Default 16384. */
  maxStrings?: number;
  /** Spans started and not ended are dropped after this many ms. Default 600000. */
  maxSpanAge?: number;
  /**
   * Give new unsampled root spans trace and span ids, so that propagation can tell peers the trace
   * was not sampled in every format (costs an allocation and ids per unsampled root). Default false:
   * an unsampled root is a shared no-op span whose context has zero ids and the decided flag.
   */
  unsampledIds?: boolean;
  /** Flush once when the process is about to exit (beforeExit), bounded by 2 s. Default true. */
  flushOnExit?: boolean;
}

export interface StartSpanOptions {
  /**
   * The parent: a span of this process, or a context extracted from a peer. Absent: the active span
   * when tracer.withSpan is in use, else a new trace. null: always a new trace.
   */
  parent?: SpanContext | null;
  kind?: SpanKind;
  /** The level of this tracepoint, default info (6). */
  level?: Level;
  /** The peer (Zipkin's remoteEndpoint). */
  remote?: Endpoint;
  /** Force recording of this trace (debug flag), whatever the sampler and the levels say. */
  debug?: boolean;
}

/** A finished span as Zipkin v2 JSON describes it, plus blkkin's level and node. */
export interface ExportedSpan {
  traceId: string;
  parentId?: string;
  id: string;
  kind?: SpanKind;
  name: string;
  /** Epoch microseconds. */
  timestamp: number;
  /** Microseconds, ≥ 1. */
  duration: number;
  localEndpoint: Endpoint;
  remoteEndpoint?: Endpoint;
  annotations?: { timestamp: number; value: string; level: number }[];
  tags?: Record<string, string>;
  debug?: true;
  level: number;
  node: string;
}

export interface TracerStats {
  /** Spans recorded (sampled, at or above the threshold, their start written to the ring). */
  spansRecorded: number;
  /** Events written into the ring (span starts, annotations, tags, ends, remote endpoints). */
  eventsRecorded: number;
  /** Spans sent to the collector or agent. */
  exported: number;
  /** Failed export attempts (a batch that could not be sent). */
  exportErrors: number;
  dropped: {
    /** Events not recorded because the ring was full. */
    ringFull: number;
    /** Spans not recorded at all because the ring was full when they started (in ringFull too). */
    ringFullSpans: number;
    /** Spans started and not ended within maxSpanAge, or whose events were lost. */
    unfinished: number;
    /** Spans of batches that could not be sent (queue full, collector away). */
    export: number;
    /** Events whose span start was lost (ring full) or that came after the span's end. */
    orphanEvents: number;
  };
  /** Export batches sent and their bytes. */
  batches: number;
  bytes: number;
}
