/**
 * B3 propagation (https://github.com/openzipkin/b3-propagation), single and multiple headers.
 *
 *   b3: {TraceId:16|32}-{SpanId:16}[-{SamplingState}[-{ParentSpanId:16}]]   or   b3: {SamplingState}
 *   SamplingState: 1 (accept), 0 (deny), d (debug)
 *
 *   X-B3-TraceId: 16 or 32 hex     X-B3-SpanId: 16 hex     X-B3-ParentSpanId: 16 hex
 *   X-B3-Sampled: 1 | 0 (true | false accepted)            X-B3-Flags: 1 (debug)
 *
 * Written: lowercase hex, the trace id as 16 digits when its high half is zero; debug as `d` /
 * `X-B3-Flags: 1` alone (debug implies accept); no sampling state when the context is undecided;
 * only the sampling state (`b3: 0`, `X-B3-Sampled: 0`) for a context without ids (the tracer's
 * unsampled new trace).
 * Read: the single header strictly (16 or 32 digits, 16 for span ids, as the specification says);
 * the multi headers leniently (1–32 and 1–16 hex digits, either case: older tracers drop leading
 * zeros); an unknown X-B3-Sampled value counts as no decision.
 */
import { TraceFlags, parentIdHex, spanIdHex, traceIdHex, type SpanContext } from '../context.js';
import {
  defaultGetter,
  defaultSetter,
  headerString,
  trimOws,
  type HeaderCarrier,
  type HeaderGetter,
  type HeaderSetter,
} from './carrier.js';
import type { TextFormat } from './format.js';
import { hasIds, isHex, isLowerHex, isZeros, wordAt, wordsAt } from './ids.js';

export const B3 = 'b3';
export const X_B3_TRACE_ID = 'x-b3-traceid';
export const X_B3_SPAN_ID = 'x-b3-spanid';
export const X_B3_PARENT_SPAN_ID = 'x-b3-parentspanid';
export const X_B3_SAMPLED = 'x-b3-sampled';
export const X_B3_FLAGS = 'x-b3-flags';

const DEBUG = TraceFlags.DEBUG | TraceFlags.SAMPLED | TraceFlags.DECIDED;
const ACCEPT = TraceFlags.SAMPLED | TraceFlags.DECIDED;
const DENY = TraceFlags.DECIDED;

/** The sampling state of `ctx` as B3 writes it: 'd', '1', '0', or '' when undecided. */
function samplingState(flags: number): string {
  if (flags & TraceFlags.DEBUG) return 'd';
  if (flags & TraceFlags.SAMPLED) return '1';
  return flags & TraceFlags.DECIDED ? '0' : '';
}

/** Formats a context as a `b3` single-header value. */
export function formatB3Single(ctx: SpanContext): string {
  let out = traceIdHex(ctx) + '-' + spanIdHex(ctx);
  const state = samplingState(ctx.flags);
  if (state === '') return out;
  out += '-' + state;
  const parent = parentIdHex(ctx);
  return parent === undefined ? out : out + '-' + parent;
}

function singleState(text: string, from: number, to: number): number {
  if (to - from !== 1) return -1;
  const c = text.charCodeAt(from);
  return c === 49 ? ACCEPT : c === 48 ? DENY : c === 100 ? DEBUG : -1;
}

const words = [0, 0, 0, 0];

/**
 * Parses a `b3` single-header value. Returns the context, a number (TraceFlags) for a header that
 * carries only a sampling state, or undefined when invalid.
 */
export function parseB3Single(value: string): SpanContext | number | undefined {
  const text = trimOws(value);
  const n = text.length;
  if (n === 1) {
    const state = singleState(text, 0, 1);
    return state < 0 ? undefined : state;
  }
  const d1 = text.indexOf('-');
  if (d1 !== 16 && d1 !== 32) return undefined;
  if (!isLowerHex(text, 0, d1) || isZeros(text, 0, d1)) return undefined;
  const spanEnd = d1 + 17;
  if (n < spanEnd || (n > spanEnd && text.charCodeAt(spanEnd) !== 45)) return undefined;
  if (!isLowerHex(text, d1 + 1, spanEnd) || isZeros(text, d1 + 1, spanEnd)) return undefined;
  let flags = 0;
  let p0 = 0;
  let p1 = 0;
  if (n > spanEnd) {
    flags = singleState(text, spanEnd + 1, spanEnd + 2);
    if (flags < 0) return undefined;
    const stateEnd = spanEnd + 2;
    if (n > stateEnd) {
      if (text.charCodeAt(stateEnd) !== 45 || n !== stateEnd + 17) return undefined;
      if (!isLowerHex(text, stateEnd + 1, n)) return undefined;
      // An all-zero parent means none (as X-B3-ParentSpanId of zeros does).
      p0 = wordAt(text, stateEnd + 1, stateEnd + 9);
      p1 = wordAt(text, stateEnd + 9, n);
    }
  }
  wordsAt(text, 0, d1, words);
  return {
    t0: words[0]!,
    t1: words[1]!,
    t2: words[2]!,
    t3: words[3]!,
    s0: wordAt(text, d1 + 1, d1 + 9),
    s1: wordAt(text, d1 + 9, spanEnd),
    p0,
    p1,
    flags,
  };
}

/** X-B3-Sampled and X-B3-Flags as TraceFlags (0 when neither decides). */
function multiFlags(sampled: string | undefined, debug: string | undefined): number {
  if (debug !== undefined && trimOws(debug) === '1') return DEBUG;
  if (sampled === undefined) return 0;
  const s = trimOws(sampled);
  if (s === '1' || s.toLowerCase() === 'true') return ACCEPT;
  if (s === '0' || s.toLowerCase() === 'false') return DENY;
  return 0;
}

function lenientId(text: string | undefined, maxDigits: number): string | undefined {
  if (text === undefined) return undefined;
  const id = trimOws(text);
  if (id.length === 0 || id.length > maxDigits || !isHex(id, 0, id.length)) return undefined;
  return id;
}

function extractMultiOrSampling(
  carrier: HeaderCarrier,
  getter: HeaderGetter,
): SpanContext | number | undefined {
  const flags = multiFlags(
    headerString(getter.get(carrier, X_B3_SAMPLED)),
    headerString(getter.get(carrier, X_B3_FLAGS)),
  );
  const traceRaw = headerString(getter.get(carrier, X_B3_TRACE_ID));
  const spanRaw = headerString(getter.get(carrier, X_B3_SPAN_ID));
  if (traceRaw === undefined && spanRaw === undefined) return flags === 0 ? undefined : flags;
  const traceId = lenientId(traceRaw, 32);
  const spanId = lenientId(spanRaw, 16);
  if (traceId === undefined || spanId === undefined) return undefined;
  if (isZeros(traceId, 0, traceId.length) || isZeros(spanId, 0, spanId.length)) return undefined;
  const parentRaw = headerString(getter.get(carrier, X_B3_PARENT_SPAN_ID));
  // An unreadable parent is dropped rather than failing the whole context.
  const parentId = lenientId(parentRaw, 16);
  wordsAt(traceId, 0, traceId.length, words);
  const s = spanId.length;
  const p = parentId?.length ?? 0;
  return {
    t0: words[0]!,
    t1: words[1]!,
    t2: words[2]!,
    t3: words[3]!,
    s0: s > 8 ? wordAt(spanId, 0, s - 8) : 0,
    s1: wordAt(spanId, Math.max(0, s - 8), s),
    p0: parentId !== undefined && p > 8 ? wordAt(parentId, 0, p - 8) : 0,
    p1: parentId !== undefined ? wordAt(parentId, Math.max(0, p - 8), p) : 0,
    flags,
  };
}

function extractSingleOrSampling(
  carrier: HeaderCarrier,
  getter: HeaderGetter,
): SpanContext | number | undefined {
  const text = headerString(getter.get(carrier, B3));
  return text === undefined ? undefined : parseB3Single(text);
}

/** Reads `b3` first, then the X-B3-* headers. */
function extractAny(
  carrier: HeaderCarrier,
  getter: HeaderGetter,
): SpanContext | number | undefined {
  const single = extractSingleOrSampling(carrier, getter);
  if (typeof single === 'object') return single;
  const multi = extractMultiOrSampling(carrier, getter);
  if (typeof multi === 'object') return multi;
  return single ?? multi;
}

function contextOf(result: SpanContext | number | undefined): SpanContext | undefined {
  return typeof result === 'object' ? result : undefined;
}

function samplingOf(result: SpanContext | number | undefined): number | undefined {
  return typeof result === 'number' ? result : undefined;
}

function guarded<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

function injectSingle(ctx: SpanContext, carrier: HeaderCarrier, setter: HeaderSetter): void {
  if (hasIds(ctx)) setter.set(carrier, B3, formatB3Single(ctx));
  else {
    // No ids: the sampling decision alone (`b3: 0`), when there is one.
    const state = samplingState(ctx.flags);
    if (state !== '') setter.set(carrier, B3, state);
  }
}

function injectMulti(ctx: SpanContext, carrier: HeaderCarrier, setter: HeaderSetter): void {
  // No ids: the sampling decision alone (X-B3-Sampled or X-B3-Flags), when there is one.
  if (hasIds(ctx)) {
    setter.set(carrier, X_B3_TRACE_ID, traceIdHex(ctx));
    setter.set(carrier, X_B3_SPAN_ID, spanIdHex(ctx));
    const parent = parentIdHex(ctx);
    if (parent !== undefined) setter.set(carrier, X_B3_PARENT_SPAN_ID, parent);
  }
  const state = samplingState(ctx.flags);
  if (state === 'd') setter.set(carrier, X_B3_FLAGS, '1');
  else if (state !== '') setter.set(carrier, X_B3_SAMPLED, state);
}

function makeFormat(
  name: string,
  fields: string[],
  inject: (ctx: SpanContext, carrier: HeaderCarrier, setter: HeaderSetter) => void,
  read: (carrier: HeaderCarrier, getter: HeaderGetter) => SpanContext | number | undefined,
): TextFormat {
  return {
    name,
    fields,
    inject(ctx, carrier, setter = defaultSetter) {
      try {
        inject(ctx, carrier, setter);
      } catch {
        // A frozen or hostile carrier: propagation never throws into the application.
      }
    },
    extract: (carrier, getter = defaultGetter) => guarded(() => contextOf(read(carrier, getter))),
    extractSampling: (carrier, getter = defaultGetter) =>
      guarded(() => samplingOf(read(carrier, getter))),
  };
}

const MULTI_FIELDS = [X_B3_TRACE_ID, X_B3_SPAN_ID, X_B3_PARENT_SPAN_ID, X_B3_SAMPLED, X_B3_FLAGS];

/** B3 single header: writes `b3`; reads `b3`, then the X-B3-* headers. */
export const b3Single: TextFormat = makeFormat(
  'b3-single',
  [B3, ...MULTI_FIELDS],
  injectSingle,
  extractAny,
);

/** B3 multiple headers: writes the X-B3-* headers; reads `b3`, then the X-B3-* headers. */
export const b3Multi: TextFormat = makeFormat(
  'b3-multi',
  [B3, ...MULTI_FIELDS],
  injectMulti,
  extractAny,
);

/**
 * B3 as most Zipkin tracers speak it: writes the X-B3-* headers (zipkin-js and older Brave read
 * only these), reads both forms. The same as {@link b3Multi}, under the name 'b3'.
 */
export const b3: TextFormat = { ...b3Multi, name: 'b3' };
