/**
 * Opt-in instrumentation of node:http and node:https: server spans for incoming requests, client
 * spans for outgoing ones, context extracted from and injected into headers.
 *
 * Servers: `http.Server.prototype.emit` and `https.Server.prototype.emit` are wrapped, so servers
 * created before or after installing are covered. For each 'request' (and 'checkContinue'), the
 * context is extracted from the headers, a SERVER span started as its child (or a new trace), and
 * the listeners run inside `tracer.withSpan(span, ...)`: spans started while handling the request,
 * outgoing calls included, are its children. The span ends when the response finishes, or when
 * the connection closes first (tagged `error`).
 *
 * Clients: `http.request`, `http.get`, `https.request`, `https.get` are wrapped (and the named ESM
 * exports synchronised), starting a CLIENT span as a child of the active span, injecting its
 * context into the request headers, and ending it when the response ends, the request errors or
 * closes. The wrapper changes nothing else: no listener is added that would change Node's
 * behaviour (a response nobody listens to is still dumped, an unhandled 'error' still throws).
 */
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import type { SpanContext } from '../context.js';
import type { Span, Tracer } from '../tracer.js';
import {
  extractParent,
  nodeHeadersGetter,
  textFormat,
  type TextFormat,
} from '../propagation/index.js';
import {
  endpointOf,
  errorText,
  isCollectorPath,
  isSuppressed,
  pathOf,
  remoteOf,
  type InstrumentationOptions,
} from './common.js';

/** An outgoing request as the client instrumentation sees it. */
export interface OutgoingRequestInfo {
  method: string;
  protocol: 'http:' | 'https:';
  host: string;
  port: number | undefined;
  /** Path and query, as sent. */
  path: string;
}

export interface HttpInstrumentationOptions extends InstrumentationOptions {
  /** Instrument servers (default true). */
  server?: boolean;
  /** Instrument clients (default true). */
  client?: boolean;
  /** Instrument node:https as well as node:http (default true). */
  https?: boolean;
  /** Incoming requests to leave alone (health checks...). */
  ignoreIncoming?: (req: IncomingMessage) => boolean;
  /** Outgoing requests to leave alone. */
  ignoreOutgoing?: (request: OutgoingRequestInfo) => boolean;
  /** The name of a server span (default: the method, e.g. 'GET'). */
  serverSpanName?: (req: IncomingMessage) => string;
  /** The name of a client span (default: the method). */
  clientSpanName?: (request: OutgoingRequestInfo) => string;
}

/** What every instrument* function returns. */
export interface Instrumentation {
  /** Restores the originals (idempotent). Instrumented calls already in flight finish normally. */
  uninstall(): void;
}

type AnyFn = (...args: unknown[]) => unknown;

interface State {
  active: boolean;
  tracer: Tracer;
  format: TextFormat;
  options: HttpInstrumentationOptions;
}

// ----- servers

function startServerSpan(state: State, req: IncomingMessage, res: ServerResponse): Span {
  const { tracer, format, options } = state;
  let parent: SpanContext | null = null;
  parent = extractParent(req.headers, format, nodeHeadersGetter) ?? null;
  const method = typeof req.method === 'string' ? req.method : 'GET';
  let name = method;
  if (options.serverSpanName !== undefined) {
    try {
      name = options.serverSpanName(req);
    } catch {
      name = method;
    }
  }
  const span = tracer.startSpan(name, {
    parent,
    kind: 'SERVER',
    ...(options.level !== undefined ? { level: options.level } : {}),
  });
  if (!span.isRecording) return span;
  span.tag('http.method', method);
  span.tag('http.path', pathOf(req.url));
  const socket = req.socket;
  if (socket !== undefined && socket !== null)
    span.setRemote(endpointOf(socket.remoteAddress, socket.remotePort));
  const finish = (): void => {
    if (!span.isRecording) return;
    const status = res.statusCode;
    span.tag('http.status_code', status);
    if (status >= 500) span.tag('error', String(status));
    span.end();
  };
  res.once('finish', finish);
  res.once('close', () => {
    if (!span.isRecording) return;
    if (!res.writableFinished) {
      if (res.headersSent) span.tag('http.status_code', res.statusCode);
      span.tag('error', 'connection closed before the response finished');
      span.end();
    } else finish();
  });
  return span;
}

function wrapServerEmit(original: AnyFn, state: State): AnyFn {
  return function emit(this: unknown, event: unknown): unknown {
    // eslint-disable-next-line prefer-rest-params
    const args = arguments;
    if ((event !== 'request' && event !== 'checkContinue') || !state.active)
      return Reflect.apply(original, this, args);
    const req = args[1] as IncomingMessage;
    const res = args[2] as ServerResponse;
    let span: Span | undefined;
    try {
      if (state.options.ignoreIncoming === undefined || !state.options.ignoreIncoming(req))
        span = startServerSpan(state, req, res);
    } catch {
      span = undefined;
    }
    if (span === undefined) return Reflect.apply(original, this, args);
    try {
      return state.tracer.withSpan(span, () => Reflect.apply(original, this, args));
    } catch (err) {
      if (span.isRecording) {
        span.tag('error', errorText(err));
        span.end();
      }
      throw err;
    }
  };
}

// ----- clients

function portOf(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 && n < 65536 ? n : undefined;
}

/** Reads Node's request(url?, options?, callback?) arguments the way Node does. */
function describe(args: ArrayLike<unknown>, protocol: 'http:' | 'https:'): OutgoingRequestInfo {
  let url: URL | undefined;
  let options: Record<string, unknown> | undefined;
  const a0 = args[0];
  if (typeof a0 === 'string') url = new URL(a0);
  else if (a0 instanceof URL) url = a0;
  else if (a0 !== null && typeof a0 === 'object') options = a0 as Record<string, unknown>;
  const a1 = args[1];
  if (url !== undefined && a1 !== null && typeof a1 === 'object')
    options = a1 as Record<string, unknown>;
  const o = options ?? {};
  const method = typeof o.method === 'string' ? o.method.toUpperCase() : 'GET';
  const proto = o.protocol === 'http:' || o.protocol === 'https:' ? o.protocol : protocol;
  const host =
    (typeof o.hostname === 'string' && o.hostname) ||
    (typeof o.host === 'string' && o.host) ||
    (url !== undefined && url.hostname) ||
    'localhost';
  const agent = o.agent as { defaultPort?: unknown } | undefined | false;
  const port =
    portOf(o.port) ??
    (url !== undefined && url.port !== '' ? portOf(url.port) : undefined) ??
    portOf(o.defaultPort) ??
    (agent ? portOf(agent.defaultPort) : undefined) ??
    (proto === 'https:' ? 443 : 80);
  const path =
    typeof o.path === 'string' ? o.path : url !== undefined ? url.pathname + url.search : '/';
  return { method, protocol: proto, host, port, path };
}

function traceClient(state: State, req: ClientRequest, span: Span): void {
  let responded = false;
  let failed = false;
  const finish = (): void => {
    if (!span.isRecording) return;
    if (!responded && !failed) span.tag('error', 'closed without a response');
    span.end();
  };
  const onResponse = (res: IncomingMessage): void => {
    responded = true;
    const status = res.statusCode ?? 0;
    span.tag('http.status_code', status);
    if (status >= 400) span.tag('error', String(status));
    res.once('end', finish);
  };
  const emit = req.emit as AnyFn;
  // An own emit, so that no listener is added: Node dumps a response nobody listens to and throws
  // an 'error' nobody handles, and both must stay so.
  (req as unknown as { emit: AnyFn }).emit = function (this: unknown, event: unknown): unknown {
    // eslint-disable-next-line prefer-rest-params
    const args = arguments;
    if (span.isRecording) {
      try {
        if (event === 'response') onResponse(args[1] as IncomingMessage);
        else if (event === 'error') {
          failed = true;
          span.tag('error', errorText(args[1]));
          span.end();
        } else if (event === 'close') finish();
      } catch {
        // never into the application
      }
    }
    return Reflect.apply(emit, this, args);
  };
}

function wrapRequest(original: AnyFn, protocol: 'http:' | 'https:', state: State): AnyFn {
  return function request(this: unknown): unknown {
    // eslint-disable-next-line prefer-rest-params
    const args = arguments;
    if (!state.active || isSuppressed()) return Reflect.apply(original, this, args);
    const { tracer, format, options } = state;
    let info: OutgoingRequestInfo;
    let span: Span;
    try {
      info = describe(args, protocol);
      if (isCollectorPath(info.path)) return Reflect.apply(original, this, args);
      if (options.ignoreOutgoing !== undefined && options.ignoreOutgoing(info))
        return Reflect.apply(original, this, args);
      let name = info.method;
      if (options.clientSpanName !== undefined) name = options.clientSpanName(info);
      span = tracer.startSpan(name, {
        kind: 'CLIENT',
        ...(options.level !== undefined ? { level: options.level } : {}),
      });
    } catch {
      // Arguments Node itself will reject, or a throwing option: leave the call alone.
      return Reflect.apply(original, this, args);
    }
    let req: ClientRequest;
    try {
      req = Reflect.apply(original, this, args) as ClientRequest;
    } catch (err) {
      if (span.isRecording) {
        span.tag('error', errorText(err));
        span.end();
      }
      throw err;
    }
    format.inject(span.context, req);
    if (span.isRecording) {
      try {
        span.tag('http.method', info.method);
        span.tag('http.path', pathOf(info.path));
        span.setRemote(remoteOf(info.host, info.port, options.remoteServiceName));
        traceClient(state, req, span);
      } catch {
        // never into the application
      }
    }
    return req;
  };
}

function wrapGet(original: AnyFn, tracedRequest: AnyFn, state: State): AnyFn {
  return function get(this: unknown): unknown {
    // eslint-disable-next-line prefer-rest-params
    const args = arguments;
    if (!state.active || isSuppressed()) return Reflect.apply(original, this, args);
    const req = Reflect.apply(tracedRequest, this, args) as ClientRequest;
    req.end();
    return req;
  };
}

// ----- install / uninstall

interface Patch {
  target: object;
  key: string;
  previous: PropertyDescriptor | undefined;
  wrapper: unknown;
}

function patch(patches: Patch[], target: object, key: string, wrap: (f: AnyFn) => AnyFn): void {
  const previous = Object.getOwnPropertyDescriptor(target, key);
  const current = (target as Record<string, unknown>)[key];
  if (typeof current !== 'function') return;
  const wrapper = wrap(current as AnyFn);
  Object.defineProperty(target, key, {
    value: wrapper,
    writable: true,
    configurable: true,
    enumerable: previous?.enumerable ?? false,
  });
  patches.push({ target, key, previous, wrapper });
}

/**
 * Instruments node:http and node:https servers and clients. Returns `uninstall()`, which restores
 * the originals (a wrapper that something else wrapped in turn is switched off instead).
 */
export function instrumentHttp(
  tracer: Tracer,
  options: HttpInstrumentationOptions = {},
): Instrumentation {
  const state: State = {
    active: true,
    tracer,
    format: textFormat(options.propagation ?? 'both'),
    options,
  };
  const patches: Patch[] = [];
  const withHttps = options.https !== false;
  if (options.server !== false) {
    const wrap = (f: AnyFn): AnyFn => wrapServerEmit(f, state);
    patch(patches, http.Server.prototype, 'emit', wrap);
    if (withHttps) patch(patches, https.Server.prototype, 'emit', wrap);
  }
  if (options.client !== false) {
    const modules: [object, 'http:' | 'https:'][] = [[http, 'http:']];
    if (withHttps) modules.push([https, 'https:']);
    for (const [module, protocol] of modules) {
      const request = (module as Record<string, unknown>).request;
      if (typeof request !== 'function') continue;
      const traced = wrapRequest(request as AnyFn, protocol, state);
      patch(patches, module, 'request', () => traced);
      // Node's get() calls its module's own request() and then end(), which sends the headers:
      // they must be in by then, so get is request (traced) + end, as Node documents it.
      patch(patches, module, 'get', (original) => wrapGet(original, traced, state));
    }
    syncBuiltinESMExports();
  }
  return {
    uninstall(): void {
      if (!state.active) return;
      state.active = false;
      for (const p of patches.reverse()) {
        if ((p.target as Record<string, unknown>)[p.key] !== p.wrapper) continue;
        if (p.previous === undefined) delete (p.target as Record<string, unknown>)[p.key];
        else Object.defineProperty(p.target, p.key, p.previous);
      }
      syncBuiltinESMExports();
    },
  };
}
