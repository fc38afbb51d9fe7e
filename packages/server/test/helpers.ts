import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type BlkkinServer, type ServerOptions } from '../src/index.js';

/** A real server on an ephemeral loopback port; DuckDB in a temp dir unless told otherwise. */
export async function startTestServer(
  options: ServerOptions & { memory?: boolean } = {},
): Promise<BlkkinServer & { dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'blkkin-test-'));
  const { memory, ...rest } = options;
  const server = await startServer({
    port: 0,
    storage: memory ? { kind: 'memory' } : { kind: 'duckdb', dir },
    retentionDays: 0,
    ...rest,
  });
  return Object.assign(server, {
    dir,
    async cleanup() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  });
}

export async function getJson<T = unknown>(base: string, path: string): Promise<T> {
  const res = await fetch(base + path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** Polls `probe` until it returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A realistic span in Zipkin v2 JSON, for posting. */
export function zipkinSpan(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    traceId: '463ac35c9f6413ad48485a3953bb6124',
    id: 'a2fb4a1d1a96d312',
    kind: 'SERVER',
    name: 'get /api',
    timestamp: Date.now() * 1000 - 5_000_000,
    duration: 1200,
    localEndpoint: { serviceName: 'frontend', ipv4: '10.0.0.1', port: 8080 },
    remoteEndpoint: { serviceName: 'browser', ipv4: '10.0.0.9' },
    annotations: [{ timestamp: Date.now() * 1000 - 4_999_000, value: 'ws' }],
    tags: { 'http.method': 'GET', 'http.path': '/api' },
    ...overrides,
  };
}

/** POSTs `body` as JSON: strings and bytes as they are, anything else JSON-encoded. */
export async function postJson(
  base: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });
}
