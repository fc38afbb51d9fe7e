import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The server's own counters, exposed at /metrics in Prometheus text. */
export interface ServerMetrics {
  registry: Registry;
  /** Spans in batches that arrived, by transport, before validation. */
  spansReceived: Counter<'transport'>;
  batchesReceived: Counter<'transport'>;
  /** Spans accepted (durable, answered 2xx). */
  spansAccepted: Counter<'transport'>;
  /** Batches refused, by reason (malformed, invalid, too_large, overloaded, unsupported_media_type...). */
  batchesRejected: Counter<'transport' | 'reason'>;
  /** Spans written to the store. */
  spansStored: Counter;
  /** Spans lost after acceptance, by reason. Should stay at zero. */
  spansDropped: Counter<'reason'>;
  /** Spans accepted but not yet in the store. */
  queueSpans: Gauge;
  storeWriteSeconds: Histogram;
  storeErrors: Counter<'operation'>;
  /** Spans not delivered to a live subscriber that could not keep up. */
  liveDropped: Counter;
  liveSubscribers: Gauge;
}

export function createMetrics(): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'blkkin_' });
  const registers = [registry];
  return {
    registry,
    spansReceived: new Counter({
      name: 'blkkin_spans_received_total',
      help: 'Spans received in ingest requests, before validation',
      labelNames: ['transport'],
      registers,
    }),
    batchesReceived: new Counter({
      name: 'blkkin_batches_received_total',
      help: 'Ingest requests received',
      labelNames: ['transport'],
      registers,
    }),
    spansAccepted: new Counter({
      name: 'blkkin_spans_accepted_total',
      help: 'Spans accepted: durable and answered with 2xx',
      labelNames: ['transport'],
      registers,
    }),
    batchesRejected: new Counter({
      name: 'blkkin_batches_rejected_total',
      help: 'Ingest requests refused, by reason; nothing of a refused batch is stored',
      labelNames: ['transport', 'reason'],
      registers,
    }),
    spansStored: new Counter({
      name: 'blkkin_spans_stored_total',
      help: 'Spans written to the store',
      registers,
    }),
    spansDropped: new Counter({
      name: 'blkkin_spans_dropped_total',
      help: 'Spans lost after they were accepted, by reason',
      labelNames: ['reason'],
      registers,
    }),
    queueSpans: new Gauge({
      name: 'blkkin_ingest_queue_spans',
      help: 'Spans accepted but not yet written to the store',
      registers,
    }),
    storeWriteSeconds: new Histogram({
      name: 'blkkin_store_write_seconds',
      help: 'Latency of one store write (a batch of spans)',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    storeErrors: new Counter({
      name: 'blkkin_store_errors_total',
      help: 'Store operations that failed, by operation',
      labelNames: ['operation'],
      registers,
    }),
    liveDropped: new Counter({
      name: 'blkkin_live_dropped_total',
      help: 'Spans not sent to a live-stream subscriber that could not keep up',
      registers,
    }),
    liveSubscribers: new Gauge({
      name: 'blkkin_live_subscribers',
      help: 'Open live-stream connections',
      registers,
    }),
  };
}
