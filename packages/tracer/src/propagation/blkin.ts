/**
 * BlkKin's own packed trace info, for peers instrumented with BlkKin's C/C++ library, whose
 * `struct blkin_trace_info` holds three signed 64-bit integers (24 bytes):
 *
 *   offset  size  field
 *        0     8  trace_id, big-endian two's complement int64
 *        8     8  span_id
 *       16     8  parent_span_id (0: none)
 *
 * As in BlkKin, the triple describes the sender's span: the receiver starts a child of span_id.
 * BlkKin trace ids are 64-bit: a 128-bit trace id is written as its low 64 bits (t2, t3), which is
 * also how Zipkin relates a 64-bit id to a 128-bit one; the high half is lost. The form has no
 * sampling flags: BlkKin peers only send trace info for traced requests, so a decoded context is
 * sampled and decided unless the caller says otherwise.
 */
import { TraceFlags, type SpanContext } from '../context.js';

export const BLKIN_TRACE_INFO_LENGTH = 24;

const SAMPLED_DECIDED = TraceFlags.SAMPLED | TraceFlags.DECIDED;

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
 * Writes the 24-byte trace info into `target` at `offset` without allocating; returns the offset
 * just past it. Throws a RangeError when `target` has no room.
 */
export function writeBlkinTraceInfo(ctx: SpanContext, target: Uint8Array, offset = 0): number {
  if (!Number.isInteger(offset) || offset < 0 || offset + BLKIN_TRACE_INFO_LENGTH > target.length)
    throw new RangeError(`no room for ${BLKIN_TRACE_INFO_LENGTH} bytes of trace info at ${offset}`);
  writeWord(target, offset, ctx.t2);
  writeWord(target, offset + 4, ctx.t3);
  writeWord(target, offset + 8, ctx.s0);
  writeWord(target, offset + 12, ctx.s1);
  writeWord(target, offset + 16, ctx.p0);
  writeWord(target, offset + 20, ctx.p1);
  return offset + BLKIN_TRACE_INFO_LENGTH;
}

/** The 24-byte trace info in a new array. */
export function encodeBlkinTraceInfo(ctx: SpanContext): Uint8Array {
  const out = new Uint8Array(BLKIN_TRACE_INFO_LENGTH);
  writeBlkinTraceInfo(ctx, out, 0);
  return out;
}

/**
 * Reads 24 bytes of trace info at `offset`; undefined when too few bytes or when trace_id or
 * span_id is 0 (BlkKin's "no trace"). `flags` defaults to sampled and decided.
 */
export function decodeBlkinTraceInfo(
  bytes: Uint8Array,
  offset = 0,
  flags: number = SAMPLED_DECIDED,
): SpanContext | undefined {
  if (!(bytes instanceof Uint8Array)) return undefined;
  if (!Number.isInteger(offset) || offset < 0 || offset + BLKIN_TRACE_INFO_LENGTH > bytes.length)
    return undefined;
  const t2 = readWord(bytes, offset);
  const t3 = readWord(bytes, offset + 4);
  const s0 = readWord(bytes, offset + 8);
  const s1 = readWord(bytes, offset + 12);
  if ((t2 | t3) === 0 || (s0 | s1) === 0) return undefined;
  return {
    t0: 0,
    t1: 0,
    t2,
    t3,
    s0,
    s1,
    p0: readWord(bytes, offset + 16),
    p1: readWord(bytes, offset + 20),
    flags,
  };
}

/** BlkKin's trace info as the C struct holds it: three signed 64-bit integers. */
export interface BlkinTraceInfo {
  traceId: bigint;
  spanId: bigint;
  parentSpanId: bigint;
}

function toInt64(hi: number, lo: number): bigint {
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}

/** The context as BlkKin's signed 64-bit ids (the trace id's low 64 bits). */
export function toBlkinTraceInfo(ctx: SpanContext): BlkinTraceInfo {
  return {
    traceId: toInt64(ctx.t2, ctx.t3),
    spanId: toInt64(ctx.s0, ctx.s1),
    parentSpanId: toInt64(ctx.p0, ctx.p1),
  };
}

/**
 * A context from BlkKin's signed (or unsigned) 64-bit ids; undefined when an id is not a bigint,
 * trace_id or span_id is 0. Values are taken modulo 2^64.
 */
export function fromBlkinTraceInfo(
  info: BlkinTraceInfo,
  flags: number = SAMPLED_DECIDED,
): SpanContext | undefined {
  if (info === null || typeof info !== 'object') return undefined;
  const { traceId, spanId, parentSpanId } = info;
  if (typeof traceId !== 'bigint' || typeof spanId !== 'bigint') return undefined;
  if (parentSpanId !== undefined && typeof parentSpanId !== 'bigint') return undefined;
  const t = BigInt.asUintN(64, traceId);
  const s = BigInt.asUintN(64, spanId);
  const p = BigInt.asUintN(64, parentSpanId ?? 0n);
  if (t === 0n || s === 0n) return undefined;
  return {
    t0: 0,
    t1: 0,
    t2: Number(t >> 32n),
    t3: Number(t & 0xffffffffn),
    s0: Number(s >> 32n),
    s1: Number(s & 0xffffffffn),
    p0: Number(p >> 32n),
    p1: Number(p & 0xffffffffn),
    flags,
  };
}
