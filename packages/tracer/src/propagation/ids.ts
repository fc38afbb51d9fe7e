/** Helpers shared by the propagation formats: hex checks, word parsing, flag normalisation. */
import { TraceFlags, type SpanContext } from '../context.js';

/** True when `text[from, to)` is non-empty lowercase hex. */
export function isLowerHex(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** True when `text[from, to)` is non-empty hex in either case. */
export function isHex(text: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70))) return false;
  }
  return true;
}

/** True when `text[from, to)` is all '0'. */
export function isZeros(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) !== 48) return false;
  return true;
}

const SAMPLED_DECIDED = TraceFlags.SAMPLED | TraceFlags.DECIDED;
const ALL = TraceFlags.SAMPLED | TraceFlags.DEBUG | TraceFlags.DECIDED;

/**
 * The flags as propagation reads them back: debug implies sampled, and sampled implies decided.
 * Bits other than SAMPLED, DEBUG and DECIDED are dropped.
 */
export function normalizeFlags(flags: number): number {
  if (flags & TraceFlags.DEBUG) return ALL;
  if (flags & TraceFlags.SAMPLED) return SAMPLED_DECIDED;
  return flags & TraceFlags.DECIDED;
}

/** A context with the same ids and other flags (and no trace state unless given). */
export function withIds(
  t0: number,
  t1: number,
  t2: number,
  t3: number,
  s0: number,
  s1: number,
  p0: number,
  p1: number,
  flags: number,
  traceState?: string,
): SpanContext {
  return traceState === undefined
    ? { t0, t1, t2, t3, s0, s1, p0, p1, flags }
    : { t0, t1, t2, t3, s0, s1, p0, p1, flags, traceState };
}

/** The value of `text[from, to)` (at most 8 hex digits, already checked to be hex) as a word. */
export function wordAt(text: string, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    value = value * 16 + (c <= 57 ? c - 48 : (c | 32) - 87);
  }
  return value >>> 0;
}

/**
 * Hex digits `text[from, to)` (1 to 32, checked to be hex) as four words, most significant first,
 * left-padded with zeros.
 */
export function wordsAt(text: string, from: number, to: number, out: number[]): void {
  for (let w = 3; w >= 0; w--) {
    const end = to - (3 - w) * 8;
    const start = Math.max(from, end - 8);
    out[w] = end > from ? wordAt(text, start, end) : 0;
  }
}

/**
 * True when the context has a trace id and a span id. A context of zero ids (the tracer's shared
 * span of an unsampled new trace) carries only a sampling decision.
 */
export function hasIds(ctx: SpanContext): boolean {
  return (ctx.t0 | ctx.t1 | ctx.t2 | ctx.t3) !== 0 && (ctx.s0 | ctx.s1) !== 0;
}
