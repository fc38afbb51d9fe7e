/**
 * A span's identity as it travels between spans, processes and hosts. Ids stay numeric (unsigned
 * 32-bit words) inside the process: they become hex only when they leave it.
 */
export interface SpanContext {
  /** Trace id, 128 bits as four unsigned 32-bit words, most significant first. A 64-bit trace id has t0 = t1 = 0. */
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
  /** Span id, two unsigned 32-bit words, most significant first; never both 0. */
  readonly s0: number;
  readonly s1: number;
  /** Parent span id words; both 0 for a root span. */
  readonly p0: number;
  readonly p1: number;
  /** Bit set of TraceFlags. */
  readonly flags: number;
  /** W3C `tracestate`, carried through untouched when a peer sent one. */
  readonly traceState?: string;
}

export const TraceFlags = {
  /** Recorded and exported. */
  SAMPLED: 1,
  /** Forced recording (B3 `d`, Zipkin's debug): wins over every sampler and level threshold. */
  DEBUG: 2,
  /** A sampling decision was made (absent: the receiver decides). */
  DECIDED: 4,
} as const;

const HEX = '0123456789abcdef';

function wordHex(word: number): string {
  let out = '';
  for (let shift = 28; shift >= 0; shift -= 4) out += HEX[(word >>> shift) & 15];
  return out;
}

/** 16 or 32 lowercase hex digits (16 when the high half is zero, as Zipkin writes it). */
export function traceIdHex(ctx: SpanContext): string {
  const low = wordHex(ctx.t2) + wordHex(ctx.t3);
  return ctx.t0 === 0 && ctx.t1 === 0 ? low : wordHex(ctx.t0) + wordHex(ctx.t1) + low;
}

/** Always 32 hex digits (W3C trace context). */
export function traceIdHex128(ctx: SpanContext): string {
  return wordHex(ctx.t0) + wordHex(ctx.t1) + wordHex(ctx.t2) + wordHex(ctx.t3);
}

export function spanIdHex(ctx: SpanContext): string {
  return wordHex(ctx.s0) + wordHex(ctx.s1);
}

/** Hex of the parent id, or undefined for a root span. */
export function parentIdHex(ctx: SpanContext): string | undefined {
  return ctx.p0 === 0 && ctx.p1 === 0 ? undefined : wordHex(ctx.p0) + wordHex(ctx.p1);
}

export function isSampled(ctx: SpanContext): boolean {
  return (ctx.flags & (TraceFlags.SAMPLED | TraceFlags.DEBUG)) !== 0;
}

/** Parses 1–8 hex digits into a word; NaN when not hex. */
function hexWord(text: string, from: number, to: number): number {
  if (from >= to) return 0;
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    let digit: number;
    if (c >= 48 && c <= 57) digit = c - 48;
    else if (c >= 97 && c <= 102) digit = c - 87;
    else if (c >= 65 && c <= 70) digit = c - 55;
    else return NaN;
    value = value * 16 + digit;
  }
  return value >>> 0;
}

/**
 * Builds a context from hex ids (1–32 digits for the trace, 1–16 for spans); undefined when an id
 * is not hex, too long, or all zeros (a parent of zeros means none).
 */
export function contextFromHex(
  traceId: string,
  spanId: string,
  parentId: string | undefined,
  flags: number,
  traceState?: string,
): SpanContext | undefined {
  if (traceId.length === 0 || traceId.length > 32 || spanId.length === 0 || spanId.length > 16)
    return undefined;
  if (parentId !== undefined && parentId.length > 16) return undefined;
  const t = traceId.length;
  const words = [
    hexWord(traceId, Math.max(0, t - 32), Math.max(0, t - 24)),
    hexWord(traceId, Math.max(0, t - 24), Math.max(0, t - 16)),
    hexWord(traceId, Math.max(0, t - 16), Math.max(0, t - 8)),
    hexWord(traceId, Math.max(0, t - 8), t),
  ];
  const s = spanId.length;
  const s0 = hexWord(spanId, 0, Math.max(0, s - 8));
  const s1 = hexWord(spanId, Math.max(0, s - 8), s);
  const p = parentId?.length ?? 0;
  const p0 = parentId ? hexWord(parentId, 0, Math.max(0, p - 8)) : 0;
  const p1 = parentId ? hexWord(parentId, Math.max(0, p - 8), p) : 0;
  const all = [...words, s0, s1, p0, p1];
  if (all.some((w) => Number.isNaN(w))) return undefined;
  if (words.every((w) => w === 0) || (s0 === 0 && s1 === 0)) return undefined;
  const ctx: SpanContext = {
    t0: words[0]!,
    t1: words[1]!,
    t2: words[2]!,
    t3: words[3]!,
    s0,
    s1,
    p0,
    p1,
    flags,
    ...(traceState !== undefined ? { traceState } : {}),
  };
  return ctx;
}
