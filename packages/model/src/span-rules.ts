import { isIPv4, isIPv6 } from 'node:net';
import { isLevel, type Level } from './levels.js';
import type { SpanLimits } from './limits.js';
import type { Annotation, Endpoint, SpanKind } from './span.js';

/**
 * The per-field rules of the span model, in one place: `normalizeSpans` applies them to raw spans
 * of the Zipkin JSON shape, and the proto3 reader applies them to what it reads off the wire,
 * without building raw spans first. Each rule takes the value as it came (so type checks happen in
 * the same order for every input) and reports a problem through `f.fail`, which knows where it is.
 *
 * Internal to the model package: not exported from its index.
 */

/** Reports a problem with a field of the span being checked; never returns. */
export interface Fail {
  fail(field: string, problem: string, reason?: string): never;
}

export function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** A string of at most `max` characters, or undefined when absent. */
export function optionalString(
  f: Fail,
  value: unknown,
  field: string,
  max: number,
): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') f.fail(field, `must be a string, not ${typeOf(value)}`);
  if (value.length > max) f.fail(field, `is longer than ${max} characters`, 'too_large');
  return value;
}

/** A lowercase name (span, service), absent when empty. */
export function lowerName(
  f: Fail,
  value: unknown,
  field: string,
  limits: SpanLimits,
): string | undefined {
  const text = optionalString(f, value, field, limits.maxNameLength);
  return text ? text.toLowerCase() : undefined;
}

/** A positive integer of microseconds; 0 or absent means unknown. */
export function micros(f: Fail, value: unknown, field: string): number | undefined {
  if (value === undefined || value === null || value === 0) return undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    f.fail(field, `must be a non-negative integer of microseconds, not ${show(value)}`);
  }
  return n === 0 ? undefined : n;
}

/** A severity level 0–7 (of a span or an annotation); the caller has checked it is present. */
export function level(f: Fail, value: unknown): Level {
  if (!isLevel(value)) f.fail('level', `must be an integer 0–7, not ${show(value)}`);
  return value;
}

export function kind(f: Fail, raw: unknown): SpanKind | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (raw === 'CLIENT' || raw === 'SERVER' || raw === 'PRODUCER' || raw === 'CONSUMER') return raw;
  return f.fail('kind', `must be CLIENT, SERVER, PRODUCER or CONSUMER, not ${show(raw)}`);
}

export function optionalBoolean(f: Fail, value: unknown, field: string): boolean {
  if (value === true) return true;
  if (value === undefined || value === null || value === false) return false;
  return f.fail(field, `must be a boolean, not ${show(value)}`);
}

/** The recording node's name, absent when empty. */
export function node(f: Fail, value: unknown, limits: SpanLimits): string | undefined {
  return optionalString(f, value, 'node', limits.maxNameLength) || undefined;
}

/** A clock offset in microseconds (any sign); the caller has checked it is present. */
export function clockOffset(f: Fail, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    return f.fail('clockOffset', `must be an integer of microseconds, not ${show(value)}`);
  }
  return value;
}

/** A valid parent id, undefined for a root: a span can't be its own parent (Zipkin undoes it). */
export function parentOf(parentId: string, id: string): string | undefined {
  return parentId !== id ? parentId : undefined;
}

/** Zipkin: shared marks the server half of a shared span id; on a client it is a mistake. */
export function keepsShared(shared: boolean, kind: SpanKind | undefined): boolean {
  return shared && kind !== 'CLIENT';
}

const IPV4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/**
 * An endpoint from its fields, undefined when it has none. Like Zipkin, an address goes where its
 * family says, and IPv4-mapped IPv6 becomes IPv4. `ipv4IsQuad`: the caller made `ipv4` as a
 * dotted quad from 4 bytes, so it needn't be parsed again.
 */
export function endpoint(
  f: Fail,
  serviceName: unknown,
  ipv4: unknown,
  ipv6: unknown,
  port: unknown,
  limits: SpanLimits,
  ipv4IsQuad = false,
): Endpoint | undefined {
  const out: Endpoint = {};
  let empty = true;
  const name = lowerName(f, serviceName, 'serviceName', limits);
  if (name) {
    out.serviceName = name;
    empty = false;
  }
  for (let i = 0; i < 2; i++) {
    const key = i === 0 ? 'ipv4' : 'ipv6';
    const ip = optionalString(f, i === 0 ? ipv4 : ipv6, key, 64);
    if (!ip) continue;
    empty = false;
    if ((i === 0 && ipv4IsQuad) || isIPv4(ip)) out.ipv4 = ip;
    else if (isIPv6(ip)) {
      const mapped = IPV4_MAPPED.exec(ip);
      if (mapped && isIPv4(mapped[1]!)) out.ipv4 = mapped[1]!;
      else out.ipv6 = ip.toLowerCase();
    } else f.fail(key, `is not an IP address: ${show(ip)}`);
  }
  if (port !== undefined && port !== null && port !== 0) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) {
      f.fail('port', `must be an integer 0–65535, not ${show(port)}`);
    }
    out.port = port;
    empty = false;
  }
  return empty ? undefined : out;
}

/** One annotation from its fields: a time and a non-empty value are required. */
export function annotation(
  f: Fail,
  timestamp: unknown,
  value: unknown,
  levelValue: unknown,
  limits: SpanLimits,
): Annotation {
  const time = micros(f, timestamp, 'timestamp');
  if (time === undefined) f.fail('timestamp', 'is missing: an annotation needs a time');
  const text = optionalString(f, value, 'value', limits.maxValueLength);
  if (!text) f.fail('value', 'is missing or empty');
  if (levelValue === undefined || levelValue === null) return { timestamp: time, value: text };
  return { timestamp: time, value: text, level: level(f, levelValue) };
}

export function tooManyAnnotations(f: Fail, count: number, limits: SpanLimits): void {
  if (count > limits.maxAnnotationsPerSpan) {
    f.fail('annotations', `has more than ${limits.maxAnnotationsPerSpan} entries`, 'too_large');
  }
}

function compareAnnotations(a: Annotation, b: Annotation): number {
  return a.timestamp - b.timestamp || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
}

/**
 * Zipkin keeps annotations as a sorted set: sorts by time then value, in place, and drops exact
 * repeats. Sorting happens only when the list is not sorted already.
 */
export function sortAnnotations(list: Annotation[]): Annotation[] {
  let sorted = true;
  for (let i = 1; i < list.length; i++) {
    if (compareAnnotations(list[i - 1]!, list[i]!) >= 0) {
      sorted = false;
      break;
    }
  }
  if (sorted) return list;
  list.sort(compareAnnotations);
  let kept = 1;
  for (let i = 1; i < list.length; i++) {
    const a = list[i]!;
    const last = list[kept - 1]!;
    if (a.timestamp !== last.timestamp || a.value !== last.value) list[kept++] = a;
  }
  list.length = kept;
  return list;
}

function tagValue(f: Fail, key: string, value: unknown, limits: SpanLimits): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else f.fail(`tags[${show(key)}]`, `must be a string, not ${typeOf(value)}`);
  if (text.length > limits.maxValueLength) {
    f.fail(`tags[${show(key)}]`, `is longer than ${limits.maxValueLength} characters`, 'too_large');
  }
  return text;
}

/**
 * Tags from distinct keys and their values (same index), with keys in ascending order; undefined
 * when there are none. Sorts `keys` and `values` in place when the keys are not in order. Keeps a
 * "__proto__" key as a tag.
 */
export function tags(
  f: Fail,
  keys: string[],
  values: unknown[],
  limits: SpanLimits,
): Record<string, string> | undefined {
  const n = keys.length;
  if (n === 0) return undefined;
  if (n > limits.maxTagsPerSpan) {
    f.fail('tags', `has more than ${limits.maxTagsPerSpan} entries`, 'too_large');
  }
  // Insertion sort of both arrays: spans have a few tags, often in order already.
  for (let i = 1; i < n; i++) {
    const key = keys[i]!;
    if (keys[i - 1]! <= key) continue;
    const value = values[i];
    let j = i - 1;
    do {
      keys[j + 1] = keys[j]!;
      values[j + 1] = values[j];
      j--;
    } while (j >= 0 && keys[j]! > key);
    keys[j + 1] = key;
    values[j + 1] = value;
  }
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const key = keys[i]!;
    if (key.length === 0) f.fail('tags', 'has an empty key');
    if (key.length > limits.maxNameLength) {
      f.fail(
        `tags[${show(key)}]`,
        `key is longer than ${limits.maxNameLength} characters`,
        'too_large',
      );
    }
    const value = tagValue(f, key, values[i], limits);
    // A plain assignment of "__proto__" would set the prototype and lose the tag.
    if (key === '__proto__') {
      Object.defineProperty(out, key, {
        value,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    } else out[key] = value;
  }
  return out;
}
