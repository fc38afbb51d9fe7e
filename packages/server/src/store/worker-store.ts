import type { DependencyLink, Span, SpanLimits } from '@blkkin/model';
import { Worker } from 'node:worker_threads';
import type { FormatCode } from '../ingest/formats.js';
import type { Store, TraceQuery, WriteMark } from './store.js';

/**
 * The DuckDB store, run in a worker thread so that storing (decoding batches again, building
 * DuckDB's column chunks, committing) uses the second core while the main thread answers HTTP
 * and validates. Ingest hands it the accepted payloads as they are (the same bytes the ingest log
 * keeps), so no span objects cross threads on the write path; reads come back as spans.
 *
 * If the worker dies, the next call starts a new one; what it was writing is still in the ingest
 * log, and the pipeline retries it.
 */

export interface EncodedBatch {
  format: FormatCode;
  payload: Buffer;
}

type Method = Exclude<keyof Store, 'kind' | 'location'> | 'writePrepared';

interface Reply {
  id: number;
  result?: unknown;
  error?: string;
}

export interface WorkerStoreOptions {
  dir: string;
  limits: SpanLimits;
}

export class WorkerStore implements Store {
  readonly kind = 'duckdb';
  private where = '';
  private worker: Worker | undefined;
  private ready: Promise<Worker> | undefined;
  private nextId = 1;
  private pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private closing = false;
  /** Payloads sent to the worker and not yet stored: sent again if a new worker starts. */
  private unwritten = new Map<number, EncodedBatch>();
  private nextToken = 1;

  private constructor(private readonly options: WorkerStoreOptions) {}

  /** Starts the worker and opens the store in it; rejects with the store's own error. */
  static async open(options: WorkerStoreOptions): Promise<WorkerStore> {
    const store = new WorkerStore(options);
    store.where = (await store.call('location', [])) as string;
    return store;
  }

  get location(): string {
    return this.where;
  }

  private start(): Promise<Worker> {
    this.ready ??= new Promise<Worker>((resolve, reject) => {
      const worker = new Worker(new URL('./store-worker.js', import.meta.url), {
        workerData: { dir: this.options.dir, limits: this.options.limits },
        // Batches of spans die young: a large young generation keeps them out of the old one.
        resourceLimits: { maxYoungGenerationSizeMb: 96 },
      });
      const fail = (err: Error) => {
        if (this.worker === worker || this.worker === undefined) {
          this.worker = undefined;
          this.ready = undefined;
        }
        for (const { reject: rejectCall } of this.pending.values()) rejectCall(err);
        this.pending.clear();
        reject(err);
      };
      worker.on('message', (message: Reply | { ready: true }) => {
        if ('ready' in message) {
          this.worker = worker;
          for (const [token, batch] of this.unwritten) this.sendPrepare(worker, token, batch);
          resolve(worker);
          return;
        }
        const call = this.pending.get(message.id);
        if (!call) return;
        this.pending.delete(message.id);
        if (message.error !== undefined) call.reject(new Error(message.error));
        else call.resolve(message.result);
      });
      worker.on('error', (err) => fail(err));
      worker.on('exit', (code) => {
        if (!this.closing)
          fail(new Error(`the store worker exited (code ${code}); it restarts on the next call`));
      });
    });
    return this.ready;
  }

  private async call(
    method: Method | 'location',
    args: unknown[],
    transfer: ArrayBuffer[] = [],
  ): Promise<unknown> {
    const worker = await this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, method, args }, transfer);
    });
  }

  private sendPrepare(worker: Worker, token: number, batch: EncodedBatch): void {
    // A copy: a request body may share its ArrayBuffer with Node's pool.
    const payload = new Uint8Array(batch.payload);
    worker.postMessage({ id: 0, method: 'prepare', args: [token, batch.format, payload] }, [
      payload.buffer as ArrayBuffer,
    ]);
  }

  /**
   * Hands an accepted payload to the worker at once, so that it decodes it while earlier writes
   * commit; `writePrepared` stores it later. Returns its token.
   */
  prepare(batch: EncodedBatch): number {
    const token = this.nextToken++;
    this.unwritten.set(token, batch);
    // A failure to start surfaces at the write, which the pipeline retries.
    this.start().then(
      (worker) => this.sendPrepare(worker, token, batch),
      () => undefined,
    );
    return token;
  }

  /** Stores prepared payloads, in token order, with the log mark, in one transaction. */
  async writePrepared(tokens: readonly number[], mark?: WriteMark): Promise<void> {
    await this.call('writePrepared', [tokens, mark]);
    for (const token of tokens) this.unwritten.delete(token);
  }

  /** Stores accepted payloads (decoded in the worker), with the log mark, in one transaction. */
  async writePayloads(batches: readonly EncodedBatch[], mark?: WriteMark): Promise<void> {
    await this.writePrepared(
      batches.map((b) => this.prepare(b)),
      mark,
    );
  }

  async write(spans: readonly Span[], mark?: WriteMark): Promise<void> {
    await this.call('write', [spans, mark]);
  }
  async lastMark(): Promise<WriteMark> {
    return (await this.call('lastMark', [])) as WriteMark;
  }
  async getTrace(traceId: string): Promise<Span[]> {
    return (await this.call('getTrace', [traceId])) as Span[];
  }
  async getTraces(traceIds: readonly string[]): Promise<Span[][]> {
    return (await this.call('getTraces', [traceIds])) as Span[][];
  }
  async findTraces(query: TraceQuery): Promise<Span[][]> {
    return (await this.call('findTraces', [query])) as Span[][];
  }
  async getServiceNames(): Promise<string[]> {
    return (await this.call('getServiceNames', [])) as string[];
  }
  async getRemoteServiceNames(serviceName: string): Promise<string[]> {
    return (await this.call('getRemoteServiceNames', [serviceName])) as string[];
  }
  async getSpanNames(serviceName: string): Promise<string[]> {
    return (await this.call('getSpanNames', [serviceName])) as string[];
  }
  async getTagValues(key: string): Promise<string[]> {
    return (await this.call('getTagValues', [key])) as string[];
  }
  async getTagKeys(): Promise<string[]> {
    return (await this.call('getTagKeys', [])) as string[];
  }
  async getDependencies(endTs: number, lookback: number): Promise<DependencyLink[]> {
    return (await this.call('getDependencies', [endTs, lookback])) as DependencyLink[];
  }
  async deleteDaysBefore(beforeMicros: number): Promise<number> {
    return (await this.call('deleteDaysBefore', [beforeMicros])) as number;
  }
  async countSpans(): Promise<number> {
    return (await this.call('countSpans', [])) as number;
  }

  async close(): Promise<void> {
    if (!this.worker && !this.ready) return;
    try {
      await this.call('close', []);
    } finally {
      this.closing = true;
      await this.worker?.terminate();
      this.worker = undefined;
      this.ready = undefined;
    }
  }
}
