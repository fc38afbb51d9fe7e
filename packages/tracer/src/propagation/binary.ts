/**
 * A compact, fixed-length binary span context for custom protocols (26 bytes):
 *
 *   offset  size  field
 *        0     1  version (0)
 *        1    16  trace id, big-endian (a 64-bit trace id has 8 leading zero bytes)
 *       17     8  span id, big-endian
 *       25     1  flags: bit 0 sampled, bit 1 debug, bit 2 decided,
 *                        bits 3–5 severity level (0 emergency … 7 debug), bit 6 level present,
 *                        bit 7 reserved (written 0, ignored when read)
 *
 * The parent id and `tracestate` are not carried: the receiver's span is a child of the span id.
 * Decoding never throws: anything that is not a valid version-0 context gives undefined.
 */
import { TraceFlags, type SpanContext } from '../context.js';
import type { Level } from '../levels.js';
import { normalizeFlags } from './ids.js';

export const BINARY_CONTEXT_VERSION = 0;
export const BINARY_CONTEXT_LENGTH = 26;

const FLAG_DECISION = TraceFlags.SAMPLED | TraceFlags.DEBUG | TraceFlags.DECIDED;
const LEVEL_SHIFT = 3;
const LEVEL_PRESENT = 0x40;

/** A context read from the binary form, with the severity level when the sender gave one. */
export type BinaryContext = SpanContext & { readonly level?: Level };

function writeWord(out: Uint8Array, at: number, word: number): void {
  out[at] = word >>> 24;
  out[at + 1] = (word >>> 16) & 255;
  out[at + 2] = (word >>> 8) & 255;
  out[at + 3] = word & 255;
}

function readWord(bytes: Uint8Array, at: number): number {
  return (
    ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  );
}

/**
 * Writes the 26-byte context into `target` at `offset` without allocating; returns the offset just
 * past it. `level` (an integer 0–7) travels with the context when given. Throws a RangeError when
 * `target` has no room (a programming error in the caller's framing, not hostile input).
 */
export function writeBinaryContext(
  ctx: SpanContext,
  target: Uint8Array,
  offset = 0,
  level?: number,
): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + BINARY_CONTEXT_LENGTH > target.length)
    throw new RangeError(`no room for a ${BINARY_CONTEXT_LENGTH}-byte context at ${offset}`);
  target[offset] = BINARY_CONTEXT_VERSION;
  writeWord(target, offset + 1, ctx.t0);
  writeWord(target, offset + 5, ctx.t1);
  writeWord(target, offset + 9, ctx.t2);
  writeWord(target, offset + 13, ctx.t3);
  writeWord(target, offset + 17, ctx.s0);
  writeWord(target, offset + 21, ctx.s1);
  let flags = normalizeFlags(ctx.flags);
  if (level !== undefined && Number.isInteger(level) && level >= 0 && level <= 7)
    flags |= LEVEL_PRESENT | (level << LEVEL_SHIFT);
  target[offset + 25] = flags;
  return offset + BINARY_CONTEXT_LENGTH;
}

/** The 26-byte binary context in a new array. */
export function encodeBinaryContext(ctx: SpanContext, level?: number): Uint8Array {
  const out = new Uint8Array(BINARY_CONTEXT_LENGTH);
  writeBinaryContext(ctx, out, 0, level);
  return out;
}

/**
 * Reads a binary context at `offset`; undefined when the bytes are too few, the version unknown,
 * or an id all zeros.
 */
export function decodeBinaryContext(bytes: Uint8Array, offset = 0): BinaryContext | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  if (!Number.isInteger(offset) || offset < 0 || offset + BINARY_CONTEXT_LENGTH > bytes.length)
    return undefined;
  if (bytes[offset] !== BINARY_CONTEXT_VERSION) return undefined;
  const t0 = readWord(bytes, offset + 1);
  const t1 = readWord(bytes, offset + 5);
  const t2 = readWord(bytes, offset + 9);
  const t3 = readWord(bytes, offset + 13);
  const s0 = readWord(bytes, offset + 17);
  const s1 = readWord(bytes, offset + 21);
  if ((t0 | t1 | t2 | t3) === 0 || (s0 | s1) === 0) return undefined;
  const f = bytes[offset + 25]!;
  const flags = normalizeFlags(f & FLAG_DECISION);
  const ctx = { t0, t1, t2, t3, s0, s1, p0: 0, p1: 0, flags };
  return f & LEVEL_PRESENT ? { ...ctx, level: ((f >>> LEVEL_SHIFT) & 7) as Level } : ctx;
}
