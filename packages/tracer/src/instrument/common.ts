/** Pieces shared by the http and fetch instrumentations. */
import { isIP } from 'node:net';
import type { Level } from '../levels.js';
import type { Endpoint } from '../options.js';
import type { FormatSpec } from '../propagation/index.js';

/** Options common to every automatic instrumentation. */
export interface InstrumentationOptions {
  /**
   * Header formats: read on incoming requests, written on outgoing ones. 'w3c' (traceparent,
   * tracestate), 'b3' (X-B3-* written; b3 and X-B3-* read), 'b3-single', 'b3-multi', 'both'
   * (W3C and B3 written, W3C read first), or a list. Default 'both'.
   */
  propagation?: FormatSpec;
  /** The level of the spans made (default: the tracer's default, info). */
  level?: Level;
  /**
   * The remote service name of an outgoing call, from the host it goes to (default: the host name
   * when it is not an IP address, else none).
   */
  remoteServiceName?: (host: string, port: number | undefined) => string | undefined;
}

let suppressed = 0;

/**
 * Runs `fn` with automatic instrumentation off for the calls it makes synchronously (an
 * exporter's own requests, a health check): http.request/get and fetch called inside start no span
 * and inject no headers.
 */
export function suppressInstrumentation<R>(fn: () => R): R {
  suppressed++;
  try {
    return fn();
  } finally {
    suppressed--;
  }
}

/** True inside suppressInstrumentation. */
export function isSuppressed(): boolean {
  return suppressed > 0;
}

/**
 * True for the path of a span collector's endpoint (Zipkin's /api/v2/spans, OTLP's /v1/traces):
 * export traffic is never traced, or every export would make a span to export.
 */
export function isCollectorPath(path: string): boolean {
  const p = pathOf(path);
  return /\/api\/v2\/spans\/?$/.test(p) || /\/v1\/traces\/?$/.test(p);
}

/** Strips brackets from an IPv6 literal and IPv4-mapped prefixes. */
function bareHost(host: string): string {
  let h = host;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.toLowerCase().startsWith('::ffff:') && isIP(h.slice(7)) === 4) h = h.slice(7);
  return h;
}

/** An endpoint from an address (IP or host name) and a port. */
export function endpointOf(
  address: string | undefined,
  port: number | undefined,
  serviceName?: string,
): Endpoint {
  const endpoint: Endpoint = {};
  if (serviceName !== undefined && serviceName !== '') endpoint.serviceName = serviceName;
  if (address !== undefined && address !== '') {
    const host = bareHost(address);
    const family = isIP(host);
    if (family === 4) endpoint.ipv4 = host;
    else if (family === 6) endpoint.ipv6 = host;
  }
  if (port !== undefined && Number.isInteger(port) && port > 0 && port < 65536)
    endpoint.port = port;
  return endpoint;
}

/** The remote endpoint of an outgoing call to host:port. */
export function remoteOf(
  host: string,
  port: number | undefined,
  name: InstrumentationOptions['remoteServiceName'],
): Endpoint {
  const bare = bareHost(host);
  let service: string | undefined;
  if (name !== undefined) {
    try {
      service = name(bare, port);
    } catch {
      service = undefined;
    }
  } else if (isIP(bare) === 0) service = bare;
  return endpointOf(bare, port, service);
}

/** The path of a request target, without the query string. */
export function pathOf(target: string | undefined): string {
  if (target === undefined || target === '') return '/';
  if (target.charCodeAt(0) !== 47) {
    // Absolute form (proxies) or '*'.
    try {
      return new URL(target).pathname;
    } catch {
      return target;
    }
  }
  const q = target.indexOf('?');
  const h = target.indexOf('#');
  const end = q < 0 ? h : h < 0 ? q : Math.min(q, h);
  return end < 0 ? target : target.slice(0, end);
}

/** A short description of a thrown value, for the `error` tag. */
export function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' && !err.message.includes(code)
      ? `${code}: ${err.message}`
      : err.message || err.name;
  }
  try {
    return String(err);
  } catch {
    return 'error';
  }
}
