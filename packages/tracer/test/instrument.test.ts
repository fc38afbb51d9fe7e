// Automatic instrumentation against a real node:http server, node:https, and Node's fetch, on
// loopback (port 0). Spans are captured through the tracer's 'custom' exporter.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http, { request as namedRequest } from 'node:http';
import https from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once, EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createTracer, type Tracer } from '../src/tracer.js';
import type { ExportedSpan } from '../src/options.js';
import {
  instrumentFetch,
  instrumentHttp,
  suppressInstrumentation,
} from '../src/instrument/index.js';

const TRACE_HEADERS = [
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
];

interface Harness {
  tracer: Tracer;
  spans: ExportedSpan[];
  collect(): Promise<ExportedSpan[]>;
}

function harness(sampler?: { probability: number }): Harness {
  const spans: ExportedSpan[] = [];
  const tracer = createTracer({
    service: 'instrumented',
    exporter: { type: 'custom', export: (batch) => void spans.push(...batch) },
    flushOnExit: false,
    ...(sampler ? { sampler } : {}),
  });
  return {
    tracer,
    spans,
    async collect() {
      await tracer.flush();
      const out = spans.splice(0);
      return out;
    },
  };
}

const tracers: Tracer[] = [];
after(async () => {
  for (const t of tracers) await t.close();
});

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => unknown;

/** A real server on 127.0.0.1:0; records the trace headers of every request. */
async function server(handler: Handler) {
  const seen: Record<string, string | string[] | undefined>[] = [];
  const srv = http.createServer((req, res) => {
    const picked: Record<string, string | string[] | undefined> = {};
    for (const h of TRACE_HEADERS) if (req.headers[h] !== undefined) picked[h] = req.headers[h];
    seen.push(picked);
    void handler(req, res);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function byKind(spans: ExportedSpan[], kind: string): ExportedSpan[] {
  return spans.filter((s) => s.kind === kind);
}

function one(spans: ExportedSpan[], kind: string, path?: string): ExportedSpan {
  const found = byKind(spans, kind).filter(
    (s) => path === undefined || s.tags?.['http.path'] === path,
  );
  assert.equal(
    found.length,
    1,
    `one ${kind} span${path ? ' for ' + path : ''}: ${JSON.stringify(spans)}`,
  );
  return found[0]!;
}

test('http client -> http server: client and server spans, parent and child, headers, tags', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const inst = instrumentHttp(h.tracer, { propagation: 'both' });
  const srv = await server((_req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end('ok');
  });
  try {
    const res = await get(`${srv.url}/things/42?x=1`);
    assert.equal(res.status, 200);
    const spans = await h.collect();
    assert.equal(spans.length, 2);
    const client = one(spans, 'CLIENT');
    const serverSpan = one(spans, 'SERVER');
    assert.equal(serverSpan.traceId, client.traceId);
    assert.equal(serverSpan.parentId, client.id);
    assert.notEqual(serverSpan.id, client.id);
    assert.equal(client.parentId, undefined);
    assert.equal(client.name.toLowerCase(), 'get');
    for (const s of [client, serverSpan]) {
      assert.equal(s.tags?.['http.method'], 'GET');
      assert.equal(s.tags?.['http.path'], '/things/42');
      assert.equal(s.tags?.['http.status_code'], '200');
      assert.equal(s.tags?.error, undefined);
    }
    assert.equal(client.remoteEndpoint?.ipv4, '127.0.0.1');
    assert.equal(client.remoteEndpoint?.port, srv.port);
    assert.equal(serverSpan.remoteEndpoint?.ipv4, '127.0.0.1');
    // The server saw both formats, naming the client span.
    const seen = srv.seen[0]!;
    const traceId = client.traceId.padStart(32, '0');
    assert.equal(seen.traceparent, `00-${traceId}-${client.id}-01`);
    assert.equal(seen['x-b3-traceid'], client.traceId);
    assert.equal(seen['x-b3-spanid'], client.id);
    assert.equal(seen['x-b3-sampled'], '1');
    assert.equal(seen['x-b3-parentspanid'], undefined);
  } finally {
    inst.uninstall();
    await srv.close();
  }
});

test('context flows: a call made inside a handler is a child of the server span (fetch and http)', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const httpInst = instrumentHttp(h.tracer, { propagation: 'w3c' });
  const fetchInst = instrumentFetch(h.tracer, { propagation: 'w3c' });
  let innerUrl = '';
  let activeInHandler: unknown;
  const inner = await server((_req, res) => res.end('inner'));
  innerUrl = inner.url;
  const outer = await server(async (req, res) => {
    activeInHandler = h.tracer.activeSpan();
    await new Promise((r) => setTimeout(r, 5)); // across a timer
    const a = await fetch(`${innerUrl}/via-fetch`);
    await a.text();
    const b = await get(`${innerUrl}/via-http`);
    res.end(`${a.status} ${b.status} ${req.url}`);
  });
  try {
    const res = await fetch(`${outer.url}/outer`);
    assert.equal(await res.text(), '200 200 /outer');
    assert.ok(activeInHandler, 'activeSpan() is the server span inside the handler');
    const spans = await h.collect();
    assert.equal(spans.length, 6, JSON.stringify(spans));
    const traceIds = new Set(spans.map((s) => s.traceId));
    assert.equal(traceIds.size, 1);
    const rootClient = byKind(spans, 'CLIENT').find((s) => s.tags?.['http.path'] === '/outer')!;
    const outerServer = one(spans, 'SERVER', '/outer');
    assert.equal(rootClient.parentId, undefined);
    assert.equal(outerServer.parentId, rootClient.id);
    for (const path of ['/via-fetch', '/via-http']) {
      const c = byKind(spans, 'CLIENT').find((s) => s.tags?.['http.path'] === path)!;
      const s = one(spans, 'SERVER', path);
      assert.equal(
        c.parentId,
        outerServer.id,
        `${path} client is a child of the outer server span`,
      );
      assert.equal(s.parentId, c.id);
    }
    // W3C only: no B3 headers went out.
    for (const seen of [...outer.seen, ...inner.seen]) {
      assert.ok(seen.traceparent);
      assert.equal(seen['x-b3-traceid'], undefined);
    }
  } finally {
    fetchInst.uninstall();
    httpInst.uninstall();
    await outer.close();
    await inner.close();
  }
});

test('errors: 5xx tagged on both sides, 4xx on the client only; connection refused tagged', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const httpInst = instrumentHttp(h.tracer);
  const fetchInst = instrumentFetch(h.tracer);
  const srv = await server((req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 503;
    res.end();
  });
  // A port nobody listens on: bind, note, close.
  const closed = http.createServer().listen(0, '127.0.0.1');
  await once(closed, 'listening');
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  try {
    assert.equal((await get(`${srv.url}/fail`)).status, 503);
    assert.equal((await fetch(`${srv.url}/missing`)).status, 404);
    let spans = await h.collect();
    const c503 = one(spans, 'CLIENT', '/fail');
    const s503 = one(spans, 'SERVER', '/fail');
    assert.equal(c503.tags?.['http.status_code'], '503');
    assert.equal(c503.tags?.error, '503');
    assert.equal(s503.tags?.['http.status_code'], '503');
    assert.equal(s503.tags?.error, '503');
    assert.equal(one(spans, 'CLIENT', '/missing').tags?.error, '404');
    assert.equal(one(spans, 'SERVER', '/missing').tags?.error, undefined);

    // Connection refused: http (with the caller's own error listener) and fetch.
    await assert.rejects(get(`http://127.0.0.1:${deadPort}/refused-http`), /ECONNREFUSED/);
    await assert.rejects(fetch(`http://127.0.0.1:${deadPort}/refused-fetch`), TypeError);
    spans = await h.collect();
    assert.equal(spans.length, 2);
    for (const path of ['/refused-http', '/refused-fetch']) {
      const c = one(spans, 'CLIENT', path);
      assert.match(c.tags?.error ?? '', /ECONNREFUSED/, path);
      assert.equal(c.tags?.['http.status_code'], undefined);
      assert.equal(c.remoteEndpoint?.port, deadPort);
    }
  } finally {
    fetchInst.uninstall();
    httpInst.uninstall();
    await srv.close();
  }
});

test('server: connection closed before the response, and an exception in a listener', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const inst = instrumentHttp(h.tracer);
  const srv = await server((req) => {
    // Never answers; the client gives up.
    req.resume();
  });
  try {
    const req = http.get(`${srv.url}/hang`);
    req.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    req.destroy();
    await new Promise((r) => setTimeout(r, 50));
    const spans = await h.collect();
    const s = one(spans, 'SERVER', '/hang');
    assert.match(s.tags?.error ?? '', /closed/);
    const c = one(spans, 'CLIENT', '/hang');
    assert.ok(c.tags?.error);

    // A throwing 'request' listener: the error is tagged, the span ended, the error rethrown.
    const bare = http.createServer(() => {
      throw new Error('handler exploded');
    });
    const fakeReq = Object.assign(new EventEmitter(), {
      method: 'POST',
      url: '/boom',
      headers: {},
      socket: { remoteAddress: '::ffff:10.1.2.3', remotePort: 5555 },
    });
    const fakeRes = Object.assign(new EventEmitter(), {
      statusCode: 200,
      writableFinished: false,
      headersSent: false,
    });
    assert.throws(() => bare.emit('request', fakeReq, fakeRes), /handler exploded/);
    const [boom] = await h.collect();
    assert.equal(boom?.kind, 'SERVER');
    assert.equal(boom?.tags?.error, 'handler exploded');
    assert.equal(boom?.tags?.['http.method'], 'POST');
    assert.equal(boom?.remoteEndpoint?.ipv4, '10.1.2.3');
  } finally {
    inst.uninstall();
    await srv.close();
  }
});

test('server: extracts B3 and W3C from foreign clients; unsampled and garbage headers', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const inst = instrumentHttp(h.tracer, { client: false });
  const srv = await server((_req, res) => res.end());
  const send = (headers: Record<string, string>) =>
    new Promise<void>((resolve, reject) => {
      http
        .get(`${srv.url}/in`, { headers }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  try {
    await send({
      'X-B3-TraceId': '463ac35c9f6413ad48485a3953bb6124',
      'X-B3-SpanId': 'a2fb4a1d1a96d312',
      'X-B3-ParentSpanId': '0020000000000001',
      'X-B3-Sampled': '1',
    });
    await send({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    await send({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90' });
    await send({ traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' }); // not sampled
    await send({ b3: '0' }); // not sampled, no ids
    await send({ traceparent: 'garbage', 'x-b3-traceid': 'zz' }); // a new trace
    const spans = await h.collect();
    assert.equal(spans.length, 4, JSON.stringify(spans));
    const [b3multi, w3c, b3single, fresh] = spans.sort((a, b) => a.timestamp - b.timestamp);
    assert.equal(b3multi?.traceId, '463ac35c9f6413ad48485a3953bb6124');
    assert.equal(b3multi?.parentId, 'a2fb4a1d1a96d312');
    assert.notEqual(
      b3multi?.id,
      'a2fb4a1d1a96d312',
      'the server records its own span, not a shared one',
    );
    assert.equal(w3c?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(w3c?.parentId, 'b7ad6b7169203331');
    assert.equal(b3single?.traceId, '80f198ee56343ba864fe8b2a57d3eff7');
    assert.equal(b3single?.parentId, 'e457b5a2e4d86bd1');
    assert.equal(fresh?.parentId, undefined);
    assert.ok(
      !['463ac35c9f6413ad48485a3953bb6124', '0af7651916cd43dd8448eb211c80319c'].includes(
        fresh!.traceId,
      ),
    );
  } finally {
    inst.uninstall();
    await srv.close();
  }
});

test('unsampled traces: no spans, and the decision still travels downstream', async () => {
  const h = harness({ probability: 0 });
  tracers.push(h.tracer);
  const inst = instrumentHttp(h.tracer, { propagation: 'both' });
  const fetchInst = instrumentFetch(h.tracer, { propagation: 'b3-single' });
  const srv = await server((_req, res) => res.end());
  try {
    await get(`${srv.url}/a`);
    await fetch(`${srv.url}/b`);
    assert.deepEqual(await h.collect(), []);
    // No ids to give: B3 says "not sampled", W3C says nothing.
    assert.deepEqual(srv.seen[0], { 'x-b3-sampled': '0' });
    assert.deepEqual(srv.seen[1], { b3: '0' });
  } finally {
    fetchInst.uninstall();
    inst.uninstall();
    await srv.close();
  }
});

test('fetch: Request objects and init headers are preserved, never mutated', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const inst = instrumentFetch(h.tracer, { propagation: 'b3' });
  let seenHeaders: http.IncomingHttpHeaders = {};
  let seenBody = '';
  const srv = await server(async (req, res) => {
    seenHeaders = req.headers;
    for await (const chunk of req) seenBody += String(chunk);
    res.end();
  });
  try {
    const init = { method: 'POST', headers: { 'x-mine': 'yes' }, body: 'payload' };
    await fetch(`${srv.url}/init`, init);
    assert.deepEqual(init.headers, { 'x-mine': 'yes' });
    assert.equal(seenHeaders['x-mine'], 'yes');
    assert.equal(seenBody, 'payload');
    assert.ok(seenHeaders['x-b3-spanid']);
    const request = new Request(`${srv.url}/request`, {
      method: 'PUT',
      headers: { 'x-other': '1' },
    });
    await fetch(request);
    assert.equal(request.headers.get('x-b3-spanid'), null);
    assert.equal(seenHeaders['x-other'], '1');
    const spans = await h.collect();
    assert.equal(one(spans, 'CLIENT', '/init').tags?.['http.method'], 'POST');
    const put = one(spans, 'CLIENT', '/request');
    assert.equal(put.tags?.['http.method'], 'PUT');
    assert.equal(seenHeaders['x-b3-spanid'], put.id);
  } finally {
    inst.uninstall();
    await srv.close();
  }
});

test('uninstall restores the originals; suppressInstrumentation and collector paths are not traced', async () => {
  const h = harness();
  tracers.push(h.tracer);
  const originals = {
    request: http.request,
    get: http.get,
    httpsRequest: https.request,
    httpsGet: https.get,
    named: namedRequest,
    fetch: globalThis.fetch,
    emit: Object.getOwnPropertyDescriptor(http.Server.prototype, 'emit'),
    httpsEmit: Object.getOwnPropertyDescriptor(https.Server.prototype, 'emit'),
  };
  const httpInst = instrumentHttp(h.tracer);
  const fetchInst = instrumentFetch(h.tracer);
  assert.notEqual(http.request, originals.request);
  assert.notEqual(https.get, originals.httpsGet);
  assert.notEqual(globalThis.fetch, originals.fetch);
  const { request: namedAfter } = await import('node:http');
  assert.notEqual(namedAfter, originals.named, 'named ESM exports follow');
  const srv = await server((_req, res) => res.end());
  try {
    suppressInstrumentation(
      () => void http.get(`${srv.url}/quiet`).on('response', (r) => r.resume()),
    );
    await suppressInstrumentation(() => fetch(`${srv.url}/quiet2`));
    await fetch(`${srv.url}/api/v2/spans`, { method: 'POST', body: '[]' });
    await new Promise((r) => setTimeout(r, 50));
    let spans = await h.collect();
    assert.deepEqual(
      byKind(spans, 'CLIENT'),
      [],
      'suppressed and collector calls make no client span',
    );
    assert.equal(byKind(spans, 'SERVER').length, 3, 'the servers still trace them');
    assert.deepEqual(srv.seen.slice(0, 3), [{}, {}, {}]);

    httpInst.uninstall();
    fetchInst.uninstall();
    httpInst.uninstall(); // idempotent
    assert.equal(http.request, originals.request);
    assert.equal(http.get, originals.get);
    assert.equal(https.request, originals.httpsRequest);
    assert.equal(https.get, originals.httpsGet);
    assert.equal(globalThis.fetch, originals.fetch);
    assert.deepEqual(
      Object.getOwnPropertyDescriptor(http.Server.prototype, 'emit'),
      originals.emit,
    );
    assert.deepEqual(
      Object.getOwnPropertyDescriptor(https.Server.prototype, 'emit'),
      originals.httpsEmit,
    );
    const { request: namedRestored } = await import('node:http');
    assert.equal(namedRestored, originals.named);
    await get(`${srv.url}/after`);
    await fetch(`${srv.url}/after2`);
    spans = await h.collect();
    assert.deepEqual(spans, []);
    assert.deepEqual(srv.seen.slice(3), [{}, {}]);
  } finally {
    await srv.close();
  }
});

function selfSignedCert(): { key: string; cert: string } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'blkkin-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ],
      { stdio: 'ignore' },
    );
    return {
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    };
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('https client -> https server', async (t) => {
  const tls = selfSignedCert();
  if (tls === undefined) {
    t.skip('openssl not available to make a test certificate');
    return;
  }
  const h = harness();
  tracers.push(h.tracer);
  const inst = instrumentHttp(h.tracer, { propagation: 'w3c' });
  let seen: string | undefined;
  const srv = https.createServer(tls, (req, res) => {
    seen = req.headers.traceparent as string | undefined;
    res.end('secure');
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as AddressInfo).port;
  try {
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port, path: '/tls', ca: tls.cert }, (res) => {
          let text = '';
          res.on('data', (d) => (text += String(d)));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    assert.equal(body, 'secure');
    const spans = await h.collect();
    const c = one(spans, 'CLIENT', '/tls');
    const s = one(spans, 'SERVER', '/tls');
    assert.equal(s.parentId, c.id);
    assert.equal(c.remoteEndpoint?.port, port);
    assert.equal(seen, `00-${c.traceId.padStart(32, '0')}-${c.id}-01`);
  } finally {
    inst.uninstall();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});
