// Propagation against real libraries, both ways: OpenTelemetry's W3CTraceContextPropagator and
// zipkin-js's B3 header handling (Instrumentation.HttpServer reads, Request.addZipkinHeaders and
// Instrumentation.HttpClient write).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ROOT_CONTEXT,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type SpanContext as OtelSpanContext,
} from '@opentelemetry/api';
import { TraceState, W3CTraceContextPropagator } from '@opentelemetry/core';
import zipkin from 'zipkin';
import { TraceFlags, parentIdHex, spanIdHex, traceIdHex, traceIdHex128 } from '../src/context.js';
import { extract, inject, normalizeFlags } from '../src/propagation/index.js';
import { spanContextArb } from './arbitraries.js';

const contextArb = spanContextArb();

const tracestate = fc
  .uniqueArray(
    fc.tuple(
      fc.stringMatching(/^[a-z][a-z0-9_\-*/]{0,8}(@[a-z][a-z0-9]{0,4})?$/),
      fc.stringMatching(/^[!-+\--<>-~]{1,12}$/),
    ),
    { minLength: 1, maxLength: 8, selector: ([k]) => k },
  )
  .map((members) => members.map(([k, v]) => `${k}=${v}`).join(','));

const hex = (digits: number) =>
  fc.stringMatching(new RegExp(`^[0-9a-f]{${digits}}$`)).filter((s) => !/^0+$/.test(s));

// ----- OpenTelemetry W3C

const otel = new W3CTraceContextPropagator();

function otelExtract(carrier: Record<string, string>): OtelSpanContext | undefined {
  return trace.getSpanContext(otel.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter));
}

test('w3c: ours -> OpenTelemetry extract', () => {
  fc.assert(
    fc.property(contextArb, fc.option(tracestate, { nil: undefined }), (c, state) => {
      const headers: Record<string, string> = {};
      inject(state === undefined ? c : { ...c, traceState: state }, headers, 'w3c');
      const sc = otelExtract(headers);
      assert.ok(sc, headers.traceparent);
      assert.equal(sc.traceId, traceIdHex128(c));
      assert.equal(sc.spanId, spanIdHex(c));
      assert.equal(sc.isRemote, true);
      const sampled = (c.flags & (TraceFlags.SAMPLED | TraceFlags.DEBUG)) !== 0;
      assert.equal(sc.traceFlags, sampled ? 1 : 0);
      if (state !== undefined) {
        // OpenTelemetry keeps the members; compare as key -> value.
        for (const member of state.split(',')) {
          const eq = member.indexOf('=');
          assert.equal(sc.traceState?.get(member.slice(0, eq)), member.slice(eq + 1));
        }
      } else assert.equal(sc.traceState, undefined);
    }),
    { numRuns: 500 },
  );
});

test('w3c: OpenTelemetry inject -> ours', () => {
  fc.assert(
    fc.property(
      hex(32),
      hex(16),
      fc.constantFrom(0, 1),
      fc.option(tracestate, { nil: undefined }),
      (traceId, spanId, traceFlags, state) => {
        const sc: OtelSpanContext = {
          traceId,
          spanId,
          traceFlags,
          isRemote: false,
          ...(state !== undefined ? { traceState: new TraceState(state) } : {}),
        };
        const headers: Record<string, string> = {};
        otel.inject(trace.setSpanContext(ROOT_CONTEXT, sc), headers, defaultTextMapSetter);
        const c = extract(headers, 'w3c');
        assert.ok(c, headers.traceparent);
        assert.equal(traceIdHex128(c), traceId);
        assert.equal(spanIdHex(c), spanId);
        assert.equal(parentIdHex(c), undefined);
        assert.equal(
          c.flags,
          traceFlags ? TraceFlags.SAMPLED | TraceFlags.DECIDED : TraceFlags.DECIDED,
        );
        if (state !== undefined) assert.equal(c.traceState, sc.traceState?.serialize());
      },
    ),
    { numRuns: 500 },
  );
});

test('w3c: ours and OpenTelemetry agree on which traceparents are valid', () => {
  // Nearly valid values, without whitespace (the two trim differently; both are within the spec).
  const edits = fc.array(
    fc.record({
      at: fc.nat(60),
      ch: fc.constantFrom('-', '0', 'f', 'F', 'g', 'x', '1', ''),
    }),
    { maxLength: 3 },
  );
  const candidates = fc.oneof(
    fc.tuple(contextArb, edits).map(([c, es]) => {
      let s = `00-${traceIdHex128(c)}-${spanIdHex(c)}-0${c.flags & 1}`;
      for (const { at, ch } of es) s = s.slice(0, at) + ch + s.slice(at + 1);
      return s;
    }),
    fc
      .tuple(hex(2), contextArb, fc.stringMatching(/^(-[a-z0-9-]{0,10})?$/))
      .map(([v, c, rest]) => `${v}-${traceIdHex128(c)}-${spanIdHex(c)}-01${rest}`),
  );
  fc.assert(
    fc.property(candidates, (value) => {
      const ours = extract({ traceparent: value }, 'w3c');
      const theirs = otelExtract({ traceparent: value });
      assert.equal(ours !== undefined, theirs !== undefined, value);
      if (ours && theirs) {
        assert.equal(traceIdHex128(ours), theirs.traceId);
        assert.equal(spanIdHex(ours), theirs.spanId);
        assert.equal((ours.flags & TraceFlags.SAMPLED) !== 0, (theirs.traceFlags & 1) === 1);
      }
    }),
    { numRuns: 3000 },
  );
});

// ----- zipkin-js B3

const { Tracer, ExplicitContext, TraceId, option, Instrumentation, Request, HttpHeaders } = zipkin;

function zipkinTracer(): zipkin.Tracer {
  return new Tracer({
    ctxImpl: new ExplicitContext(),
    recorder: { record: () => undefined },
    localServiceName: 'interop',
  });
}

function orUndefined<T>(o: zipkin.option.IOption<T>): T | undefined {
  return o.getOrElse(undefined as unknown as T);
}

/** zipkin-js reads headers through a callback returning options; Node lowercases header names. */
function zipkinReadHeader(headers: Record<string, string>) {
  return <T>(name: string): zipkin.option.IOption<T> => {
    const v = headers[name.toLowerCase()];
    return (v === undefined ? option.None : new option.Some(v)) as zipkin.option.IOption<T>;
  };
}

test('b3: zipkin-js names the same headers', () => {
  assert.deepEqual(
    [
      HttpHeaders.TraceId,
      HttpHeaders.SpanId,
      HttpHeaders.ParentSpanId,
      HttpHeaders.Sampled,
      HttpHeaders.Flags,
    ].map((h) => h.toLowerCase()),
    ['x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags'],
  );
});

test('b3: ours -> zipkin-js HttpServer', () => {
  fc.assert(
    fc.property(contextArb, (c) => {
      const headers: Record<string, string> = {};
      inject(c, headers, 'b3');
      const server = new Instrumentation.HttpServer({ tracer: zipkinTracer(), port: 80 });
      const id = server.recordRequest('GET', 'http://localhost/x', zipkinReadHeader(headers));
      assert.equal(id.traceId, traceIdHex(c));
      assert.equal(id.spanId, spanIdHex(c)); // zipkin-js joins: the server shares the span id
      assert.equal(orUndefined(id.parentSpanId), parentIdHex(c));
      const flags = normalizeFlags(c.flags);
      assert.equal(id.isDebug(), (flags & TraceFlags.DEBUG) !== 0);
      // Undecided: zipkin-js lets its sampler decide (it samples everything by default).
      const sampled = orUndefined(id.sampled);
      if (flags & TraceFlags.DECIDED) assert.equal(sampled, (flags & TraceFlags.SAMPLED) !== 0);
      else assert.equal(sampled, true);
    }),
    { numRuns: 500 },
  );
});

test('b3: zipkin-js Request.addZipkinHeaders -> ours', () => {
  fc.assert(
    fc.property(
      fc.oneof(hex(16), hex(32)),
      hex(16),
      fc.option(hex(16), { nil: undefined }),
      fc.option(fc.boolean(), { nil: undefined }),
      fc.boolean(),
      (traceId, spanId, parentId, sampled, debug) => {
        const id = new TraceId({
          traceId,
          spanId,
          parentId: parentId === undefined ? option.None : new option.Some(parentId),
          sampled: sampled === undefined ? option.None : new option.Some(sampled),
          debug,
        });
        const { headers } = Request.addZipkinHeaders({}, id) as { headers: Record<string, string> };
        const c = extract(headers, 'b3');
        assert.ok(c);
        assert.equal(traceIdHex(c), traceId.replace(/^0{16}/, ''));
        assert.equal(spanIdHex(c), spanId);
        assert.equal(parentIdHex(c), parentId);
        const expected = debug
          ? TraceFlags.DEBUG | TraceFlags.SAMPLED | TraceFlags.DECIDED
          : sampled === undefined
            ? 0
            : sampled
              ? TraceFlags.SAMPLED | TraceFlags.DECIDED
              : TraceFlags.DECIDED;
        assert.equal(c.flags, expected);
      },
    ),
    { numRuns: 500 },
  );
});

test('b3: zipkin-js HttpClient child span -> ours -> zipkin-js HttpServer', () => {
  const tracer = zipkinTracer();
  const client = new Instrumentation.HttpClient({ tracer, remoteServiceName: 'server' });
  const root = tracer.createRootId(new option.Some(true));
  tracer.letId(root, () => {
    const request = client.recordRequest({}, 'http://localhost/x', 'GET') as {
      headers: Record<string, string>;
    };
    const clientId = tracer.id;
    const c = extract(request.headers, 'b3');
    assert.ok(c);
    assert.equal(traceIdHex(c), root.traceId);
    assert.equal(spanIdHex(c), clientId.spanId);
    assert.equal(parentIdHex(c), root.spanId);
    assert.equal(c.flags, TraceFlags.SAMPLED | TraceFlags.DECIDED);
    // And back: our headers for the same context read by zipkin-js's server.
    const ours: Record<string, string> = {};
    inject(c, ours, 'b3');
    const server = new Instrumentation.HttpServer({ tracer: zipkinTracer(), port: 80 });
    const id = server.recordRequest('GET', 'http://localhost/x', zipkinReadHeader(ours));
    assert.equal(id.traceId, root.traceId);
    assert.equal(id.spanId, clientId.spanId);
    assert.equal(orUndefined(id.parentSpanId), root.spanId);
  });
});
