import { decodeZipkinProto3 } from '@blkkin/model';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/**
 * blkkin bench tracer: this tracer, the OpenTelemetry JS SDK (BasicTracerProvider,
 * BatchSpanProcessor, Zipkin exporter) and zipkin-js (BatchRecorder, HttpLogger), side by side,
 * each in its own child process (tracer-child.ts), all exporting to one local HTTP sink (this
 * process) that counts spans and discards them. Runs are interleaved; figures are medians.
 */

const CHILD = fileURLToPath(new URL('./tracer-child.js', import.meta.url));
const TRACERS = ['blkkin', 'blkkin-worker', 'otel', 'zipkin-js'] as const;
type Name = (typeof TRACERS)[number];

interface ChildFigures {
  tracer: Name;
  unsampledNs: number;
  filteredAnnotationNs: number;
  sampledSpanNs: number;
  cpuUs: number;
  mainThreadCpuUs: number;
  wallMs: number;
  spans: number;
  exported: number;
  droppedByTracer: number;
}

/** Counts spans per key (the path's first two segments: /k/<key>/...), then forgets them. */
async function startSink(): Promise<{ url: string; close(): void }> {
  const counts = new Map<string, number>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const match = /^\/k\/([^/]+)(\/.*)$/.exec(req.url ?? '');
    const key = match?.[1] ?? '';
    if (req.method === 'GET' && match?.[2] === '/count') {
      res.end(String(counts.get(key) ?? 0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let n = 0;
      try {
        n = (req.headers['content-type'] ?? '').includes('protobuf')
          ? decodeZipkinProto3(body).length
          : (JSON.parse(body.toString('utf8')) as unknown[]).length;
      } catch {
        res.statusCode = 400;
        res.end();
        return;
      }
      counts.set(key, (counts.get(key) ?? 0) + n);
      res.statusCode = 202;
      res.end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

function runChild(name: Name, sink: string, spans: number): Promise<ChildFigures> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CHILD, name, sink, String(spans)],
      { maxBuffer: 1 << 20, timeout: 300_000 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${name}: ${err.message}\n${stderr}`));
        else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as ChildFigures);
      },
    );
  });
}

function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

function machine(): Record<string, unknown> {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) model = line.slice(line.indexOf(':') + 1).trim();
  } catch {
    // not Linux
  }
  return { nproc: cpus().length, cpu: model, node: process.version };
}

export async function run(options: {
  json: boolean;
  args: string[];
}): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args: options.args,
    options: {
      runs: { type: 'string', default: '5' },
      spans: { type: 'string', default: '50000' },
      only: { type: 'string' },
    },
    strict: false,
  });
  const runs = Math.max(1, Number(values.runs));
  const spans = Math.max(1000, Number(values.spans));
  const only = typeof values.only === 'string' ? values.only.split(',') : undefined;
  const names = TRACERS.filter((n) => !only || only.includes(n));
  const log = (text: string) => {
    if (!options.json) process.stdout.write(text);
  };
  const sink = await startSink();
  const results = new Map<Name, ChildFigures[]>(names.map((n) => [n, []]));
  try {
    for (let r = 0; r < runs; r++) {
      for (const name of names) {
        log(`run ${r + 1}/${runs} ${name} ... `);
        const figures = await runChild(name, `${sink.url}/k/${name}-${r}`, spans);
        results.get(name)!.push(figures);
        log(
          `${round(figures.sampledSpanNs)} ns/span, ${round(figures.cpuUs / Math.max(1, figures.exported), 2)} µs CPU/exported span\n`,
        );
      }
    }
  } finally {
    sink.close();
  }

  const tracers: Record<string, Record<string, number>> = {};
  for (const name of names) {
    const all = results.get(name)!;
    tracers[name] = {
      unsampledNs: round(median(all.map((f) => f.unsampledNs))),
      filteredAnnotationNs: round(median(all.map((f) => f.filteredAnnotationNs)), 2),
      sampledSpanNs: round(median(all.map((f) => f.sampledSpanNs))),
      cpuUsPerExportedSpan: round(median(all.map((f) => f.cpuUs / Math.max(1, f.exported))), 3),
      mainThreadCpuUsPerExportedSpan: round(
        median(all.map((f) => f.mainThreadCpuUs / Math.max(1, f.exported))),
        3,
      ),
      exportedPerRun: median(all.map((f) => f.exported)),
      droppedPerRun: median(all.map((f) => f.spans - f.exported)),
      spansPerRun: spans,
    };
  }
  const ratios: Record<string, Record<string, number>> = {};
  const otel = tracers.otel;
  // Ratios of the medians, and the median of the ratios within each run (the same minutes of a
  // noisy machine for both tracers).
  const paired: Record<string, number> = {};
  const otelRuns = results.get('otel');
  if (otelRuns) {
    for (const name of names) {
      if (name === 'otel') continue;
      const runs = results.get(name)!;
      paired[name] = round(
        median(
          runs.map((f, i) => {
            const o = otelRuns[i]!;
            return o.cpuUs / Math.max(1, o.exported) / (f.cpuUs / Math.max(1, f.exported));
          }),
        ),
      );
    }
  }
  if (otel) {
    for (const name of names) {
      if (name === 'otel') continue;
      const t = tracers[name]!;
      ratios[name] = {
        unsampled: round(otel.unsampledNs! / t.unsampledNs!),
        filteredAnnotation: round(otel.filteredAnnotationNs! / t.filteredAnnotationNs!),
        sampledSpan: round(otel.sampledSpanNs! / t.sampledSpanNs!),
        cpuPerExportedSpan: round(otel.cpuUsPerExportedSpan! / t.cpuUsPerExportedSpan!),
      };
    }
  }
  const ours = tracers.blkkin;
  const targets = ours
    ? {
        unsampledNs: { target: 20, value: ours.unsampledNs, met: ours.unsampledNs! <= 20 },
        filteredAnnotationNs: {
          target: 5,
          value: ours.filteredAnnotationNs,
          met: ours.filteredAnnotationNs! <= 5,
        },
        sampledSpanNs: { target: 300, value: ours.sampledSpanNs, met: ours.sampledSpanNs! <= 300 },
        cpuUsPerExportedSpan: {
          target: 0.8,
          value: ours.cpuUsPerExportedSpan,
          met: ours.cpuUsPerExportedSpan! <= 0.8,
        },
        ...(ratios.blkkin
          ? {
              cpuVsOtel: {
                target: 10,
                value: ratios.blkkin.cpuPerExportedSpan,
                pairedMedian: paired.blkkin,
                met: ratios.blkkin.cpuPerExportedSpan! >= 10,
              },
            }
          : {}),
      }
    : {};
  const figures = {
    benchmark: 'tracer',
    machine: machine(),
    runs,
    spansPerRun: spans,
    tracers,
    ratiosToOtel: ratios,
    cpuPerExportedSpanRatioToOtelPerRun: paired,
    targets,
  };
  if (!options.json) {
    log('\n');
    const cols = [
      'tracer',
      'unsampled ns',
      'filtered ann ns',
      'sampled span ns',
      'CPU µs/exported',
      'main thread µs',
      'dropped/run',
    ];
    log(`${cols.map((c) => c.padEnd(16)).join('')}\n`);
    for (const name of names) {
      const t = tracers[name]!;
      log(
        `${[
          name,
          t.unsampledNs,
          t.filteredAnnotationNs,
          t.sampledSpanNs,
          t.cpuUsPerExportedSpan,
          t.mainThreadCpuUsPerExportedSpan,
          t.droppedPerRun,
        ]
          .map((c) => String(c).padEnd(16))
          .join('')}\n`,
      );
    }
    log(`\nratios to OpenTelemetry (× less): ${JSON.stringify(ratios)}\n`);
    log(`CPU per exported span, median of the per-run ratios: ${JSON.stringify(paired)}\n`);
    log(`targets: ${JSON.stringify(targets)}\n`);
  }
  return figures;
}
