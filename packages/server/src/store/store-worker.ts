import type { Span, SpanLimits } from '@blkkin/model';
import { parentPort, workerData } from 'node:worker_threads';
import { FORMATS, type FormatCode } from '../ingest/formats.js';
import { DuckDbStore } from './duckdb.js';
import type { WriteMark } from './store.js';

// The thread behind WorkerStore: owns the DuckDB store and answers its calls in order.

interface Call {
  id: number;
  method: string;
  args: unknown[];
}

const { dir, limits } = workerData as { dir: string; limits: SpanLimits };
const port = parentPort!;
const store = await DuckDbStore.open(dir);
/** Payloads decoded as soon as they arrive (while earlier writes commit), by token. */
const prepared = new Map<number, Span[] | Error>();

type Handler = (...args: never[]) => Promise<unknown> | unknown;
const handlers: Record<string, Handler> = {
  location: () => store.location,
  prepare: (token: number, format: FormatCode, payload: Uint8Array) => {
    try {
      prepared.set(
        token,
        FORMATS[format].decode(
          Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
          limits,
        ),
      );
    } catch (err) {
      prepared.set(token, err instanceof Error ? err : new Error(String(err)));
    }
  },
  writePrepared: async (tokens: number[], mark: WriteMark | undefined) => {
    const spans: Span[] = [];
    for (const token of tokens) {
      const batch = prepared.get(token);
      if (batch === undefined)
        throw new Error(`batch ${token} was never handed to the store worker`);
      if (batch instanceof Error) throw batch;
      for (const span of batch) spans.push(span);
    }
    await store.write(spans, mark);
    for (const token of tokens) prepared.delete(token);
  },
  write: (spans: Span[], mark: WriteMark | undefined) => store.write(spans, mark),
  lastMark: () => store.lastMark(),
  getTrace: (id: string) => store.getTrace(id),
  getTraces: (ids: string[]) => store.getTraces(ids),
  findTraces: (q: Parameters<DuckDbStore['findTraces']>[0]) => store.findTraces(q),
  getServiceNames: () => store.getServiceNames(),
  getRemoteServiceNames: (s: string) => store.getRemoteServiceNames(s),
  getSpanNames: (s: string) => store.getSpanNames(s),
  getTagValues: (k: string) => store.getTagValues(k),
  getTagKeys: () => store.getTagKeys(),
  getDependencies: (endTs: number, lookback: number) => store.getDependencies(endTs, lookback),
  deleteDaysBefore: (before: number) => store.deleteDaysBefore(before),
  countSpans: () => store.countSpans(),
  close: () => store.close(),
};

port.on('message', (call: Call) => {
  const handler = handlers[call.method];
  if (!handler) {
    port.postMessage({ id: call.id, error: `unknown store call '${call.method}'` });
    return;
  }
  if (call.id === 0) {
    // A one-way message (prepare): problems surface at the write that needs it.
    (handler as (...args: unknown[]) => unknown)(...call.args);
    return;
  }
  Promise.resolve()
    .then(() => (handler as (...args: unknown[]) => unknown)(...call.args))
    .then(
      (result) => port.postMessage({ id: call.id, result }),
      (err: unknown) =>
        port.postMessage({ id: call.id, error: err instanceof Error ? err.message : String(err) }),
    );
});
port.postMessage({ ready: true });
