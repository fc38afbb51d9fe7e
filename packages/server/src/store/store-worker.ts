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

type Handler = (...args: never[]) => Promise<unknown> | unknown;
const handlers: Record<string, Handler> = {
  location: () => store.location,
  writePayloads: (
    batches: { format: FormatCode; payload: Uint8Array }[],
    mark: WriteMark | undefined,
  ) => {
    const spans: Span[] = [];
    for (const { format, payload } of batches) {
      const decoded = FORMATS[format].decode(
        Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
        limits,
      );
      for (const span of decoded) spans.push(span);
    }
    return store.write(spans, mark);
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
  Promise.resolve()
    .then(() => (handler as (...args: unknown[]) => unknown)(...call.args))
    .then(
      (result) => port.postMessage({ id: call.id, result }),
      (err: unknown) =>
        port.postMessage({ id: call.id, error: err instanceof Error ? err.message : String(err) }),
    );
});
port.postMessage({ ready: true });
