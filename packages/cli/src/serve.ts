import { DEFAULTS, startServer, type ServerOptions } from '@blkkin/server';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseDuration, parseSize } from './units.js';

export const SERVE_HELP = `Usage: blkkin serve [options]

Runs the collector: ingest (Zipkin v2 JSON/proto3 at POST /api/v2/spans, OTLP/HTTP at
POST /v1/traces), the embedded store, Zipkin's v2 query API, the live stream and /metrics.

Options:
  --host HOST          address to listen on (default ${DEFAULTS.host})
  --port N             port (default ${DEFAULTS.port}; 0 picks a free one)
  --data DIR           DuckDB store and ingest log in DIR (default ${DEFAULTS.dataDir})
  --storage memory     keep spans in memory only (lost at exit)
  --retention D        keep whole days of spans: 7d, 48h, or days (default ${DEFAULTS.retentionDays}d; 0 keeps all)
  --max-body BYTES     largest request body, e.g. 16MiB (default 16MiB)
  --max-queue N        spans accepted but not yet stored before ingest answers 503 (default ${DEFAULTS.maxQueuedSpans})
  --autocomplete-keys K1,K2
                       tag keys offered by /api/v2/autocompleteKeys (default none, as Zipkin)
  -h, --help           this help
`;

export function parseServeArgs(argv: string[]): ServerOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      data: { type: 'string' },
      storage: { type: 'string' },
      retention: { type: 'string' },
      'max-body': { type: 'string' },
      'max-queue': { type: 'string' },
      'autocomplete-keys': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const options: ServerOptions = {};
  if (values.host) options.host = values.host;
  if (values.port !== undefined) {
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new Error(`--port must be 0–65535, not '${values.port}'`);
    options.port = port;
  }
  if (values.storage !== undefined && values.storage !== 'memory' && values.storage !== 'duckdb') {
    throw new Error(`--storage must be 'memory' or 'duckdb', not '${values.storage}'`);
  }
  if (values.storage === 'memory') {
    if (values.data) throw new Error('--data and --storage memory exclude each other: choose one');
    options.storage = { kind: 'memory' };
  } else {
    options.storage = { kind: 'duckdb', dir: resolve(values.data ?? DEFAULTS.dataDir) };
  }
  if (values.retention !== undefined) {
    options.retentionDays = parseDuration(values.retention, 'd') / 86_400_000;
  }
  if (values['max-body'] !== undefined) options.maxBodyBytes = parseSize(values['max-body']);
  if (values['max-queue'] !== undefined) {
    const n = Number(values['max-queue']);
    if (!Number.isSafeInteger(n) || n <= 0)
      throw new Error(`--max-queue must be a positive integer, not '${values['max-queue']}'`);
    options.maxQueuedSpans = n;
  }
  if (values['autocomplete-keys']) {
    options.autocompleteKeys = values['autocomplete-keys']
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean);
  }
  return options;
}

export async function serve(argv: string[]): Promise<number> {
  const options = parseServeArgs(argv);
  if (options === 'help') {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const server = await startServer(options);
  const where =
    server.store.kind === 'memory'
      ? 'in memory'
      : `${server.store.kind} at ${server.store.location}`;
  const replayed =
    server.replayedSpans > 0 ? `, ${server.replayedSpans} spans replayed from the ingest log` : '';
  console.log(
    `blkkin serve: listening on ${server.url} (Zipkin API /api/v2, OTLP /v1/traces); storing ${where}${replayed}`,
  );
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
