import { parseArgs } from 'node:util';

export const BENCH_HELP = `Usage: blkkin bench <name> [--json] [options]

Runs a benchmark on this machine and prints its figures; with --json, one JSON object.

Benchmarks:
  ingest    a server on loopback with the DuckDB store: sustained stored spans/s for proto3 and
            JSON, bytes on disk per span, trace-by-id and search latency at >= 1M stored spans,
            and the floor (decoding alone, DuckDB appending alone) measured in the same run
            options: --spans N (stored spans for the latency part, default 1000000)
  store     the DuckDB store alone, in this process: append spans/s and CPU per span, bytes on
            disk per span, getTrace and findTraces latency (service, annotationQuery,
            minDuration), dependencies over all the data
            options: --spans N (default 1200000)
  tracer    this tracer, OpenTelemetry JS (BatchSpanProcessor + Zipkin exporter) and zipkin-js
            side by side in separate processes: ns per unsampled span, per filtered annotation,
            per sampled span on the hot path; producer CPU per exported span; spans dropped
            options: --runs N (default 5), --spans N (exported per run, default 50000)

Options:
  --json       print one JSON object
  -h, --help   this help
`;

interface BenchModule {
  run(options: { json: boolean; args: string[] }): Promise<Record<string, unknown>>;
}

const BENCHES: Record<string, string> = {
  ingest: 'ingest.js',
  store: 'store-duckdb.js',
  tracer: 'tracer.js',
};

export async function bench(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    process.stdout.write(BENCH_HELP);
    return name ? 0 : 1;
  }
  const file = BENCHES[name];
  if (!file) {
    process.stderr.write(`blkkin bench: unknown benchmark '${name}'\n\n${BENCH_HELP}`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    strict: false,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(BENCH_HELP);
    return 0;
  }
  // Benchmarks live in bench/ at the repository's root, compiled beside it.
  const url = new URL(`../../../../bench/dist/${file}`, import.meta.url);
  const module = (await import(url.href)) as BenchModule;
  const figures = await module.run({
    json: values.json === true,
    args: rest.filter((a) => a !== '--json'),
  });
  if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  return 0;
}
