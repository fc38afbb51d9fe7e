import type { Span, SpanLimits } from '@blkkin/model';
import type { ServerMetrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import type { EncodedBatch } from '../store/worker-store.js';
import { FORMATS, isFormatCode, type FormatCode } from './formats.js';
import type { IngestLog } from './log.js';

/**
 * From an accepted batch to the store. A batch is accepted once it is durable: fsynced into the
 * ingest log when there is one (then written to the store in large batches, behind the client's
 * back), or written to the store when there is no log (the memory store). The queue between the
 * two is bounded: past `maxQueuedSpans`, `admit` says no and the client is told to retry later.
 */

export interface PipelineOptions {
  limits: SpanLimits;
  /** Spans accepted but not yet stored, at most. */
  maxQueuedSpans: number;
  /** Spans per store write, at most (a single larger batch is written whole). */
  maxWriteSpans: number;
  /** Called with each accepted batch, in order (the live stream). */
  onAccepted?: (spans: readonly Span[]) => void;
  /** Reports a store failure (it is retried: accepted spans are never given up on). */
  onStoreError?: (err: Error) => void;
}

/** A store that decodes accepted payloads itself (off the main thread): see WorkerStore. */
interface PayloadStore extends Store {
  prepare(batch: EncodedBatch): number;
  writePrepared(tokens: readonly number[], mark?: { logSeq: number }): Promise<void>;
}

function takesPayloads(store: Store): store is PayloadStore {
  return typeof (store as Partial<PayloadStore>).writePrepared === 'function';
}

interface Queued {
  count: number;
  /** Kept only for stores that take spans: a payload store decodes `payload` itself. */
  spans: readonly Span[] | undefined;
  /** The payload store's token for this batch (see WorkerStore.prepare). */
  token: number | undefined;
  format: FormatCode;
  payload: Buffer;
  /** Sequence number in the log; 0 without a log. */
  seq: number;
  /** Without a log, the accepting request waits for the store. */
  done: { resolve: () => void; reject: (err: Error) => void } | undefined;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

export class IngestPipeline {
  private queue: Queued[] = [];
  private queuedSpans = 0;
  private writing = false;
  private stopped = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: IngestLog | undefined,
    private readonly metrics: ServerMetrics,
    private readonly options: PipelineOptions,
  ) {}

  /** Spans accepted but not yet in the store. */
  get backlog(): number {
    return this.queuedSpans;
  }

  /** Whether a batch of this many spans may be accepted now. */
  admit(spanCount: number): boolean {
    return (
      !this.stopped &&
      (this.queuedSpans === 0 || this.queuedSpans + spanCount <= this.options.maxQueuedSpans)
    );
  }

  /**
   * Makes a validated batch durable; resolves when the client may be told 2xx. `payload` is the
   * batch's (decompressed) body in `format`, kept in the log for replay.
   */
  async accept(spans: readonly Span[], format: FormatCode, payload: Buffer): Promise<void> {
    if (!this.log) {
      await new Promise<void>((resolve, reject) => {
        this.enqueue(this.item(spans, format, payload, 0, { resolve, reject }));
      });
      this.options.onAccepted?.(spans);
      return;
    }
    await this.log.append(format, payload, (seq) =>
      this.enqueue(this.item(spans, format, payload, seq)),
    );
    this.options.onAccepted?.(spans);
  }

  /** Re-queues what the log holds beyond the store's mark (called once, at start). */
  replay(records: readonly { seq: number; format: number; payload: Buffer }[]): number {
    let spans = 0;
    for (const record of records) {
      if (!isFormatCode(record.format)) {
        this.metrics.spansDropped.inc({ reason: 'log_unknown_format' });
        continue;
      }
      try {
        const batch = FORMATS[record.format].decode(record.payload, this.options.limits);
        this.enqueue(this.item(batch, record.format, record.payload, record.seq));
        spans += batch.length;
      } catch {
        // It was valid when accepted; only a change of limits or codec can get here.
        this.metrics.spansDropped.inc({ reason: 'log_replay_invalid' });
      }
    }
    return spans;
  }

  private item(
    spans: readonly Span[],
    format: FormatCode,
    payload: Buffer,
    seq: number,
    done?: Queued['done'],
  ): Queued {
    if (takesPayloads(this.store)) {
      const token = this.store.prepare({ format, payload });
      return { count: spans.length, spans: undefined, token, format, payload, seq, done };
    }
    return { count: spans.length, spans, token: undefined, format, payload, seq, done };
  }

  private enqueue(item: Queued): void {
    this.queue.push(item);
    this.queuedSpans += item.count;
    this.metrics.queueSpans.set(this.queuedSpans);
    if (!this.writing) void this.drain();
  }

  /** Takes queued batches up to maxWriteSpans (at least one batch). */
  private take(): Queued[] {
    const taken: Queued[] = [];
    let spans = 0;
    while (this.queue.length > 0) {
      const next = this.queue[0]!;
      if (taken.length > 0 && spans + next.count > this.options.maxWriteSpans) break;
      taken.push(this.queue.shift()!);
      spans += next.count;
    }
    return taken;
  }

  private async drain(): Promise<void> {
    this.writing = true;
    let retryMs = RETRY_MIN_MS;
    while (this.queue.length > 0) {
      const taken = this.take();
      let count = 0;
      for (const q of taken) count += q.count;
      const lastSeq = taken[taken.length - 1]!.seq;
      const mark = lastSeq > 0 ? { logSeq: lastSeq } : undefined;
      const stopTimer = this.metrics.storeWriteSeconds.startTimer();
      try {
        if (takesPayloads(this.store)) {
          await this.store.writePrepared(
            taken.map((q) => q.token!),
            mark,
          );
        } else
          await this.store.write(
            taken.flatMap((q) => q.spans ?? []),
            mark,
          );
        stopTimer();
        retryMs = RETRY_MIN_MS;
        this.queuedSpans -= count;
        this.metrics.queueSpans.set(this.queuedSpans);
        this.metrics.spansStored.inc(count);
        for (const q of taken) q.done?.resolve();
        if (this.log && lastSeq > 0) await this.log.release(lastSeq);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        this.metrics.storeErrors.inc({ operation: 'write' });
        this.options.onStoreError?.(error);
        if (!this.log) {
          // Nothing durable holds these spans: the waiting requests fail, and clients retry.
          this.queuedSpans -= count;
          this.metrics.queueSpans.set(this.queuedSpans);
          for (const q of taken) q.done?.reject(error);
          continue;
        }
        // The log holds them: put them back and retry with back-off.
        this.queue.unshift(...taken);
        if (this.stopped) break;
        await new Promise((r) => setTimeout(r, retryMs));
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
    this.writing = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }

  /** Resolves once everything accepted so far is in the store. */
  async flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.queue.length > 0 && !this.stopped) await this.flush();
  }

  /** Stops accepting, writes what is queued (if the store lets it), and closes the log. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.writing) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (this.queue.length > 0) {
      // The store is failing: what is left stays in the log, replayed at the next start.
      this.queue = [];
    }
    await this.log?.close();
  }
}
