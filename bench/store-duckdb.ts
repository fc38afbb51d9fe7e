import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Span, SpanKind } from '@blkkin/model';
import { DuckDbStore } from '@blkkin/server';

/**
 * The DuckDB store under a realistic load: appends ~1.2M spans in batches, then measures size on
 * disk and the latency of the queries the Zipkin UI makes. Figures (all numbers):
 *
 * - append_spans_per_s: spans / time spent in write() (generation excluded)
 * - append_cpu_us_per_span: process CPU (all threads) per span while writing
 * - bytes_per_span: file size after the closing checkpoint / spans
 * - get_trace_p50_ms, get_trace_p99_ms
 * - find_service_p50_ms / _p99_ms: serviceName + lookback
 * - find_annotation_p50_ms / _p99_ms: serviceName + annotationQuery + lookback
 * - find_min_duration_p50_ms / _p99_ms: minDuration + lookback
 * - dependencies_ms (whole data), reopen_ms, spans
 */
export interface BenchStoreOptions {
  /** Spans to append (default 1.2M). */
  spans?: number;
  /** Spans per write (default 10k). */
  batch?: number;
  /** Queries of each kind (default 200). */
  queries?: number;
  /** Where to put the database; a temp dir (removed afterwards) by default. */
  dir?: string;
  seed?: number;
  /** DuckDB's threads (the store's default when absent). */
  threads?: number;
  /** Whether to time getDependencies over all the data too (default true). */
  dependencies?: boolean;
  /** Progress lines (to stderr), if wanted. */
  log?: (line: string) => void;
}

const LOWER = new Set(['mapper', 'rados', 'osd']);
const SERVICES = ['frontend', 'gateway', 'volume', 'mapper', 'rados', 'osd'] as const;
type Service = (typeof SERVICES)[number];
const NAMES: Record<Service, string[]> = {
  frontend: ['get /objects', 'put /objects', 'get /health'],
  gateway: ['route', 'authenticate'],
  volume: ['read', 'write', 'flush'],
  mapper: ['map', 'lookup'],
  rados: ['op_read', 'op_write', 'replicate'],
  osd: ['disk_read', 'disk_write', 'journal', 'sync'],
};
/** Whom each service calls. */
const CALLEES: Record<Service, Service[]> = {
  frontend: ['gateway'],
  gateway: ['volume', 'mapper'],
  volume: ['mapper', 'rados'],
  mapper: ['rados'],
  rados: ['osd'],
  osd: [],
};

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

/** Realistic traces: 10–50 spans over 6 services, RPCs as client/server pairs, 3–5 tags, 2 annotations. */
export class TraceGenerator {
  private readonly random: () => number;
  private readonly nodes = new Map<string, number>();
  constructor(seed: number) {
    this.random = xorshift(seed);
  }

  private hex16(): string {
    const r = this.random;
    let hi = Math.floor(r() * 2 ** 32);
    if (hi === 0) hi = 1;
    return (
      hi.toString(16).padStart(8, '0') +
      Math.floor(r() * 2 ** 32)
        .toString(16)
        .padStart(8, '0')
    );
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private span(
    traceId: string,
    parentId: string | undefined,
    kind: SpanKind | undefined,
    service: Service,
    remote: Service | undefined,
    ts: number,
    duration: number,
  ): Span {
    const r = this.random;
    const instance = Math.floor(r() * 3);
    const node = `${service}-${instance}`;
    let offset = this.nodes.get(node);
    if (offset === undefined) this.nodes.set(node, (offset = Math.floor(r() * 2000) - 1000));
    const span: Span = { traceId, id: this.hex16() };
    if (parentId) span.parentId = parentId;
    if (kind) span.kind = kind;
    span.name = this.pick(NAMES[service]);
    span.timestamp = ts;
    span.duration = duration;
    span.localEndpoint = {
      serviceName: service,
      ipv4: `10.0.${SERVICES.indexOf(service)}.${10 + instance}`,
    };
    if (remote) {
      span.remoteEndpoint = {
        serviceName: remote,
        ipv4: `10.0.${SERVICES.indexOf(remote)}.${10 + Math.floor(r() * 3)}`,
        port: 7000 + SERVICES.indexOf(remote),
      };
    }
    span.annotations = [
      { timestamp: ts + 1 + Math.floor(r() * 5), value: kind === 'CLIENT' ? 'ws' : 'wr' },
      { timestamp: ts + Math.max(2, duration - 3), value: kind === 'CLIENT' ? 'wr' : 'ws' },
    ];
    const tags: Record<string, string> = {};
    if (service === 'frontend' || service === 'gateway') {
      tags['http.method'] = r() < 0.7 ? 'GET' : 'PUT';
      tags['http.path'] = `/api/v1/objects/${Math.floor(r() * 100_000)}`;
      tags['http.status_code'] = r() < 0.97 ? '200' : '503';
    } else {
      tags.object = `rbd_data.${Math.floor(r() * 1_000_000).toString(16)}`;
      tags.size = String(4096 * (1 + Math.floor(r() * 16)));
      if (r() < 0.6) tags.pg = `1.${Math.floor(r() * 256).toString(16)}`;
    }
    tags.component = service === 'osd' ? 'bluestore' : 'archipelago';
    if (r() < 0.3) tags['thread.id'] = String(1000 + Math.floor(r() * 64));
    if (r() < 0.01) tags.error = 'timeout';
    span.tags = Object.fromEntries(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)));
    span.level = r() < 0.9 ? 6 : 7;
    span.node = node;
    span.clockOffset = offset;
    return span;
  }

  trace(start: number): Span[] {
    const r = this.random;
    const traceId = this.hex16() + this.hex16();
    const size = 10 + Math.floor(r() * 41);
    const total = 2000 + Math.floor(r() * r() * 200_000);
    const root = this.span(traceId, undefined, 'SERVER', 'frontend', undefined, start, total);
    const spans = [root];
    const servers = [{ span: root, service: 'frontend' as Service }];
    while (spans.length < size) {
      const parent = this.pick(servers);
      const p = parent.span;
      const ts = p.timestamp! + 1 + Math.floor(r() * p.duration! * 0.4);
      const duration = Math.max(4, Math.floor(p.duration! * (0.1 + r() * 0.5)));
      const callees = CALLEES[parent.service];
      if (callees.length === 0 || r() < 0.15) {
        spans.push(this.span(traceId, p.id, undefined, parent.service, undefined, ts, duration));
        continue;
      }
      const callee = this.pick(callees);
      const client = this.span(traceId, p.id, 'CLIENT', parent.service, callee, ts, duration);
      const server = this.span(
        traceId,
        client.id,
        'SERVER',
        callee,
        undefined,
        ts + 2,
        duration - 3,
      );
      spans.push(client, server);
      servers.push({ span: server, service: callee });
    }
    return spans;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))]!;
}

async function timed(times: number[], op: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  await op();
  times.push(performance.now() - start);
}

const round = (n: number, digits = 2) => Number(n.toFixed(digits));

export async function benchStore(opts: BenchStoreOptions = {}): Promise<Record<string, number>> {
  const total = opts.spans ?? 1_200_000;
  const batchSize = opts.batch ?? 10_000;
  const queries = opts.queries ?? 200;
  const log = opts.log ?? (() => undefined);
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'blkkin-bench-store-')));
  const generator = new TraceGenerator(opts.seed ?? 7);
  // 1.2M spans over an hour: about 10 traces a second.
  const startMicros = Date.UTC(2024, 5, 1, 12) * 1000;
  const spacing = Math.round((3_600_000_000 * 30) / total);
  const sample: { traceId: string; timestamp: number }[] = [];
  const figures: Record<string, number> = {};
  let store = await DuckDbStore.open(dir, opts.threads ? { threads: opts.threads } : {});
  try {
    let written = 0;
    let writeMs = 0;
    let writeCpuMicros = 0;
    let traces = 0;
    let clock = startMicros;
    let logSeq = 0;
    // As with agents on several nodes, a trace's spans arrive in two writes: those of the upper
    // layers in one, those of the lower layers (mapper, rados, osd) in the next.
    let deferred: Span[] = [];
    while (written < total) {
      const batch: Span[] = deferred;
      deferred = [];
      while (
        batch.length + deferred.length < batchSize &&
        written + batch.length + deferred.length < total
      ) {
        const trace = generator.trace(clock);
        if (traces++ % 20 === 0) sample.push({ traceId: trace[0]!.traceId, timestamp: clock });
        for (const span of trace) {
          if (LOWER.has(span.localEndpoint!.serviceName!)) deferred.push(span);
          else batch.push(span);
        }
        clock += spacing;
      }
      if (written + batch.length + deferred.length >= total) {
        batch.push(...deferred);
        deferred = [];
      }
      const start = performance.now();
      const cpu = process.cpuUsage();
      await store.write(batch, { logSeq: ++logSeq });
      writeMs += performance.now() - start;
      const used = process.cpuUsage(cpu);
      writeCpuMicros += used.user + used.system;
      written += batch.length;
      if (logSeq % 20 === 0)
        log(`appended ${written} spans, ${Math.round((written / writeMs) * 1000)} spans/s`);
    }
    figures.spans = written;
    figures.append_spans_per_s = Math.round((written / writeMs) * 1000);
    // CPU of the whole process (all threads) while writing: what a busy machine does not distort.
    figures.append_cpu_us_per_span = round(writeCpuMicros / written);
    const closeStart = performance.now();
    await store.close();
    figures.close_ms = round(performance.now() - closeStart, 0);
    figures.bytes_per_span = round((await stat(store.location)).size / written, 1);
    const reopen = performance.now();
    store = await DuckDbStore.open(dir, opts.threads ? { threads: opts.threads } : {});
    figures.reopen_ms = round(performance.now() - reopen, 0);
    log(`${figures.bytes_per_span} bytes per span; querying`);

    const random = xorshift((opts.seed ?? 7) + 1);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const endMs = clock / 1000;
    const startMs = startMicros / 1000;
    const lookback = 15 * 60_000;
    const randomEnd = () =>
      Math.round(startMs + lookback + random() * (endMs - startMs - lookback));
    const serviceTimes: number[] = [];
    const getTimes: number[] = [];
    const annotationTimes: number[] = [];
    const durationTimes: number[] = [];
    let found = 0;
    const terms: Record<string, string>[] = [
      { 'http.method': 'PUT' },
      { 'http.status_code': '503' },
      { error: '' },
      { ws: '' },
      { pg: '1.7f', size: '16384' },
    ];
    for (let i = 0; i < queries; i++) {
      const wanted = pick(sample);
      await timed(getTimes, async () => {
        const spans = await store.getTrace(wanted.traceId);
        if (spans.length < 10) throw new Error(`trace ${wanted.traceId}: ${spans.length} spans`);
      });
      await timed(serviceTimes, async () => {
        const q = { serviceName: pick(SERVICES), endTs: randomEnd(), lookback, limit: 10 };
        found += (await store.findTraces(q)).length;
      });
      await timed(annotationTimes, async () => {
        const annotationQuery = pick(terms);
        const serviceName =
          'pg' in annotationQuery
            ? pick(['rados', 'osd'])
            : 'ws' in annotationQuery
              ? 'frontend'
              : 'gateway';
        const q = { serviceName, annotationQuery, endTs: randomEnd(), lookback, limit: 10 };
        found += (await store.findTraces(q)).length;
      });
      await timed(durationTimes, async () => {
        const q = { minDuration: 150_000, endTs: randomEnd(), lookback, limit: 10 };
        found += (await store.findTraces(q)).length;
      });
    }
    const report = (name: string, times: number[]) => {
      times.sort((a, b) => a - b);
      figures[`${name}_p50_ms`] = round(percentile(times, 0.5));
      figures[`${name}_p99_ms`] = round(percentile(times, 0.99));
    };
    report('get_trace', getTimes);
    report('find_service', serviceTimes);
    report('find_annotation', annotationTimes);
    report('find_min_duration', durationTimes);
    figures.found_traces_per_query = round(found / (3 * queries), 1);
    if (opts.dependencies !== false) {
      const deps = performance.now();
      const links = await store.getDependencies(endMs, endMs - startMs + 1);
      figures.dependencies_ms = round(performance.now() - deps, 0);
      figures.dependency_links = links.length;
    }
    const names = performance.now();
    await store.getServiceNames();
    await store.getSpanNames('osd');
    await store.getRemoteServiceNames('gateway');
    figures.names_ms = round(performance.now() - names, 1);
  } finally {
    await store.close();
    if (!opts.dir) await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

/** `blkkin bench store [--json] [--spans N]`: the figures above, as one object. */
export async function run(options: {
  json: boolean;
  args: string[];
}): Promise<Record<string, unknown>> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    args: options.args,
    strict: true,
    options: { spans: { type: 'string' } },
  });
  const log = (line: string) =>
    options.json ? process.stderr.write(`${line}\n`) : console.log(line);
  const figures = await benchStore({
    ...(values.spans !== undefined ? { spans: Number(values.spans) } : {}),
    log,
  });
  if (!options.json)
    for (const [name, value] of Object.entries(figures)) console.log(`${name}: ${value}`);
  return figures;
}
