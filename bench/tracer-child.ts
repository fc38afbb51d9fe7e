import { readFileSync } from 'node:fs';
import { get } from 'node:http';
import { setImmediate as yieldNow } from 'node:timers/promises';
import { context, trace, type Context, type Tracer as OtelTracer } from '@opentelemetry/api';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { Levels, createTracer, type Span } from '@blkkin/tracer';

const DEBUG = Levels.debug;
import * as zipkin from 'zipkin';
import { HttpLogger } from 'zipkin-transport-http';

/**
 * One tracer under test, in its own process (blkkin bench tracer spawns one per tracer and run):
 *   node tracer-child.js <blkkin|blkkin-worker|otel|zipkin-js> <sink base url> <spans>
 * Prints one JSON object of figures. The sink (another process) discards what it receives and
 * counts it.
 */

/** The same workload for every tracer. */
interface Adapter {
  /** n spans (start, end) in an unsampled trace. Each adapter has its own loops, so that the
   * JIT can inline the call being measured. */
  unsampled(n: number): void;
  /** n annotations below the level threshold on a recorded span (or the nearest equivalent). */
  filtered(n: number): void;
  /** n sampled spans: start, 2 annotations, 2 tags, end. */
  full(n: number): void;
  /** Sends everything recorded; resolves once sent. */
  flush(): Promise<void>;
  /** Spans the tracer knows it dropped. */
  dropped(): number;
  close(): Promise<void>;
}

function blkkin(sink: string, thread: 'main' | 'worker'): Adapter {
  const tracer = createTracer({
    service: 'bench',
    exporter: { type: 'zipkin', url: `${sink}/api/v2/spans`, format: 'proto3' },
    thread,
    bufferSize: 16 * 1024 * 1024,
    batchSize: 4000,
    maxQueuedBatches: 64,
    flushOnExit: false,
  });
  const off = createTracer({
    service: 'bench',
    exporter: { type: 'none' },
    sampler: { probability: 0 },
    flushOnExit: false,
  });
  const parent = tracer.startSpan('request', { kind: 'SERVER' });
  const opts = { parent };
  return {
    unsampled(n) {
      for (let i = 0; i < n; i++) off.startSpan('op').end();
    },
    filtered(n) {
      for (let i = 0; i < n; i++) parent.annotate('detail', DEBUG);
    },
    full(n) {
      for (let i = 0; i < n; i++) {
        const s: Span = tracer.startSpan('op', opts);
        s.annotate('a');
        s.annotate('b');
        s.tag('k', 'v');
        s.tag('n', i);
        s.end();
      }
    },
    flush: () => tracer.flush(),
    dropped() {
      const d = tracer.stats().dropped;
      return d.ringFullSpans + d.export + d.unfinished;
    },
    async close() {
      await tracer.close();
      await off.close();
    },
  };
}

function otel(sink: string): Adapter {
  const exporter = new ZipkinExporter({ url: `${sink}/api/v2/spans`, serviceName: 'bench' });
  // A queue that holds a whole run: with the default (2048) it drops about half of the spans at
  // this rate, and the figure is per exported span.
  const processor = new BatchSpanProcessor(exporter, { maxQueueSize: 1 << 20 });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench' }),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [processor],
  });
  const offProvider = new BasicTracerProvider({ sampler: new AlwaysOffSampler() });
  const tracer: OtelTracer = provider.getTracer('bench');
  const off: OtelTracer = offProvider.getTracer('bench');
  const parent = tracer.startSpan('request');
  const ctx: Context = trace.setSpan(context.active(), parent);
  // OpenTelemetry has no severity levels: the nearest thing to a filtered tracepoint is an event
  // on a span that does not record.
  const nonRecording = off.startSpan('request');
  return {
    unsampled(n) {
      for (let i = 0; i < n; i++) off.startSpan('op').end();
    },
    filtered(n) {
      for (let i = 0; i < n; i++) nonRecording.addEvent('detail');
    },
    full(n) {
      for (let i = 0; i < n; i++) {
        const s = tracer.startSpan('op', undefined, ctx);
        s.addEvent('a');
        s.addEvent('b');
        s.setAttribute('k', 'v');
        s.setAttribute('n', i);
        s.end();
      }
    },
    flush: () => provider.forceFlush(),
    dropped: () => 0, // counted by the sink
    async close() {
      await provider.shutdown();
      await offProvider.shutdown();
    },
  };
}

function zipkinJs(sink: string): Adapter {
  const { Tracer, ExplicitContext, BatchRecorder, Annotation, jsonEncoder } = zipkin;
  const logger = new HttpLogger({
    endpoint: `${sink}/api/v2/spans`,
    jsonEncoder: jsonEncoder.JSON_V2,
    httpInterval: 1000,
  });
  const pending: Promise<void>[] = [];
  const recorder = new BatchRecorder({ logger });
  const tracer = new Tracer({
    ctxImpl: new ExplicitContext(),
    recorder,
    localServiceName: 'bench',
    sampler: new zipkin.sampler.Sampler(zipkin.sampler.alwaysSample),
    traceId128Bit: true,
  });
  const off = new Tracer({
    ctxImpl: new ExplicitContext(),
    recorder: new BatchRecorder({ logger }),
    localServiceName: 'bench',
    sampler: new zipkin.sampler.Sampler(zipkin.sampler.neverSample),
  });
  const parent = tracer.createRootId();
  const offRoot = off.createRootId();
  off.setId(offRoot);
  void pending;
  return {
    unsampled(n) {
      for (let i = 0; i < n; i++) {
        off.setId(off.createChildId(offRoot));
        off.recordAnnotation(new Annotation.LocalOperationStart('op'));
        off.recordAnnotation(new Annotation.LocalOperationStop());
      }
    },
    filtered(n) {
      // No severity levels: the nearest thing is a message in an unsampled trace.
      for (let i = 0; i < n; i++) off.recordMessage('detail');
    },
    full(n) {
      for (let i = 0; i < n; i++) {
        tracer.setId(tracer.createChildId(parent));
        tracer.recordAnnotation(new Annotation.LocalOperationStart('op'));
        tracer.recordMessage('a');
        tracer.recordMessage('b');
        tracer.recordBinary('k', 'v');
        tracer.recordBinary('n', i);
        tracer.recordAnnotation(new Annotation.LocalOperationStop());
      }
    },
    flush() {
      // HttpLogger posts its queue every httpInterval; post now and wait for the answer.
      const logged = logger as unknown as {
        queue: unknown[];
        processQueue(fetchImpl: typeof fetch): void;
        once(event: string, fn: () => void): void;
      };
      if (logged.queue.length === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        logged.once('success', () => resolve());
        logged.once('error', () => resolve());
        logged.processQueue(fetch);
      });
    },
    dropped: () => 0, // counted by the sink
    async close() {},
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** ns per operation, the median of `reps` timed loops of n operations. */
function nsPer(loop: (n: number) => void, n: number, reps: number): number {
  const out: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = process.hrtime.bigint();
    loop(n);
    out.push(Number(process.hrtime.bigint() - t) / n);
  }
  return median(out);
}

/** Spans the sink has counted for us (node:http, not fetch: loading undici would be measured). */
function sinkCount(sink: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`${sink}/count`, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(Number(text)));
    }).on('error', reject);
  });
}

/** `spans` sampled spans recorded in chunks, the exporter running between chunks; then flush. */
async function exportRun(adapter: Adapter, spans: number): Promise<void> {
  for (let c = 0; c < spans / CHUNK; c++) {
    adapter.full(CHUNK);
    await yieldNow();
  }
  await adapter.flush();
}

/** CPU of this process's main thread (the application's), ms, from /proc (10 ms ticks). */
function mainThreadCpuMs(): number {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime in ticks of 10 ms
  } catch {
    return NaN;
  }
}

const CHUNK = 500;

async function main(): Promise<void> {
  const [which, sink, spansArg] = process.argv.slice(2);
  const spans = Number(spansArg ?? 50_000);
  const adapter =
    which === 'otel'
      ? otel(sink!)
      : which === 'zipkin-js'
        ? zipkinJs(sink!)
        : blkkin(sink!, which === 'blkkin-worker' ? 'worker' : 'main');

  // Warm-up: the same work as measured below, until the JIT has settled on every path (the
  // spans go to the sink, not counted below).
  for (let w = 0; w < 3; w++) {
    await exportRun(adapter, spans / 2);
    await sinkCount(sink!);
    nsPer(adapter.unsampled, 200_000, 1);
    nsPer(adapter.filtered, 200_000, 1);
  }

  const unsampledNs = nsPer(adapter.unsampled, 1_000_000, 5);
  const filteredNs = nsPer(adapter.filtered, 2_000_000, 5);

  // Hot path of a sampled span: timed chunks, the exporter running between them (untimed).
  const chunkNs: number[] = [];
  for (let c = 0; c < 40; c++) {
    const t = process.hrtime.bigint();
    adapter.full(CHUNK);
    chunkNs.push(Number(process.hrtime.bigint() - t) / CHUNK);
    await yieldNow();
  }
  await adapter.flush();
  const sampledNs = median(chunkNs);

  // Producer CPU per exported span: every span recorded and exported, all threads of this
  // process (process.cpuUsage) and the application thread alone. The sink counts what arrives.
  // Three runs, the median one (the machine is shared and noisy).
  const measured: { cpuUs: number; mainUs: number; wallMs: number; exported: number }[] = [];
  for (let r = 0; r < 3; r++) {
    const arrivedBefore = await sinkCount(sink!);
    const before = process.cpuUsage();
    const mainBefore = mainThreadCpuMs();
    const wall = process.hrtime.bigint();
    await exportRun(adapter, spans);
    const cpu = process.cpuUsage(before);
    const mainMs = mainThreadCpuMs() - mainBefore;
    const wallMs = Number(process.hrtime.bigint() - wall) / 1e6;
    const exported = (await sinkCount(sink!)) - arrivedBefore;
    measured.push({ cpuUs: cpu.user + cpu.system, mainUs: mainMs * 1000, wallMs, exported });
  }
  measured.sort((a, b) => a.cpuUs / a.exported - b.cpuUs / b.exported);
  const { cpuUs, mainUs, wallMs, exported } = measured[1]!;
  const figures = {
    tracer: which,
    unsampledNs,
    filteredAnnotationNs: filteredNs,
    sampledSpanNs: sampledNs,
    cpuUs,
    mainThreadCpuUs: mainUs,
    wallMs,
    spans,
    exported,
    droppedByTracer: adapter.dropped(),
  };
  await adapter.close();
  // zipkin-js and OpenTelemetry may hold sockets or timers: once the figures are out, leave.
  process.stdout.write(`${JSON.stringify(figures)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
