import { DEFAULT_LIMITS, type SpanLimits } from '@blkkin/model';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { join } from 'node:path';
import { IngestLog } from './ingest/log.js';
import { IngestPipeline } from './ingest/pipeline.js';
import { ingestRoutes } from './ingest/routes.js';
import { LiveHub } from './live/hub.js';
import { liveRoutes } from './live/routes.js';
import { createMetrics, type ServerMetrics } from './metrics.js';
import { BadRequest, zipkinApi } from './query/zipkin-api.js';
import { MemoryStore } from './store/memory.js';
import { WorkerStore } from './store/worker-store.js';
import type { Store } from './store/store.js';

export type StorageOption = { kind: 'memory' } | { kind: 'duckdb'; dir: string };

export interface ServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  storage?: StorageOption;
  /** Whole days of spans to keep; 0 keeps everything. */
  retentionDays?: number;
  /** Largest request body, compressed or not. */
  maxBodyBytes?: number;
  limits?: Partial<SpanLimits>;
  /** Spans accepted but not yet stored, at most, before ingest answers 503. */
  maxQueuedSpans?: number;
  /** What /api/v2/autocompleteKeys answers. */
  autocompleteKeys?: string[];
  /** Fastify's request logging (pino) at this level; default 'warn'. */
  logLevel?: string;
}

export interface BlkkinServer {
  app: FastifyInstance;
  store: Store;
  pipeline: IngestPipeline;
  metrics: ServerMetrics;
  live: LiveHub;
  /** http://host:port */
  url: string;
  /** Spans replayed from the ingest log at start. */
  replayedSpans: number;
  close(): Promise<void>;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 9411,
  dataDir: './blkkin-data',
  maxBodyBytes: 16 * 1024 * 1024,
  maxQueuedSpans: 1_000_000,
  retentionDays: 7,
} as const;

const DAY_MS = 86_400_000;

async function openStore(storage: StorageOption, limits: SpanLimits): Promise<Store> {
  return storage.kind === 'memory'
    ? new MemoryStore()
    : WorkerStore.open({ dir: storage.dir, limits });
}

/** Starts blkkin serve: opens the store, replays the ingest log, and listens. */
export async function startServer(options: ServerOptions = {}): Promise<BlkkinServer> {
  const storage = options.storage ?? { kind: 'duckdb', dir: DEFAULTS.dataDir };
  const limits: SpanLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  const metrics = createMetrics();
  const live = new LiveHub(metrics);
  const store = await openStore(storage, limits);

  let log: IngestLog | undefined;
  let replay: Awaited<ReturnType<typeof IngestLog.open>>['pending'] = [];
  if (storage.kind !== 'memory') {
    const mark = await store.lastMark();
    const opened = await IngestLog.open(join(storage.dir, 'ingest-log'), mark.logSeq);
    log = opened.log;
    replay = opened.pending;
  }

  const app = Fastify({
    logger: { level: options.logLevel ?? 'warn' },
    bodyLimit: maxBodyBytes,
  });
  const pipeline = new IngestPipeline(store, log, metrics, {
    limits,
    maxQueuedSpans: options.maxQueuedSpans ?? DEFAULTS.maxQueuedSpans,
    maxWriteSpans: 50_000,
    onAccepted: (spans) => live.publish(spans),
    onStoreError: (err) => app.log.error({ err }, 'store write failed; retrying'),
  });
  const replayedSpans = pipeline.replay(replay);

  // Bodies stay bytes: each endpoint decodes its own formats.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err instanceof BadRequest) return reply.code(400).type('text/plain').send(err.message);
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      const transport = req.url.startsWith('/v1/traces') ? 'otlp' : 'zipkin';
      metrics.batchesRejected.inc({ transport, reason: 'too_large' });
      return reply
        .code(413)
        .type('text/plain')
        .send(
          `request body is larger than the limit of ${maxBodyBytes} bytes: send smaller batches`,
        );
    }
    if (err.statusCode && err.statusCode < 500) {
      return reply.code(err.statusCode).type('text/plain').send(err.message);
    }
    req.log.error({ err }, 'request failed');
    return reply.code(500).type('text/plain').send(`internal error: ${err.message}`);
  });

  // Zipkin allows any origin to read its API by default; so does blkkin.
  app.addHook('onSend', async (req, reply) => {
    if (req.url.startsWith('/api/')) reply.header('access-control-allow-origin', '*');
  });

  ingestRoutes(app, pipeline, metrics, { limits, maxBodyBytes, retryAfterSeconds: 1 });
  zipkinApi(app, store, {
    defaultLookback: DAY_MS,
    namesMaxAge: 300,
    autocompleteKeys: options.autocompleteKeys ?? [],
  });
  liveRoutes(app, live);

  app.get('/health', async (_req, reply) =>
    reply.send({
      status: 'UP',
      store: { kind: store.kind, location: store.location },
      queuedSpans: pipeline.backlog,
    }),
  );
  app.get('/metrics', async (_req, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  const retentionDays = options.retentionDays ?? DEFAULTS.retentionDays;
  const applyRetention = async () => {
    if (retentionDays <= 0) return;
    try {
      await store.deleteDaysBefore((Date.now() - retentionDays * DAY_MS) * 1000);
    } catch (err) {
      metrics.storeErrors.inc({ operation: 'retention' });
      app.log.error({ err }, 'retention failed');
    }
  };
  await applyRetention();
  const retentionTimer = setInterval(() => void applyRetention(), 3_600_000);
  retentionTimer.unref();

  await app.listen({ host: options.host ?? DEFAULTS.host, port: options.port ?? DEFAULTS.port });
  const address = app.server.address();
  const port =
    typeof address === 'object' && address ? address.port : (options.port ?? DEFAULTS.port);
  const host = options.host ?? DEFAULTS.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closed = false;
  return {
    app,
    store,
    pipeline,
    metrics,
    live,
    url,
    replayedSpans,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(retentionTimer);
      live.close();
      await app.close();
      await pipeline.close();
      await store.close();
    },
  };
}
