/**
 * W3C Trace Context: `traceparent` and `tracestate` (https://www.w3.org/TR/trace-context/).
 *
 *   traceparent: {version:2}-{trace-id:32}-{parent-id:16}-{trace-flags:2}   (lowercase hex)
 *
 * Written as version 00. Read: version 00 exactly 55 characters; a higher version (not ff) at least
 * 55 characters, the 56th being '-' when longer, of which the first four fields are read as
 * version 00's. All-zero ids, uppercase hex and malformed fields are rejected.
 */
import { TraceFlags, traceIdHex128, spanIdHex, type SpanContext } from '../context.js';
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
import { hasIds, isLowerHex, isZeros, wordAt } from './ids.js';

export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** Bounds on `tracestate` (the specification's: 32 members, 512 characters propagated). */
export const TRACESTATE_MAX_MEMBERS = 32;
export const TRACESTATE_MAX_LENGTH = 512;
/** A member longer than this is the first to go when the whole exceeds the length bound. */
const TRACESTATE_LONG_MEMBER = 128;
/** Header values longer than this are not parsed at all (bounds the work on hostile input). */
const TRACESTATE_MAX_INPUT = 8192;

const W3C_SAMPLED = 1;

/** Formats a context as a version-00 `traceparent` value. */
export function formatTraceparent(ctx: SpanContext): string {
  const sampled = ctx.flags & (TraceFlags.SAMPLED | TraceFlags.DEBUG) ? '01' : '00';
  return '00-' + traceIdHex128(ctx) + '-' + spanIdHex(ctx) + '-' + sampled;
}

/**
 * Parses a `traceparent` value (surrounding spaces and tabs allowed); undefined when invalid.
 * The flags are DECIDED, plus SAMPLED when the sampled bit is set.
 */
export function parseTraceparent(value: string, traceState?: string): SpanContext | undefined {
  const text = trimOws(value);
  const n = text.length;
  if (n < 55) return undefined;
  if (!isLowerHex(text, 0, 2)) return undefined;
  const version = wordAt(text, 0, 2);
  if (version === 255) return undefined;
  if (version === 0 ? n !== 55 : n > 55 && text.charCodeAt(55) !== 45) return undefined;
  if (text.charCodeAt(2) !== 45 || text.charCodeAt(35) !== 45 || text.charCodeAt(52) !== 45)
    return undefined;
  if (!isLowerHex(text, 3, 35) || isZeros(text, 3, 35)) return undefined;
  if (!isLowerHex(text, 36, 52) || isZeros(text, 36, 52)) return undefined;
  if (!isLowerHex(text, 53, 55)) return undefined;
  const flags =
    wordAt(text, 53, 55) & W3C_SAMPLED
      ? TraceFlags.SAMPLED | TraceFlags.DECIDED
      : TraceFlags.DECIDED;
  const ctx: SpanContext = {
    t0: wordAt(text, 3, 11),
    t1: wordAt(text, 11, 19),
    t2: wordAt(text, 19, 27),
    t3: wordAt(text, 27, 35),
    s0: wordAt(text, 36, 44),
    s1: wordAt(text, 44, 52),
    p0: 0,
    p1: 0,
    flags,
    ...(traceState !== undefined ? { traceState } : {}),
  };
  return ctx;
}

// tracestate list members (Trace Context Level 1, section 3.3.1):
//   key   = simple-key / multi-tenant-key
//   simple-key = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//   multi-tenant-key = tenant-id "@" system-id
//   tenant-id = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//   system-id = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//   value = 0*255(chr) nblk-chr ; chr = %x20 / nblk-chr ; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
const KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Normalises a `tracestate` value: members trimmed of optional whitespace, empty and invalid
 * members and repeated keys dropped (the first occurrence wins), at most 32 members, and at most 512
 * characters (members over 128 characters dropped first, then members from the end). Returns
 * undefined when nothing valid remains or the input is unreasonably long.
 */
export function normalizeTracestate(value: string): string | undefined {
  if (value.length === 0 || value.length > TRACESTATE_MAX_INPUT) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const member = trimOws(raw);
    if (member.length === 0) continue;
    const eq = member.indexOf('=');
    if (eq <= 0) continue;
    const key = member.slice(0, eq);
    if (keys.has(key) || !KEY.test(key) || !VALUE.test(member.slice(eq + 1))) continue;
    keys.add(key);
    members.push(member);
    if (members.length === TRACESTATE_MAX_MEMBERS) break;
  }
  let length = members.length - 1;
  for (const m of members) length += m.length;
  if (length > TRACESTATE_MAX_LENGTH) {
    for (let i = members.length - 1; i >= 0 && length > TRACESTATE_MAX_LENGTH; i--) {
      if (members[i]!.length > TRACESTATE_LONG_MEMBER) {
        length -= members[i]!.length + 1;
        members.splice(i, 1);
      }
    }
    while (length > TRACESTATE_MAX_LENGTH && members.length > 0) {
      length -= members.pop()!.length + 1;
    }
  }
  return members.length === 0 ? undefined : members.join(',');
}

function extractW3C(
  carrier: HeaderCarrier,
  getter: HeaderGetter = defaultGetter,
): SpanContext | undefined {
  try {
    const parent = getter.get(carrier, TRACEPARENT);
    // A repeated traceparent is invalid: arrays of more than one value are joined with ',' and fail.
    const text = headerString(parent);
    if (text === undefined) return undefined;
    const ctx = parseTraceparent(text);
    if (ctx === undefined) return undefined;
    const stateText = headerString(getter.get(carrier, TRACESTATE));
    const state = stateText === undefined ? undefined : normalizeTracestate(stateText);
    return state === undefined ? ctx : { ...ctx, traceState: state };
  } catch {
    return undefined;
  }
}

function injectW3C(
  ctx: SpanContext,
  carrier: HeaderCarrier,
  setter: HeaderSetter = defaultSetter,
): void {
  try {
    // A context without ids has nothing W3C can say (the format has no sampling-only form).
    if (!hasIds(ctx)) return;
    setter.set(carrier, TRACEPARENT, formatTraceparent(ctx));
    const state = ctx.traceState;
    if (typeof state === 'string' && state.length > 0 && state.length <= TRACESTATE_MAX_INPUT)
      setter.set(carrier, TRACESTATE, state);
  } catch {
    // A frozen or hostile carrier: propagation never throws into the application.
  }
}

/** W3C Trace Context (`traceparent`, `tracestate`). */
export const w3c: TextFormat = {
  name: 'w3c',
  fields: [TRACEPARENT, TRACESTATE],
  inject: injectW3C,
  extract: extractW3C,
};
