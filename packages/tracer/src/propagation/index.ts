/**
 * Context propagation: header formats (W3C trace context, B3 single and multi), a compact binary
 * form for custom protocols, and BlkKin's 24-byte packed trace info.
 *
 * Extracted contexts describe the remote caller's span: start the local span with the extracted
 * context as its parent, and the remote span id becomes the local span's parent id. B3's "shared
 * span" (a server reusing its client's span id) is not done: a server always records its own span.
 */
import type { SpanContext } from '../context.js';
import type { HeaderCarrier, HeaderGetter, HeaderSetter } from './carrier.js';
import type { TextFormat } from './format.js';
import { w3c } from './w3c.js';
import { b3, b3Multi, b3Single } from './b3.js';

export type { TextFormat } from './format.js';
export {
  defaultGetter,
  defaultSetter,
  nodeHeadersGetter,
  type HeaderCarrier,
  type HeaderGetter,
  type HeaderSetter,
} from './carrier.js';
export {
  w3c,
  formatTraceparent,
  parseTraceparent,
  normalizeTracestate,
  TRACEPARENT,
  TRACESTATE,
  TRACESTATE_MAX_LENGTH,
  TRACESTATE_MAX_MEMBERS,
} from './w3c.js';
export {
  b3,
  b3Single,
  b3Multi,
  formatB3Single,
  parseB3Single,
  B3,
  X_B3_TRACE_ID,
  X_B3_SPAN_ID,
  X_B3_PARENT_SPAN_ID,
  X_B3_SAMPLED,
  X_B3_FLAGS,
} from './b3.js';
export {
  encodeBinaryContext,
  writeBinaryContext,
  decodeBinaryContext,
  BINARY_CONTEXT_LENGTH,
  BINARY_CONTEXT_VERSION,
  type BinaryContext,
} from './binary.js';
export {
  encodeBlkinTraceInfo,
  writeBlkinTraceInfo,
  decodeBlkinTraceInfo,
  toBlkinTraceInfo,
  fromBlkinTraceInfo,
  BLKIN_TRACE_INFO_LENGTH,
  type BlkinTraceInfo,
} from './blkin.js';
export { hasIds, normalizeFlags } from './ids.js';

/**
 * Header formats by name: 'w3c'; 'b3' (writes X-B3-*, reads b3 and X-B3-*); 'b3-single' (writes
 * `b3`); 'b3-multi'; 'both' (writes traceparent/tracestate and X-B3-*, reads W3C first, then B3).
 */
export type FormatName = 'w3c' | 'b3' | 'b3-single' | 'b3-multi' | 'both';

/** A format by name, a format object, or a list of them (see {@link compositeFormat}). */
export type FormatSpec = FormatName | TextFormat | readonly (FormatName | TextFormat)[];

/**
 * Several formats as one: injects every one of them; extracts with the first that finds a
 * context (so list the preferred one first); a sampling-only decision from the first that has one.
 */
export function compositeFormat(formats: readonly TextFormat[]): TextFormat {
  const list = [...formats];
  const fields = [...new Set(list.flatMap((f) => f.fields))];
  return {
    name: list.map((f) => f.name).join('+'),
    fields,
    inject(ctx: SpanContext, carrier: HeaderCarrier, setter?: HeaderSetter): void {
      for (const f of list) f.inject(ctx, carrier, setter);
    },
    extract(carrier: HeaderCarrier, getter?: HeaderGetter): SpanContext | undefined {
      for (const f of list) {
        const ctx = f.extract(carrier, getter);
        if (ctx !== undefined) return ctx;
      }
      return undefined;
    },
    extractSampling(carrier: HeaderCarrier, getter?: HeaderGetter): number | undefined {
      for (const f of list) {
        const flags = f.extractSampling?.(carrier, getter);
        if (flags !== undefined) return flags;
      }
      return undefined;
    },
  };
}

const both = compositeFormat([w3c, b3]);
const BY_NAME: Record<FormatName, TextFormat> = {
  w3c,
  b3,
  'b3-single': b3Single,
  'b3-multi': b3Multi,
  both,
};

/** Resolves a {@link FormatSpec}; throws a TypeError for an unknown name (a configuration error). */
export function textFormat(spec: FormatSpec): TextFormat {
  if (typeof spec === 'string') {
    const f = Object.prototype.hasOwnProperty.call(BY_NAME, spec)
      ? BY_NAME[spec as FormatName]
      : undefined;
    if (f === undefined) throw new TypeError(`unknown propagation format: ${String(spec)}`);
    return f;
  }
  if (Array.isArray(spec)) {
    const formats = (spec as readonly (FormatName | TextFormat)[]).map((s) => textFormat(s));
    return formats.length === 1 ? formats[0]! : compositeFormat(formats);
  }
  return spec as TextFormat;
}

function resolve(spec: FormatSpec): TextFormat | undefined {
  if (typeof spec === 'string')
    return Object.prototype.hasOwnProperty.call(BY_NAME, spec)
      ? BY_NAME[spec as FormatName]
      : undefined;
  try {
    return textFormat(spec);
  } catch {
    return undefined;
  }
}

/**
 * Writes `ctx` into a header carrier (plain object, `Headers`, `Map`, Node outgoing message) in
 * the given format (default 'w3c'). Never throws.
 */
export function inject(
  ctx: SpanContext,
  carrier: HeaderCarrier,
  format: FormatSpec = 'w3c',
  setter?: HeaderSetter,
): void {
  resolve(format)?.inject(ctx, carrier, setter);
}

/**
 * Reads the remote caller's span context from a header carrier (case-insensitive names); undefined
 * when absent or invalid. Never throws.
 */
export function extract(
  carrier: HeaderCarrier,
  format: FormatSpec = 'w3c',
  getter?: HeaderGetter,
): SpanContext | undefined {
  return resolve(format)?.extract(carrier, getter);
}

/**
 * A sampling decision that a carrier holds without ids (B3 `b3: 0|1|d`, X-B3-Sampled/X-B3-Flags
 * alone), as TraceFlags; undefined when none. Use it when {@link extract} found nothing: a new root
 * trace should follow the decision.
 */
export function extractSampling(
  carrier: HeaderCarrier,
  format: FormatSpec = 'w3c',
  getter?: HeaderGetter,
): number | undefined {
  return resolve(format)?.extractSampling?.(carrier, getter);
}

/**
 * The parent for a local span started from a carrier: the extracted context; else, when the
 * carrier holds only a sampling decision, a context of zero ids with that decision (the tracer
 * starts a new trace that follows it); else undefined. Never throws.
 *
 *   tracer.startSpan('get', { kind: 'SERVER', parent: extractParent(req.headers, 'both') ?? null })
 */
export function extractParent(
  carrier: HeaderCarrier,
  format: FormatSpec = 'w3c',
  getter?: HeaderGetter,
): SpanContext | undefined {
  const f = resolve(format);
  if (f === undefined) return undefined;
  const ctx = f.extract(carrier, getter);
  if (ctx !== undefined) return ctx;
  const flags = f.extractSampling?.(carrier, getter);
  return flags === undefined ? undefined : samplingContext(flags);
}

/** A context of zero ids carrying only a sampling decision (TraceFlags). */
export function samplingContext(flags: number): SpanContext {
  return { t0: 0, t1: 0, t2: 0, t3: 0, s0: 0, s1: 0, p0: 0, p1: 0, flags };
}
