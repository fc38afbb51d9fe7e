import { SpanKind, SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OTLPTraceExporterJson } from '@opentelemetry/exporter-trace-otlp-http';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as zipkin from 'zipkin';
import { HttpLogger } from 'zipkin-transport-http';
import fetchImpl from 'node-fetch';
import { eventually, getJson, startTestServer } from './helpers.js';

// Real clients against a real `blkkin serve`: what they send must come back field for field.

type ServerT = Awaited<ReturnType<typeof startTestServer>>;
interface ZSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: string;
  timestamp?: number;
  duration?: number;
  localEndpoint?: { serviceName?: string };
  remoteEndpoint?: { serviceName?: string };
  annotations?: { timestamp: number; value: string }[];
  tags?: Record<string, string>;
}

type ToMicros = (t: [number, number]) => number;
/** blkkin's OTLP mapping keeps whole microseconds, rounding down. */
const floorMicros: ToMicros = (t) => t[0] * 1e6 + Math.floor(t[1] / 1e3);
/** @opentelemetry/exporter-zipkin rounds to the nearest microsecond before sending. */
const roundMicros: ToMicros = (t) => Math.round(t[0] * 1e6 + t[1] / 1e3);

/** Records a small client/server trace with the OTel SDK, exported by `exporter`. */
async function recordWithOtel(service: string, exporter: SpanExporter): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor(memory), new SimpleSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer('blkkin-test');
  const attrs: Attributes = { 'http.method': 'PUT', 'volume.id': 'vol-7', bytes: 4096 };
  const root = tracer.startSpan('Write Volume', { kind: SpanKind.SERVER, attributes: attrs });
  root.addEvent('queued');
  const { trace, context } = await import('@opentelemetry/api');
  const child = tracer.startSpan(
    'journal append',
    { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'osd' } },
    trace.setSpan(context.active(), root),
  );
  child.addEvent('fsync');
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'disk slow' });
  child.end();
  root.end();
  await provider.forceFlush();
  const finished = memory.getFinishedSpans(); // shutdown() empties the in-memory exporter
  await provider.shutdown();
  return finished;
}

function checkOtelSpan(got: ZSpan, sent: ReadableSpan, service: string, hrMicros: ToMicros): void {
  const ctx = sent.spanContext();
  assert.equal(got.traceId, ctx.traceId);
  assert.equal(got.id, ctx.spanId);
  assert.equal(got.parentId, sent.parentSpanContext?.spanId);
  assert.equal(got.name, sent.name.toLowerCase());
  assert.equal(got.kind, sent.kind === SpanKind.SERVER ? 'SERVER' : 'CLIENT');
  assert.equal(got.timestamp, hrMicros(sent.startTime));
  // Each side rounds start and end on its own: the duration may differ by the rounding.
  const duration = hrMicros(sent.duration);
  assert.ok(
    got.duration !== undefined && Math.abs(got.duration - duration) <= 1,
    `duration ${got.duration} vs ${duration}`,
  );
  assert.equal(got.localEndpoint?.serviceName, service);
  for (const [key, value] of Object.entries(sent.attributes)) {
    assert.equal(got.tags?.[key], String(value), `tag ${key}`);
  }
  assert.deepEqual(
    got.annotations?.map((a) => a.value),
    sent.events.map((e) => e.name),
  );
  assert.deepEqual(
    got.annotations?.map((a) => a.timestamp),
    sent.events.map((e) => hrMicros(e.time)),
  );
  if (sent.status.code === SpanStatusCode.ERROR) assert.equal(got.tags?.error, sent.status.message);
  else assert.equal(got.tags?.error, undefined);
}

describe('real clients against blkkin serve (DuckDB store)', () => {
  let server: ServerT;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => server.cleanup());

  async function traceOf(traceId: string, count: number): Promise<ZSpan[]> {
    return eventually(async () => {
      const res = await fetch(`${server.url}/api/v2/trace/${traceId}`);
      if (res.status !== 200) return undefined;
      const spans = (await res.json()) as ZSpan[];
      return spans.length >= count ? spans : undefined;
    });
  }

  for (const [label, make, toMicros] of [
    [
      '@opentelemetry/exporter-zipkin (JSON)',
      (url: string) => new ZipkinExporter({ url: `${url}/api/v2/spans` }),
      roundMicros,
    ],
    [
      '@opentelemetry/exporter-trace-otlp-proto',
      (url: string) => new OTLPTraceExporter({ url: `${url}/v1/traces` }),
      floorMicros,
    ],
    [
      '@opentelemetry/exporter-trace-otlp-http (JSON)',
      (url: string) => new OTLPTraceExporterJson({ url: `${url}/v1/traces` }),
      floorMicros,
    ],
  ] as const) {
    test(`${label}: spans come back field for field`, async () => {
      const service = `svc-${label.length}`;
      const sent = await recordWithOtel(service, make(server.url));
      assert.equal(sent.length, 2);
      const traceId = sent[0]!.spanContext().traceId;
      const got = await traceOf(traceId, 2);
      assert.equal(got.length, 2);
      for (const s of sent) {
        const match = got.find((g) => g.id === s.spanContext().spanId);
        assert.ok(match, `span ${s.name} missing`);
        checkOtelSpan(match, s, service, toMicros);
      }
      const services = await getJson<string[]>(server.url, '/api/v2/services');
      assert.ok(services.includes(service));
    });
  }

  test('zipkin-js with zipkin-transport-http: spans come back field for field', async () => {
    // zipkin-transport-http's typings lag its code: fetchImplementation and the events exist.
    const options = {
      endpoint: `${server.url}/api/v2/spans`,
      jsonEncoder: zipkin.jsonEncoder.JSON_V2,
      httpInterval: 50,
      fetchImplementation: fetchImpl,
    };
    const logger = new HttpLogger(options) as HttpLogger & {
      on(event: 'success' | 'error', listener: (arg: Error) => void): void;
    };
    const sentOk = new Promise<void>((resolve, reject) => {
      logger.on('success', () => resolve());
      logger.on('error', (err: Error) => reject(err));
    });
    const tracer = new zipkin.Tracer({
      ctxImpl: new zipkin.ExplicitContext(),
      recorder: new zipkin.BatchRecorder({ logger }),
      localServiceName: 'zipkin-js-app',
      traceId128Bit: true,
    });
    let traceId = '';
    let spanId = '';
    const start = Date.now() * 1000;
    tracer.scoped(() => {
      const id = tracer.createRootId();
      tracer.setId(id);
      traceId = id.traceId;
      spanId = id.spanId;
      tracer.recordServiceName('zipkin-js-app');
      tracer.recordRpc('Read Object');
      tracer.recordAnnotation(new zipkin.Annotation.ClientSend());
      tracer.recordAnnotation(
        new zipkin.Annotation.ServerAddr({ serviceName: 'osd.1', port: 6800 }),
      );
      tracer.recordBinary('object', 'rbd_data.1');
      tracer.recordMessage('sent');
      tracer.recordAnnotation(new zipkin.Annotation.ClientRecv());
    });
    await sentOk;
    const [span] = await traceOf(traceId, 1);
    assert.ok(span);
    assert.equal(span.traceId, traceId);
    assert.equal(span.id, spanId);
    assert.equal(span.name, 'read object');
    assert.equal(span.kind, 'CLIENT');
    assert.equal(span.localEndpoint?.serviceName, 'zipkin-js-app');
    assert.equal(span.remoteEndpoint?.serviceName, 'osd.1');
    assert.equal(span.tags?.object, 'rbd_data.1');
    assert.deepEqual(
      span.annotations?.map((a) => a.value),
      ['sent'],
    );
    assert.ok(span.timestamp !== undefined && span.timestamp >= start - 1000);
    assert.ok(span.duration !== undefined && span.duration >= 1);
    const remote = await getJson<string[]>(
      server.url,
      '/api/v2/remoteServices?serviceName=zipkin-js-app',
    );
    assert.deepEqual(remote, ['osd.1']);
  });
});
