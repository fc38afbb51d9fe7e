import {
  encodeTracesJson,
  encodeZipkinJson,
  normalizeTraceId,
  type DependencyLink,
} from '@blkkin/model';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Store, TraceQuery } from '../store/store.js';

/**
 * Zipkin's v2 query API, with Zipkin's parameters, defaults, status codes and JSON shapes, so that
 * Zipkin's own UI and tools work against blkkin.
 */

export interface ZipkinApiOptions {
  /** Default lookback of /traces and /dependencies, ms (Zipkin: 1 day). */
  defaultLookback: number;
  /** Cache-Control max-age of name lists, seconds (Zipkin: 300). */
  namesMaxAge: number;
  /** What /autocompleteKeys answers (Zipkin: configured, empty by default). */
  autocompleteKeys: readonly string[];
}

/** A query parameter problem: answered 400 with the message as text, as Zipkin does. */
export class BadRequest extends Error {}

type Query = Record<string, string | string[] | undefined>;

function param(query: Query, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[0] : value;
}

function required(query: Query, name: string): string {
  const value = param(query, name);
  if (value === undefined) throw new BadRequest(`Required parameter '${name}' is missing`);
  return value;
}

function integer(query: Query, name: string): number | undefined {
  const value = param(query, name);
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(Number(value))) {
    throw new BadRequest(`${name} must be an integer, not '${value}'`);
  }
  return Number(value);
}

/** Lowercased, with '' and Zipkin's legacy 'all' meaning no filter. */
function nameParam(query: Query, name: string, allMeansAny = false): string | undefined {
  const value = param(query, name)?.trim().toLowerCase();
  if (!value || (allMeansAny && value === 'all')) return undefined;
  return value;
}

/** `http.method=GET and error and cache` → { 'http.method': 'GET', error: '', cache: '' }. */
export function parseAnnotationQuery(text: string | undefined): Record<string, string> | undefined {
  if (!text || !text.trim()) return undefined;
  const out: Record<string, string> = {};
  for (const term of text.split(/\s+and\s+/i)) {
    const trimmed = term.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf('=');
    if (eq === 0) throw new BadRequest(`annotationQuery term '${trimmed}' has no key`);
    if (eq < 0) out[trimmed] = '';
    else out[trimmed.slice(0, eq).trim()] = trimmed.slice(eq + 1).trim();
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Zipkin's QueryRequest rules. */
export function parseTraceQuery(
  query: Query,
  defaultLookback: number,
  now = Date.now(),
): TraceQuery {
  const endTs = integer(query, 'endTs') ?? now;
  const lookback = integer(query, 'lookback') ?? defaultLookback;
  const limit = integer(query, 'limit') ?? 10;
  const minDuration = integer(query, 'minDuration');
  const maxDuration = integer(query, 'maxDuration');
  if (limit <= 0) throw new BadRequest('limit should be greater than zero');
  if (endTs <= 0)
    throw new BadRequest(`endTs should be positive, in epoch milliseconds: was ${endTs}`);
  if (lookback <= 0)
    throw new BadRequest(`lookback should be positive, in milliseconds: was ${lookback}`);
  if (minDuration !== undefined && minDuration <= 0) {
    throw new BadRequest('minDuration must be a positive number of microseconds');
  }
  if (maxDuration !== undefined) {
    if (minDuration === undefined)
      throw new BadRequest('minDuration is required when specifying maxDuration');
    if (maxDuration < minDuration) throw new BadRequest('maxDuration should be >= minDuration');
  }
  const q: TraceQuery = { endTs, lookback, limit };
  const serviceName = nameParam(query, 'serviceName');
  if (serviceName) q.serviceName = serviceName;
  const remoteServiceName = nameParam(query, 'remoteServiceName');
  if (remoteServiceName) q.remoteServiceName = remoteServiceName;
  const spanName = nameParam(query, 'spanName', true);
  if (spanName) q.spanName = spanName;
  const annotationQuery = parseAnnotationQuery(param(query, 'annotationQuery'));
  if (annotationQuery) q.annotationQuery = annotationQuery;
  if (minDuration !== undefined) q.minDuration = minDuration;
  if (maxDuration !== undefined) q.maxDuration = maxDuration;
  return q;
}

function traceIdParam(raw: string): string {
  const id = normalizeTraceId(raw.trim());
  if (typeof id !== 'string') throw new BadRequest(`traceId ${id.error}: ${raw}`);
  return id;
}

function sendJson(reply: FastifyReply, body: string): FastifyReply {
  return reply.code(200).type('application/json').send(body);
}

export function zipkinApi(app: FastifyInstance, store: Store, options: ZipkinApiOptions): void {
  // Like Zipkin, name lists are cached by browsers once the system is in real use (> 3 names).
  let serviceCount = 0;
  const sendNames = (reply: FastifyReply, names: string[], cache: boolean) => {
    if (cache) reply.header('cache-control', `max-age=${options.namesMaxAge}, must-revalidate`);
    return sendJson(reply, JSON.stringify([...names].sort()));
  };
  const q = (req: FastifyRequest) => req.query as Query;

  app.get('/api/v2/services', async (_req, reply) => {
    const names = await store.getServiceNames();
    serviceCount = names.length;
    return sendNames(reply, names, serviceCount > 3);
  });

  app.get('/api/v2/spans', async (req, reply) => {
    const serviceName = required(q(req), 'serviceName').trim().toLowerCase();
    return sendNames(reply, await store.getSpanNames(serviceName), serviceCount > 3);
  });

  app.get('/api/v2/remoteServices', async (req, reply) => {
    const serviceName = required(q(req), 'serviceName').trim().toLowerCase();
    return sendNames(reply, await store.getRemoteServiceNames(serviceName), serviceCount > 3);
  });

  app.get('/api/v2/traces', async (req, reply) => {
    const query = parseTraceQuery(q(req), options.defaultLookback);
    return sendJson(reply, encodeTracesJson(await store.findTraces(query)));
  });

  app.get('/api/v2/trace/:traceId', async (req, reply) => {
    const traceId = traceIdParam((req.params as { traceId: string }).traceId);
    const spans = await store.getTrace(traceId);
    if (spans.length === 0) return reply.code(404).type('text/plain').send(`${traceId} not found`);
    return sendJson(reply, encodeZipkinJson(spans));
  });

  app.get('/api/v2/traceMany', async (req, reply) => {
    const raw = required(q(req), 'traceIds');
    if (raw === '') throw new BadRequest('traceIds parameter is empty');
    const ids = new Set<string>();
    for (const part of raw.split(',', 1000)) {
      const id = traceIdParam(part);
      if (ids.has(id)) throw new BadRequest(`redundant traceId: ${part}`);
      ids.add(id);
    }
    if (ids.size === 1) {
      throw new BadRequest('Use /api/v2/trace/{traceId} endpoint to retrieve a single trace');
    }
    return sendJson(reply, encodeTracesJson(await store.getTraces([...ids])));
  });

  app.get('/api/v2/dependencies', async (req, reply) => {
    const endTs = integer(q(req), 'endTs');
    if (endTs === undefined) throw new BadRequest("Required parameter 'endTs' is missing");
    const lookback = integer(q(req), 'lookback') ?? options.defaultLookback;
    if (endTs <= 0)
      throw new BadRequest(`endTs should be positive, in epoch milliseconds: was ${endTs}`);
    if (lookback <= 0)
      throw new BadRequest(`lookback should be positive, in milliseconds: was ${lookback}`);
    const links = await store.getDependencies(endTs, lookback);
    return sendJson(reply, JSON.stringify(links.map(dependencyJson)));
  });

  app.get('/api/v2/autocompleteKeys', async (_req, reply) =>
    sendNames(reply, [...options.autocompleteKeys], true),
  );

  app.get('/api/v2/autocompleteValues', async (req, reply) => {
    const key = required(q(req), 'key');
    const values = await store.getTagValues(key);
    return sendNames(reply, values, values.length > 3);
  });
}

/** Zipkin's field order; errorCount only when non-zero. */
function dependencyJson(link: DependencyLink): DependencyLink {
  const out: DependencyLink = { parent: link.parent, child: link.child, callCount: link.callCount };
  if (link.errorCount) out.errorCount = link.errorCount;
  return out;
}
