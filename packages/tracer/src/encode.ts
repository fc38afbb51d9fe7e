import { AssembledSpan, MAX_NAME, StringTable, TAG_BOOLEAN, TAG_NUMBER } from './assembler.js';
import type { Endpoint, ExportedSpan, SpanKind } from './options.js';
import { NONE } from './ring.js';

/**
 * Zipkin v2 encoders for assembled spans, written for the tracer (no dependency on @blkkin/model):
 * proto3 (zipkin.proto's ListOfSpans, with blkkin's extension fields) and JSON.
 *
 * proto3 field numbers: ListOfSpans 1 spans. Span 1 trace_id bytes, 2 parent_id, 3 id, 4 kind
 * (1 CLIENT, 2 SERVER, 3 PRODUCER, 4 CONSUMER), 5 name, 6 timestamp fixed64 µs, 7 duration uint64
 * µs, 8 local_endpoint, 9 remote_endpoint, 10 annotations, 11 tags map<string,string>, 12 debug,
 * 13 shared; blkkin: 100 level uint32, 101 node string, 102 clock_offset sint64. Annotation
 * 1 timestamp fixed64, 2 value, 100 level. Endpoint 1 service_name, 2 ipv4 bytes, 3 ipv6 bytes,
 * 4 port.
 */

const KINDS: readonly (SpanKind | undefined)[] = [
  undefined,
  'CLIENT',
  'SERVER',
  'PRODUCER',
  'CONSUMER',
];

/** What every span of a tracer shares. */
export interface LocalInfo {
  service: string;
  endpoint: Endpoint;
  node: string;
}

/** Everything an encoder needs besides the spans. */
export class EncodeContext {
  readonly localProto: Buffer;
  readonly nodeProto: Buffer;
  readonly localJson: string;
  readonly nodeJson: string;
  private readonly json: (string | undefined)[] = [];

  constructor(
    readonly strings: StringTable,
    readonly timeOrigin: number,
    readonly local: LocalInfo,
  ) {
    const ep = encodeEndpoint(local.endpoint);
    const out = new Out(ep.length + 8);
    out.tagLen(8, ep.length);
    out.bytes(ep);
    this.localProto = out.finish();
    const node = Buffer.from(local.node, 'utf8');
    const nout = new Out(node.length + 8);
    nout.tagLen(101, node.length);
    nout.bytes(node);
    this.nodeProto = nout.finish();
    this.localJson = endpointJson(local.endpoint);
    this.nodeJson = JSON.stringify(local.node);
  }

  micros(time: number): number {
    return Math.round((this.timeOrigin + time) * 1000);
  }

  jsonName(id: number, span: AssembledSpan): string {
    const text = this.strings.get(id, span);
    return text.length <= MAX_NAME
      ? this.jsonString(id, span)
      : JSON.stringify(text.slice(0, MAX_NAME));
  }

  jsonString(id: number, span: AssembledSpan): string {
    if (id < 0) return JSON.stringify(span.temps![-id - 1]);
    let s = this.json[id];
    if (s === undefined || this.strings.utf8[id] === undefined) {
      // (re)computed when the string was (re)defined: utf8 is reset then
      s = this.json[id] = JSON.stringify(this.strings.values[id] ?? '');
      this.strings.bytes(id, span);
    }
    return s;
  }
}

// ---- proto3 ------------------------------------------------------------------------------------

/** Bytes of a protobuf varint of a non-negative safe integer. */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  let size = 4;
  n = Math.floor(n / 0x10000000);
  while (n > 0) {
    size++;
    n = Math.floor(n / 128);
  }
  return size;
}

/** A growable output buffer. */
export class Out {
  buf: Buffer;
  pos = 0;
  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  byte(b: number): void {
    this.buf[this.pos++] = b;
  }
  varint(n: number): void {
    while (n >= 0x80000000) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }
  key(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }
  tagLen(field: number, len: number): void {
    this.varint((field << 3) | 2);
    this.varint(len);
  }
  fixed64(n: number): void {
    const low = n % 4294967296;
    this.buf.writeUInt32LE(low, this.pos);
    this.buf.writeUInt32LE((n - low) / 4294967296, this.pos + 4);
    this.pos += 8;
  }
  word(w: number): void {
    this.buf.writeUInt32BE(w >>> 0, this.pos);
    this.pos += 4;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * The endpoint as collectors will store it: lowercase service name, valid addresses only, IPv6 in
 * RFC 5952 text, IPv4-mapped IPv6 as IPv4, no port 0.
 */
export function canonicalEndpoint(ep: Endpoint): Endpoint {
  const out: Endpoint = {};
  if (typeof ep.serviceName === 'string' && ep.serviceName !== '')
    out.serviceName = ep.serviceName.toLowerCase().slice(0, 256);
  if (typeof ep.ipv4 === 'string' && parseIpv4(ep.ipv4)) out.ipv4 = ep.ipv4;
  const v6 = typeof ep.ipv6 === 'string' ? parseIpv6(ep.ipv6) : undefined;
  if (v6) {
    const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
    if (mapped) out.ipv4 = `${v6[12]}.${v6[13]}.${v6[14]}.${v6[15]}`;
    else out.ipv6 = ipv6Text(v6);
  }
  if (typeof ep.port === 'number' && Number.isInteger(ep.port) && ep.port > 0 && ep.port < 65536)
    out.port = ep.port;
  return out;
}

/** RFC 5952: lowercase, no leading zeros, the longest run of two or more zero groups as '::'. */
export function ipv6Text(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLength, 8)}`;
}

/** Endpoint message body. */
export function encodeEndpoint(raw: Endpoint): Buffer {
  const ep = canonicalEndpoint(raw);
  const out = new Out(256);
  if (ep.serviceName) {
    const s = Buffer.from(ep.serviceName.toLowerCase(), 'utf8');
    out.ensure(s.length + 64); // the service name, then addresses and port (≤ 40 bytes)
    out.tagLen(1, s.length);
    out.bytes(s);
  }
  const v4 = ep.ipv4 !== undefined ? parseIpv4(ep.ipv4) : undefined;
  if (v4) {
    out.tagLen(2, 4);
    out.bytes(v4);
  }
  const v6 = ep.ipv6 !== undefined ? parseIpv6(ep.ipv6) : undefined;
  if (v6) {
    out.tagLen(3, 16);
    out.bytes(v6);
  }
  if (ep.port !== undefined && ep.port > 0 && ep.port < 65536) {
    out.key(4, 0);
    out.varint(ep.port);
  }
  return Buffer.from(out.finish());
}

// Scratch for one span's tag values and kept tag indexes.
const tagValues: Buffer[] = [];
const tagKeep: number[] = [];

/** Indexes (into the triples) of the tags to write: the last value of each key. */
function keptTags(span: AssembledSpan, strings: StringTable): number {
  tagKeep.length = 0;
  const tags = span.tags!;
  for (let i = 0; i < tags.length; i += 3) {
    let dup = false;
    const key = tags[i]!;
    for (let j = i + 3; j < tags.length; j += 3) {
      const other = tags[j]!;
      if (
        other === key ||
        ((key < 0 || other < 0) && strings.get(key, span) === strings.get(other, span))
      ) {
        dup = true;
        break;
      }
    }
    if (!dup) tagKeep.push(i);
  }
  return tagKeep.length;
}

function tagText(span: AssembledSpan, i: number, strings: StringTable): string {
  const tags = span.tags!;
  const type = tags[i + 1]!;
  const value = tags[i + 2]!;
  if (type === TAG_BOOLEAN) return value !== 0 ? 'true' : 'false';
  if (type === TAG_NUMBER) return String(value);
  return strings.get(value, span);
}

function tagBytes(span: AssembledSpan, i: number, strings: StringTable): Buffer {
  const tags = span.tags!;
  if (tags[i + 1] === 0) return strings.bytes(tags[i + 2]!, span);
  return Buffer.from(tagText(span, i, strings), 'utf8');
}

function remoteEndpoint(span: AssembledSpan, strings: StringTable): Endpoint {
  const [service, ip, port] = span.remote!;
  const ep: Endpoint = {};
  if (service !== NONE) ep.serviceName = strings.name(service!, span);
  if (ip !== NONE) {
    const text = strings.get(ip!, span);
    if (text.includes(':')) ep.ipv6 = text;
    else ep.ipv4 = text;
  }
  if (port) ep.port = port;
  return canonicalEndpoint(ep);
}

function writeSpan(out: Out, span: AssembledSpan, ctx: EncodeContext): void {
  const strings = ctx.strings;
  const long = span.t0 !== 0 || span.t1 !== 0;
  const hasParent = span.p0 !== 0 || span.p1 !== 0;
  const name = strings.nameBytes(span.name, span);
  const timestamp = ctx.micros(span.start);
  const duration = Math.max(1, Math.round((span.end - span.start) * 1000));
  let size = (long ? 18 : 10) + (hasParent ? 10 : 0) + 10;
  if (span.kind !== 0) size += 2;
  if (name.length > 0) size += 1 + varintSize(name.length) + name.length;
  size += 9 + 1 + varintSize(duration) + ctx.localProto.length;
  let remote: Buffer | undefined;
  if (span.remote !== undefined) {
    remote = encodeEndpoint(remoteEndpoint(span, strings));
    size += 1 + varintSize(remote.length) + remote.length;
  }
  const ann = span.ann;
  if (ann !== undefined) {
    for (let i = 0; i < ann.length; i += 3) {
      const value = strings.bytes(ann[i + 2]!, span);
      const inner = 9 + 1 + varintSize(value.length) + value.length + 3;
      size += 1 + varintSize(inner) + inner;
    }
  }
  let kept = 0;
  if (span.tags !== undefined) {
    kept = keptTags(span, strings);
    for (let k = 0; k < kept; k++) {
      const i = tagKeep[k]!;
      const key = strings.nameBytes(span.tags[i]!, span);
      const value = (tagValues[k] = tagBytes(span, i, strings));
      const inner =
        1 + varintSize(key.length) + key.length + 1 + varintSize(value.length) + value.length;
      size += 1 + varintSize(inner) + inner;
    }
  }
  if (span.debug) size += 2;
  size += 3 + ctx.nodeProto.length;

  out.ensure(size + 8);
  out.tagLen(1, size);
  const end = out.pos + size;
  if (long) {
    out.tagLen(1, 16);
    out.word(span.t0);
    out.word(span.t1);
  } else out.tagLen(1, 8);
  out.word(span.t2);
  out.word(span.t3);
  if (hasParent) {
    out.tagLen(2, 8);
    out.word(span.p0);
    out.word(span.p1);
  }
  out.tagLen(3, 8);
  out.word(span.s0);
  out.word(span.s1);
  if (span.kind !== 0) {
    out.byte(0x20);
    out.byte(span.kind);
  }
  if (name.length > 0) {
    out.tagLen(5, name.length);
    out.bytes(name);
  }
  out.byte(0x31);
  out.fixed64(timestamp);
  out.byte(0x38);
  out.varint(duration);
  out.bytes(ctx.localProto);
  if (remote !== undefined) {
    out.tagLen(9, remote.length);
    out.bytes(remote);
  }
  if (ann !== undefined) {
    for (let i = 0; i < ann.length; i += 3) {
      const value = strings.bytes(ann[i + 2]!, span);
      const inner = 9 + 1 + varintSize(value.length) + value.length + 3;
      out.tagLen(10, inner);
      out.byte(0x09);
      out.fixed64(ctx.micros(ann[i]!));
      out.tagLen(2, value.length);
      out.bytes(value);
      out.byte(0xa0);
      out.byte(0x06);
      out.byte(ann[i + 1]!);
    }
  }
  for (let k = 0; k < kept; k++) {
    const key = strings.nameBytes(span.tags![tagKeep[k]!]!, span);
    const value = tagValues[k]!;
    const inner =
      1 + varintSize(key.length) + key.length + 1 + varintSize(value.length) + value.length;
    out.tagLen(11, inner);
    out.tagLen(1, key.length);
    out.bytes(key);
    out.tagLen(2, value.length);
    out.bytes(value);
  }
  tagValues.length = 0;
  if (span.debug) {
    out.byte(0x60);
    out.byte(1);
  }
  out.byte(0xa0);
  out.byte(0x06);
  out.byte(span.level);
  out.bytes(ctx.nodeProto);
  if (out.pos !== end)
    throw new Error(`proto3: span size ${size} but wrote ${size + out.pos - end}`);
}

/** Zipkin v2 proto3 ListOfSpans. `out` is reused across batches when given. */
export function encodeProto3(
  spans: readonly AssembledSpan[],
  ctx: EncodeContext,
  out = new Out(Math.max(1024, spans.length * 256)),
): Buffer {
  out.pos = 0;
  for (const span of spans) writeSpan(out, span, ctx);
  return out.finish();
}

// ---- JSON --------------------------------------------------------------------------------------

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? '0' : '') + i.toString(16));

function hexWord(w: number): string {
  return HEX[w >>> 24]! + HEX[(w >>> 16) & 255]! + HEX[(w >>> 8) & 255]! + HEX[w & 255]!;
}

export function traceHex(span: AssembledSpan): string {
  const low = hexWord(span.t2) + hexWord(span.t3);
  return span.t0 === 0 && span.t1 === 0 ? low : hexWord(span.t0) + hexWord(span.t1) + low;
}

function endpointJson(raw: Endpoint): string {
  return JSON.stringify(canonicalEndpoint(raw));
}

function spanJson(span: AssembledSpan, ctx: EncodeContext): string {
  const strings = ctx.strings;
  let s = `{"traceId":"${traceHex(span)}"`;
  if (span.p0 !== 0 || span.p1 !== 0) s += `,"parentId":"${hexWord(span.p0)}${hexWord(span.p1)}"`;
  s += `,"id":"${hexWord(span.s0)}${hexWord(span.s1)}"`;
  if (span.kind !== 0) s += `,"kind":"${KINDS[span.kind]}"`;
  s += `,"name":${ctx.jsonName(span.name, span)}`;
  s += `,"timestamp":${ctx.micros(span.start)},"duration":${Math.max(1, Math.round((span.end - span.start) * 1000))}`;
  s += `,"localEndpoint":${ctx.localJson}`;
  if (span.remote !== undefined)
    s += `,"remoteEndpoint":${endpointJson(remoteEndpoint(span, strings))}`;
  const ann = span.ann;
  if (ann !== undefined) {
    s += ',"annotations":[';
    for (let i = 0; i < ann.length; i += 3) {
      if (i > 0) s += ',';
      s += `{"timestamp":${ctx.micros(ann[i]!)},"value":${ctx.jsonString(ann[i + 2]!, span)},"level":${ann[i + 1]}}`;
    }
    s += ']';
  }
  if (span.tags !== undefined) {
    const kept = keptTags(span, strings);
    s += ',"tags":{';
    for (let k = 0; k < kept; k++) {
      const i = tagKeep[k]!;
      if (k > 0) s += ',';
      const type = span.tags[i + 1]!;
      s += ctx.jsonName(span.tags[i]!, span) + ':';
      s +=
        type === 0
          ? ctx.jsonString(span.tags[i + 2]!, span)
          : JSON.stringify(tagText(span, i, strings));
    }
    s += '}';
  }
  if (span.debug) s += ',"debug":true';
  s += `,"level":${span.level},"node":${ctx.nodeJson}}`;
  return s;
}

/** Zipkin v2 JSON (a list of spans), as UTF-8. */
export function encodeJson(spans: readonly AssembledSpan[], ctx: EncodeContext): Buffer {
  let s = '[';
  for (let i = 0; i < spans.length; i++) {
    if (i > 0) s += ',';
    s += spanJson(spans[i]!, ctx);
  }
  return Buffer.from(s + ']', 'utf8');
}

/** Plain objects, for custom exporters. */
export function toExported(span: AssembledSpan, ctx: EncodeContext): ExportedSpan {
  const strings = ctx.strings;
  const out: ExportedSpan = {
    traceId: traceHex(span),
    id: hexWord(span.s0) + hexWord(span.s1),
    name: strings.name(span.name, span),
    timestamp: ctx.micros(span.start),
    duration: Math.max(1, Math.round((span.end - span.start) * 1000)),
    localEndpoint: canonicalEndpoint(ctx.local.endpoint),
    level: span.level,
    node: ctx.local.node,
  };
  if (span.p0 !== 0 || span.p1 !== 0) out.parentId = hexWord(span.p0) + hexWord(span.p1);
  if (span.kind !== 0) out.kind = KINDS[span.kind]!;
  if (span.remote !== undefined) out.remoteEndpoint = remoteEndpoint(span, strings);
  if (span.ann !== undefined) {
    out.annotations = [];
    for (let i = 0; i < span.ann.length; i += 3)
      out.annotations.push({
        timestamp: ctx.micros(span.ann[i]!),
        value: strings.get(span.ann[i + 2]!, span),
        level: span.ann[i + 1]!,
      });
  }
  if (span.tags !== undefined) {
    out.tags = {};
    for (let i = 0; i < span.tags.length; i += 3) {
      // defineProperty: a key such as "__proto__" stays a key.
      Object.defineProperty(out.tags, strings.name(span.tags[i]!, span), {
        value: tagText(span, i, strings),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  if (span.debug) out.debug = true;
  return out;
}

// ---- addresses ---------------------------------------------------------------------------------

export function parseIpv4(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

export function parseIpv6(text: string): Buffer | undefined {
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  const halves = t.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.includes('.')) {
        const v4 = parseIpv4(item);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(item)) return undefined;
        out.push(parseInt(item, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
