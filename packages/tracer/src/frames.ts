/**
 * The tracer ↔ agent protocol over a Unix socket (docs/agent-protocol.md): versioned binary frames.
 *
 *   offset 0  2 bytes  magic 0x42 0x4b ("BK")
 *          2  1 byte   version (1)
 *          3  1 byte   type (FRAME_*)
 *          4  4 bytes  payload length, unsigned big-endian (at most MAX_PAYLOAD)
 *          8  …        payload
 *
 * HELLO and CONFIG payloads are fields: 1 byte id, 2 bytes length (big-endian), value; unknown ids
 * are skipped, so either side can add fields without a new version. A SPANS payload is a batch
 * sequence number (u32), a span count (u32), then the spans as a Zipkin v2 proto3 ListOfSpans.
 */

export const FRAME_MAGIC_0 = 0x42;
export const FRAME_MAGIC_1 = 0x4b;
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER = 8;
export const MAX_PAYLOAD = 64 * 1024 * 1024;

/** tracer → agent, first frame on every connection. */
export const FRAME_HELLO = 1;
/** tracer → agent: finished spans. */
export const FRAME_SPANS = 2;
/** agent → tracer: runtime configuration (level threshold, sampling of new traces). */
export const FRAME_CONFIG = 3;

export const HELLO_SERVICE = 1;
export const HELLO_NODE = 2;
export const HELLO_PID = 3;
export const HELLO_LIBRARY = 4;
export const HELLO_RUNTIME = 5;
export const HELLO_INSTANCE = 6;
export const HELLO_SPAN_FORMAT = 7;
/** HELLO_SPAN_FORMAT value: Zipkin v2 proto3 with blkkin's extension fields. */
export const SPAN_FORMAT_ZIPKIN_PROTO3 = 1;

export const CONFIG_LEVEL = 1;
export const CONFIG_PROBABILITY = 2;
export const CONFIG_PER_SECOND = 3;
export const CONFIG_PARENT_BASED = 4;

export interface Hello {
  service: string;
  node: string;
  pid: number;
  library: string;
  runtime: string;
  /** 16 hex digits, random per tracer instance. */
  instance: string;
  spanFormat: number;
}

export interface AgentConfig {
  level?: number;
  probability?: number;
  /** 0: no bound. */
  perSecond?: number;
  parentBased?: boolean;
}

export interface Frame {
  version: number;
  type: number;
  payload: Buffer;
}

export function frame(type: number, payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError('frame payload too large');
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  out[0] = FRAME_MAGIC_0;
  out[1] = FRAME_MAGIC_1;
  out[2] = PROTOCOL_VERSION;
  out[3] = type;
  out.writeUInt32BE(payload.length, 4);
  out.set(payload, FRAME_HEADER);
  return out;
}

/** The 8-byte header of a frame whose payload is sent separately. */
export function frameHeader(type: number, payloadLength: number): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER);
  out[0] = FRAME_MAGIC_0;
  out[1] = FRAME_MAGIC_1;
  out[2] = PROTOCOL_VERSION;
  out[3] = type;
  out.writeUInt32BE(payloadLength, 4);
  return out;
}

type FieldValue = string | number | Uint8Array;

function fields(entries: [number, 'utf8' | 'u8' | 'u32' | 'f64' | 'bytes', FieldValue][]): Buffer {
  const parts: Buffer[] = [];
  for (const [id, kind, value] of entries) {
    let body: Buffer;
    if (kind === 'utf8') body = Buffer.from(value as string, 'utf8').subarray(0, 0xffff);
    else if (kind === 'u8') body = Buffer.from([(value as number) & 255]);
    else if (kind === 'u32') {
      body = Buffer.alloc(4);
      body.writeUInt32BE((value as number) >>> 0);
    } else if (kind === 'f64') {
      body = Buffer.alloc(8);
      body.writeDoubleBE(value as number);
    } else body = Buffer.from(value as Uint8Array);
    const head = Buffer.alloc(3);
    head[0] = id;
    head.writeUInt16BE(body.length, 1);
    parts.push(head, body);
  }
  return Buffer.concat(parts);
}

function readFields(payload: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let at = 0;
  while (at + 3 <= payload.length) {
    const id = payload[at]!;
    const len = payload.readUInt16BE(at + 1);
    if (at + 3 + len > payload.length) throw new RangeError('truncated field');
    out.set(id, payload.subarray(at + 3, at + 3 + len));
    at += 3 + len;
  }
  if (at !== payload.length) throw new RangeError('truncated field header');
  return out;
}

export function encodeHello(hello: Hello): Buffer {
  return frame(
    FRAME_HELLO,
    fields([
      [HELLO_SERVICE, 'utf8', hello.service],
      [HELLO_NODE, 'utf8', hello.node],
      [HELLO_PID, 'u32', hello.pid],
      [HELLO_LIBRARY, 'utf8', hello.library],
      [HELLO_RUNTIME, 'utf8', hello.runtime],
      [HELLO_INSTANCE, 'bytes', Buffer.from(hello.instance.padStart(16, '0'), 'hex')],
      [HELLO_SPAN_FORMAT, 'u8', hello.spanFormat],
    ]),
  );
}

export function decodeHello(payload: Buffer): Hello {
  const f = readFields(payload);
  const text = (id: number) => f.get(id)?.toString('utf8') ?? '';
  const pid = f.get(HELLO_PID);
  return {
    service: text(HELLO_SERVICE),
    node: text(HELLO_NODE),
    pid: pid && pid.length === 4 ? pid.readUInt32BE(0) : 0,
    library: text(HELLO_LIBRARY),
    runtime: text(HELLO_RUNTIME),
    instance: f.get(HELLO_INSTANCE)?.toString('hex') ?? '',
    spanFormat: f.get(HELLO_SPAN_FORMAT)?.[0] ?? SPAN_FORMAT_ZIPKIN_PROTO3,
  };
}

export function encodeConfig(config: AgentConfig): Buffer {
  const entries: [number, 'u8' | 'f64', number][] = [];
  if (config.level !== undefined) entries.push([CONFIG_LEVEL, 'u8', config.level]);
  if (config.probability !== undefined)
    entries.push([CONFIG_PROBABILITY, 'f64', config.probability]);
  if (config.perSecond !== undefined) entries.push([CONFIG_PER_SECOND, 'f64', config.perSecond]);
  if (config.parentBased !== undefined)
    entries.push([CONFIG_PARENT_BASED, 'u8', config.parentBased ? 1 : 0]);
  return frame(FRAME_CONFIG, fields(entries));
}

export function decodeConfig(payload: Buffer): AgentConfig {
  const f = readFields(payload);
  const out: AgentConfig = {};
  const level = f.get(CONFIG_LEVEL);
  if (level?.length === 1 && level[0]! <= 7) out.level = level[0]!;
  const p = f.get(CONFIG_PROBABILITY);
  if (p?.length === 8) {
    const v = p.readDoubleBE(0);
    if (v >= 0 && v <= 1) out.probability = v;
  }
  const rate = f.get(CONFIG_PER_SECOND);
  if (rate?.length === 8) {
    const v = rate.readDoubleBE(0);
    if (v >= 0 && Number.isFinite(v)) out.perSecond = v;
  }
  const pb = f.get(CONFIG_PARENT_BASED);
  if (pb?.length === 1) out.parentBased = pb[0] !== 0;
  return out;
}

/** The payload prefix of a SPANS frame. */
export function spansPrefix(seq: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32BE(seq >>> 0, 0);
  out.writeUInt32BE(count >>> 0, 4);
  return out;
}

export function decodeSpansPayload(payload: Buffer): { seq: number; count: number; spans: Buffer } {
  if (payload.length < 8) throw new RangeError('short SPANS payload');
  return {
    seq: payload.readUInt32BE(0),
    count: payload.readUInt32BE(4),
    spans: payload.subarray(8),
  };
}

/** Splits a byte stream into frames. Throws on a bad magic, version or length. */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.buffered < FRAME_HEADER) break;
      const head = this.peek(FRAME_HEADER);
      if (head[0] !== FRAME_MAGIC_0 || head[1] !== FRAME_MAGIC_1)
        throw new Error('bad frame magic');
      const version = head[2]!;
      if (version !== PROTOCOL_VERSION) throw new Error(`unsupported protocol version ${version}`);
      const length = head.readUInt32BE(4);
      if (length > MAX_PAYLOAD) throw new Error('frame too large');
      if (this.buffered < FRAME_HEADER + length) break;
      const all = this.take(FRAME_HEADER + length);
      out.push({ version, type: head[3]!, payload: all.subarray(FRAME_HEADER) });
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined;
  }

  private take(n: number): Buffer {
    const joined = this.peek(n);
    const out = joined.subarray(0, n);
    const rest = joined.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= n;
    return out;
  }
}
