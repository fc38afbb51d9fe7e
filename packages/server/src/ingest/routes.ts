import { InvalidSpanError, type Span, type SpanLimits } from '@blkkin/model';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import type { ServerMetrics } from '../metrics.js';
import { FORMATS, Format, type FormatCode } from './formats.js';
import type { IngestPipeline } from './pipeline.js';

/**
 * The ingest endpoints: Zipkin's POST /api/v2/spans (JSON, proto3) and OTLP/HTTP's POST
 * /v1/traces (protobuf, JSON), gzip or deflate accepted. A batch is accepted whole or not at all.
 */

export interface IngestOptions {
  limits: SpanLimits;
  /** Largest body, compressed or not (bytes). */
  maxBodyBytes: number;
  /** Seconds to tell an overloaded client to wait. */
  retryAfterSeconds: number;
}

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** A refusal: status, stable reason for metrics, and the message the client reads. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

type Protocol = 'zipkin' | 'otlp';

function mediaType(req: FastifyRequest): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

function formatOf(protocol: Protocol, type: string, body: Buffer): FormatCode {
  const isProto = type === 'application/x-protobuf' || type === 'application/protobuf';
  const isJson = type === 'application/json' || type.endsWith('+json');
  if (protocol === 'otlp') {
    if (isProto) return Format.OtlpProtobuf;
    if (isJson) return Format.OtlpJson;
    throw new Refusal(
      415,
      'unsupported_media_type',
      `unsupported content-type '${type}': send application/x-protobuf or application/json`,
    );
  }
  if (isProto) return Format.ZipkinProto3;
  if (isJson) return Format.ZipkinJson;
  if (type === '' || type === 'application/octet-stream' || type === 'text/plain') {
    // Zipkin detects the encoding when the type doesn't say: a JSON list starts with '['.
    const first = body.find((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09);
    return first === 0x5b ? Format.ZipkinJson : Format.ZipkinProto3;
  }
  throw new Refusal(
    415,
    'unsupported_media_type',
    `unsupported content-type '${type}': send application/json or application/x-protobuf`,
  );
}

async function decompress(req: FastifyRequest, body: Buffer, maxBytes: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body;
  if (encoding !== 'gzip' && encoding !== 'deflate') {
    throw new Refusal(
      415,
      'unsupported_encoding',
      `unsupported content-encoding '${encoding}': send gzip, deflate or identity`,
    );
  }
  try {
    const inflater = encoding === 'gzip' ? gunzipAsync : inflateAsync;
    return await inflater(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if (
      err instanceof RangeError ||
      (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
    ) {
      throw new Refusal(
        413,
        'too_large',
        `decompressed body is larger than the limit of ${maxBytes} bytes: send smaller batches`,
      );
    }
    throw new Refusal(400, 'malformed', `body is not valid ${encoding}: ${(err as Error).message}`);
  }
}

/** An OTLP error body: google.rpc.Status { code = 1, message = 2 } in the request's encoding. */
function otlpStatus(
  format: FormatCode | undefined,
  code: number,
  message: string,
): { type: string; body: Buffer | string } {
  if (format === Format.OtlpProtobuf) {
    const text = Buffer.from(message, 'utf8');
    const parts: number[] = [0x08, code, 0x12];
    let n = text.length;
    while (n > 0x7f) {
      parts.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    parts.push(n);
    return { type: 'application/x-protobuf', body: Buffer.concat([Buffer.from(parts), text]) };
  }
  return { type: 'application/json', body: JSON.stringify({ code, message }) };
}

export function ingestRoutes(
  app: FastifyInstance,
  pipeline: IngestPipeline,
  metrics: ServerMetrics,
  options: IngestOptions,
): void {
  const handle = async (protocol: Protocol, req: FastifyRequest, reply: FastifyReply) => {
    let format: FormatCode | undefined;
    let transport: string = protocol;
    try {
      const raw = req.body;
      if (!Buffer.isBuffer(raw))
        throw new Refusal(400, 'malformed', 'request body is empty: send a list of spans');
      const body = await decompress(req, raw, options.maxBodyBytes);
      format = formatOf(protocol, mediaType(req), body);
      transport = FORMATS[format].transport;
      metrics.batchesReceived.inc({ transport });
      let spans: Span[];
      try {
        spans = FORMATS[format].decode(body, options.limits);
      } catch (err) {
        if (err instanceof InvalidSpanError) {
          throw new Refusal(err.reason === 'too_large' ? 413 : 400, err.reason, err.message);
        }
        throw err;
      }
      metrics.spansReceived.inc({ transport }, spans.length);
      if (!pipeline.admit(spans.length)) {
        reply.header('retry-after', String(options.retryAfterSeconds));
        throw new Refusal(
          503,
          'overloaded',
          `the store is behind (${pipeline.backlog} spans queued): retry after ${options.retryAfterSeconds} s`,
        );
      }
      if (spans.length > 0) await pipeline.accept(spans, format, body);
      metrics.spansAccepted.inc({ transport }, spans.length);
      if (protocol === 'zipkin') return reply.code(202).send();
      // ExportTraceServiceResponse with nothing rejected: an empty message.
      return format === Format.OtlpProtobuf
        ? reply.code(200).type('application/x-protobuf').send(Buffer.alloc(0))
        : reply.code(200).type('application/json').send('{}');
    } catch (err) {
      const refusal =
        err instanceof Refusal
          ? err
          : new Refusal(
              500,
              'internal',
              `could not accept the batch: ${(err as Error).message}; retry later`,
            );
      metrics.batchesRejected.inc({ transport, reason: refusal.reason });
      if (refusal.status >= 500) reply.header('retry-after', String(options.retryAfterSeconds));
      if (refusal.reason === 'internal') req.log.error({ err }, 'ingest failed');
      reply.code(refusal.status);
      if (protocol === 'otlp') {
        // gRPC codes: INVALID_ARGUMENT 3, RESOURCE_EXHAUSTED 8, UNAVAILABLE 14, INTERNAL 13.
        const code =
          refusal.status === 400
            ? 3
            : refusal.status === 413
              ? 8
              : refusal.status === 503
                ? 14
                : 13;
        const { type, body } = otlpStatus(format, code, refusal.message);
        return reply.type(type).send(body);
      }
      return reply.type('text/plain; charset=utf-8').send(refusal.message);
    }
  };

  app.post('/api/v2/spans', (req, reply) => handle('zipkin', req, reply));
  app.post('/v1/traces', (req, reply) => handle('otlp', req, reply));
}
