/**
 * Opt-in instrumentation of the global `fetch`: a CLIENT span per call, a child of the active span,
 * its context injected into the request headers (the caller's Request and init are left untouched:
 * the headers are copied). The span ends when the response headers arrive (fetch resolves) or the
 * call fails; reading the body is not part of it.
 */
import type { Tracer } from '../tracer.js';
import { textFormat } from '../propagation/index.js';
import type { Instrumentation } from './http.js';
import {
  errorText,
  isCollectorPath,
  isSuppressed,
  pathOf,
  remoteOf,
  type InstrumentationOptions,
} from './common.js';

/** An outgoing fetch as the instrumentation sees it. */
export interface FetchRequestInfo {
  method: string;
  url: URL;
}

export interface FetchInstrumentationOptions extends InstrumentationOptions {
  /** Calls to leave alone. */
  ignoreOutgoing?: (request: FetchRequestInfo) => boolean;
  /** The name of a client span (default: the method, e.g. 'GET'). */
  clientSpanName?: (request: FetchRequestInfo) => string;
}

type Fetch = typeof globalThis.fetch;

/**
 * Replaces `globalThis.fetch` with an instrumented one. Returns `uninstall()`, which puts the
 * original back (or, when something wrapped fetch after us, switches our wrapper off).
 */
export function instrumentFetch(
  tracer: Tracer,
  options: FetchInstrumentationOptions = {},
): Instrumentation {
  const original = globalThis.fetch;
  if (typeof original !== 'function') return { uninstall: () => undefined };
  const format = textFormat(options.propagation ?? 'both');
  let active = true;

  const fetch = function fetch(
    input: Parameters<Fetch>[0],
    init?: Parameters<Fetch>[1],
  ): Promise<Response> {
    if (!active || isSuppressed()) return original(input, init);
    let span;
    let traced: RequestInit;
    try {
      const request = input instanceof Request ? input : undefined;
      const url = new URL(request !== undefined ? request.url : String(input));
      const method = String(init?.method ?? request?.method ?? 'GET').toUpperCase();
      const info: FetchRequestInfo = { method, url };
      if (isCollectorPath(url.pathname)) return original(input, init);
      if (options.ignoreOutgoing !== undefined && options.ignoreOutgoing(info))
        return original(input, init);
      const name = options.clientSpanName !== undefined ? options.clientSpanName(info) : method;
      span = tracer.startSpan(name, {
        kind: 'CLIENT',
        ...(options.level !== undefined ? { level: options.level } : {}),
      });
      const headers = new Headers(init?.headers ?? request?.headers);
      format.inject(span.context, headers);
      traced = { ...init, headers };
      if (span.isRecording) {
        span.tag('http.method', method);
        span.tag('http.path', pathOf(url.pathname));
        const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
        span.setRemote(remoteOf(url.hostname, port, options.remoteServiceName));
      }
    } catch {
      // What fetch itself will reject (a bad URL, bad headers) or a throwing option.
      if (span?.isRecording) span.end();
      return original(input, init);
    }
    const pending = original(input, traced);
    if (!span.isRecording) return pending;
    const s = span;
    return pending.then(
      (response) => {
        s.tag('http.status_code', response.status);
        if (response.status >= 400) s.tag('error', String(response.status));
        s.end();
        return response;
      },
      (err: unknown) => {
        // fetch's own error is a bare "fetch failed": the reason is its cause.
        const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
        s.tag('error', errorText(cause));
        s.end();
        throw err;
      },
    );
  } as Fetch;

  globalThis.fetch = fetch;
  return {
    uninstall(): void {
      if (!active) return;
      active = false;
      if (globalThis.fetch === fetch) globalThis.fetch = original;
    },
  };
}
