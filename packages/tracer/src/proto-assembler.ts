import { MAX_ANNOTATIONS, MAX_NAME, MAX_TAGS } from './assembler.js';
import { encodeEndpoint, varintSize, type LocalInfo } from './encode.js';
import type { Endpoint } from './options.js';
import {
  F64_DROPPED_ORPHAN,
  F64_DROPPED_UNFINISHED,
  F64_TIME_ORIGIN,
  MAX_STRING_ID,
  NONE,
  TEMP_A,
  TEMP_B,
  T_ANNOTATE,
  T_END,
  T_PAD,
  T_REMOTE,
  T_START,
  T_STRING,
  T_TAG_BOOL,
  T_TAG_NUM,
  T_TAG_STR,
  CTRL_READ,
  CTRL_WRITE,
  LEN_END,
  LEN_START,
  POS_MASK,
  type RingViews,
} from './ring.js';

/**
 * The fast path from ring records to Zipkin v2 proto3 (the agent's and the collectors' format):
 * every event is encoded as it is read, straight into its span's bytes; when the span ends its
 * bytes are appended to the batch. No object per span or per event in the common case.
 *
 * A span in progress lives in a slot (seq mod SLOTS) of a byte arena, SLOT_BYTES each, with its
 * length, start time and counts in typed arrays. A span that outgrows its slot, or whose slot is
 * wanted by a newer span, moves to a growable buffer of its own (`external`). Proto3 lets fields
 * come in any order: START writes the ids, kind, name, timestamp, level and debug flag; each
 * annotation, tag and remote endpoint appends its field; END appends duration, local endpoint and
 * node, and the span is complete.
 */

const SLOTS = 4096;
const SLOT_MASK = SLOTS - 1;
const SLOT_BYTES = 256;
const TAIL_BYTES = 1024;
const STRING_BYTES = 1024 * 1024;
const TWO32 = 4294967296;

class External {
  buf: Buffer;
  dv: DataView;
  len = 0;
  constructor(
    readonly seq: number,
    readonly start: number,
    public annotations: number,
    public tags: number,
    size: number,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(512, size));
    this.dv = viewOf(this.buf);
  }
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    this.dv = viewOf(next);
  }
}

export interface ProtoBatch {
  body: Buffer;
  count: number;
}

export class ProtoAssembler {
  // Slots, the END tail, the batch being built and the interned strings share one ArrayBuffer,
  // so that copies between them are copyWithin (a memmove, no view to allocate).
  private readonly mem: ArrayBuffer;
  private readonly m8: Uint8Array;
  // Interned strings: UTF-8 bytes in an arena.
  private strBytes: Buffer;
  private strUsed = 0;
  private strOff = new Int32Array(1024);
  private strLen = new Int32Array(1024).fill(-1);
  /** Names, service names and keys longer than MAX_NAME characters, cut (by id). */
  private readonly cutNames = new Map<number, Buffer>();
  // Temporary strings: where their bytes are in the ring (valid until the drain ends).
  private tempAOff = 0;
  private tempALen = 0;
  private tempBOff = 0;
  private tempBLen = 0;
  // Spans in progress.
  private readonly arena: Buffer;
  private readonly arenaDv: DataView;
  private readonly outCap: number;
  /** Where `out`, the interned strings and the tail start in `mem` (-1: moved out of it). */
  private outBase: number;
  private strBase: number;
  private tailBase = -1;
  private readonly slotUsed = new Uint8Array(SLOTS);
  private readonly slotSeq = new Uint32Array(SLOTS);
  private readonly slotLen = new Int32Array(SLOTS);
  private readonly slotStart = new Float64Array(SLOTS);
  private readonly slotAnn = new Uint16Array(SLOTS);
  private readonly slotTags = new Uint16Array(SLOTS);
  /** Trace id (4 words), span id (2), parent id (2) of each slot's span. */
  private readonly slotIds = new Uint32Array(SLOTS * 8);
  /** The START header (kind, level, debug) and the interned name (-1: none, or among the bytes). */
  private readonly slotHdr = new Uint32Array(SLOTS);
  private readonly slotName = new Int32Array(SLOTS);
  private readonly external = new Map<number, External>();
  // Finished spans.
  private out: Buffer;
  private outDv: DataView;
  private outPos = 0;
  private outCount = 0;
  private readonly ready: ProtoBatch[] = [];
  private readonly tail: Buffer;
  /** Epoch ms of the producer's clock zero (same arithmetic as the general path). */
  private readonly origin: number;
  /** Latest event time seen (producer clock, ms). */
  now = 0;
  private readonly bytes: Buffer;

  constructor(
    readonly views: RingViews,
    local: LocalInfo,
    readonly batchSize = 2000,
    readonly maxSpanAge = 600_000,
  ) {
    this.origin = views.f64[F64_TIME_ORIGIN]!;
    this.bytes = views.bytes;
    const arena = SLOTS * SLOT_BYTES;
    this.outCap = Math.max(256 * 1024, batchSize * 200);
    this.mem = new ArrayBuffer(arena + TAIL_BYTES + this.outCap + STRING_BYTES);
    this.m8 = new Uint8Array(this.mem);
    this.arena = Buffer.from(this.mem, 0, arena);
    this.arenaDv = viewOf(this.arena);
    this.outBase = arena + TAIL_BYTES;
    this.out = Buffer.from(this.mem, this.outBase, this.outCap);
    this.outDv = viewOf(this.out);
    this.strBase = arena + TAIL_BYTES + this.outCap;
    this.strBytes = Buffer.from(this.mem, this.strBase, STRING_BYTES);
    // What END appends to every span: local endpoint (8) and node (101).
    const ep = encodeEndpoint(local.endpoint);
    const node = Buffer.from(local.node, 'utf8');
    const tail = Buffer.allocUnsafe(ep.length + node.length + 12);
    let p = 0;
    tail[p++] = 0x42;
    p = writeVarint(tail, p, ep.length);
    ep.copy(tail, p);
    p += ep.length;
    tail[p++] = 0xaa;
    tail[p++] = 0x06;
    p = writeVarint(tail, p, node.length);
    node.copy(tail, p);
    p += node.length;
    const tailAt = arena;
    if (p > TAIL_BYTES) this.tail = tail.subarray(0, p);
    else {
      tail.copy(this.m8, tailAt, 0, p);
      this.tail = Buffer.from(this.mem, tailAt, p);
      this.tailBase = tailAt;
    }
  }

  /** Copies len bytes within `mem` (absolute offsets): a memmove, or a loop when short. */
  private memmove(to: number, from: number, len: number): void {
    const m8 = this.m8;
    if (len > 24) m8.copyWithin(to, from, from + len);
    else for (let i = 0; i < len; i++) m8[to + i] = m8[from + i]!;
  }

  /** Copies len bytes between buffers (one of them outside `mem`). */
  private static copyBytes(src: Buffer, from: number, dst: Buffer, to: number, len: number): void {
    if (len <= 32) for (let i = 0; i < len; i++) dst[to + i] = src[from + i]!;
    else src.copy(dst, to, from, from + len);
  }

  /** Reads every published record, then releases the space to the producer; returns how many. */
  drain(): number {
    const views = this.views;
    const { ctrl, u32, r64, mask } = views;
    const write = Atomics.load(ctrl, CTRL_WRITE);
    let read = Atomics.load(ctrl, CTRL_READ);
    let count = 0;
    while (read !== write) {
      const at = read & mask;
      const hdr = u32[at]!;
      const len = hdr >>> 16;
      if (len === 0) throw new Error(`ring: zero-length record at ${at}`);
      switch (hdr & 0xff) {
        case T_PAD:
          break;
        case T_STRING:
          this.define(u32[at + 1]!, at);
          break;
        case T_START: {
          const next = this.direct(u32, r64, read, write);
          if (next >= 0) {
            count++;
            read = next;
            continue;
          }
          this.start(u32, r64, at);
          break;
        }
        case T_ANNOTATE:
          this.annotate(u32, r64, at);
          break;
        case T_TAG_STR:
          this.tag(u32, r64, at, T_TAG_STR);
          break;
        case T_TAG_BOOL:
          this.tag(u32, r64, at, T_TAG_BOOL);
          break;
        case T_TAG_NUM:
          this.tag(u32, r64, at, T_TAG_NUM);
          break;
        case T_END:
          this.end(u32, r64, at);
          break;
        case T_REMOTE:
          this.remote(u32, at);
          break;
        default:
          throw new Error(`ring: unknown record type ${hdr & 0xff}`);
      }
      count++;
      read = (read + len) & POS_MASK;
    }
    Atomics.store(ctrl, CTRL_READ, read);
    return count;
  }

  /** Spans finished and not yet taken. */
  get finished(): number {
    return this.outCount + this.ready.reduce((n, b) => n + b.count, 0);
  }

  /** Full batches. */
  takeFull(): ProtoBatch[] {
    return this.ready.splice(0, this.ready.length);
  }

  /** Every finished span, in batches. */
  takeAll(): ProtoBatch[] {
    if (this.outCount > 0) this.closeBatch();
    return this.takeFull();
  }

  /** Spans in progress. */
  get pending(): number {
    let n = this.external.size;
    for (let i = 0; i < SLOTS; i++) n += this.slotUsed[i]!;
    return n;
  }

  /** Drops spans started more than maxSpanAge before the latest event; returns how many. */
  sweep(): number {
    const limit = this.now - this.maxSpanAge;
    let dropped = 0;
    for (let i = 0; i < SLOTS; i++) {
      if (this.slotUsed[i] === 1 && this.slotStart[i]! < limit) {
        this.slotUsed[i] = 0;
        dropped++;
      }
    }
    for (const [seq, ext] of this.external) {
      if (ext.start < limit) {
        this.external.delete(seq);
        dropped++;
      }
    }
    if (dropped > 0) this.views.f64[F64_DROPPED_UNFINISHED]! += dropped;
    return dropped;
  }

  private closeBatch(): void {
    const body = Buffer.allocUnsafe(this.outPos);
    this.out.copy(body, 0, 0, this.outPos);
    this.ready.push({ body, count: this.outCount });
    if (this.outBase < 0) {
      // Back from a batch of one oversized span to the shared area.
      this.outBase = SLOTS * SLOT_BYTES + TAIL_BYTES;
      this.out = Buffer.from(this.mem, this.outBase, this.outCap);
      this.outDv = viewOf(this.out);
    }
    this.outPos = 0;
    this.outCount = 0;
  }

  // ---- strings ---------------------------------------------------------------------------

  private define(id: number, at: number): void {
    const len = this.views.u32[at + 2]!;
    const from = (at + 3) * 4;
    if (id === TEMP_A) {
      this.tempAOff = from;
      this.tempALen = len;
      return;
    }
    if (id === TEMP_B) {
      this.tempBOff = from;
      this.tempBLen = len;
      return;
    }
    if (id >= MAX_STRING_ID) return;
    if (id >= this.strOff.length) {
      let size = this.strOff.length * 2;
      while (size <= id) size *= 2;
      const off = new Int32Array(size);
      off.set(this.strOff);
      const lens = new Int32Array(size).fill(-1);
      lens.set(this.strLen);
      this.strOff = off;
      this.strLen = lens;
    }
    if (this.strUsed + len > this.strBytes.length) {
      let size = this.strBytes.length * 2;
      while (size < this.strUsed + len) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.strBytes.copy(next, 0, 0, this.strUsed);
      this.strBytes = next;
      this.strBase = -1; // no longer in mem
    }
    ProtoAssembler.copyBytes(this.bytes, from, this.strBytes, this.strUsed, len);
    this.strOff[id] = this.strUsed;
    this.strLen[id] = len;
    this.strUsed += len;
    this.cutNames.delete(id);
  }

  /** UTF-8 length of a string id (-1: unknown id). */
  private len(id: number): number {
    if (id === TEMP_A) return this.tempALen;
    if (id === TEMP_B) return this.tempBLen;
    return id < this.strLen.length ? this.strLen[id]! : -1;
  }

  /**
   * Copies string `id` to buf at pos; returns the new position. `base`: where buf starts in `mem`
   * (-1: buf is not in mem).
   */
  private copy(id: number, buf: Buffer, pos: number, len: number, base: number): number {
    if (base >= 0 && id < MAX_STRING_ID && this.strBase >= 0) {
      this.memmove(base + pos, this.strBase + this.strOff[id]!, len);
      return pos + len;
    }
    let src: Buffer;
    let from: number;
    if (id === TEMP_A) {
      src = this.bytes;
      from = this.tempAOff;
    } else if (id === TEMP_B) {
      src = this.bytes;
      from = this.tempBOff;
    } else {
      src = this.strBytes;
      from = this.strOff[id]!;
    }
    ProtoAssembler.copyBytes(src, from, buf, pos, len);
    return pos + len;
  }

  private text(id: number): string {
    const len = this.len(id);
    if (len <= 0) return '';
    if (id === TEMP_A) return this.bytes.toString('utf8', this.tempAOff, this.tempAOff + len);
    if (id === TEMP_B) return this.bytes.toString('utf8', this.tempBOff, this.tempBOff + len);
    const from = this.strOff[id]!;
    return this.strBytes.toString('utf8', from, from + len);
  }

  /** A name or key longer than MAX_NAME bytes, cut at MAX_NAME characters (undefined: fits). */
  private cut(id: number): Buffer | undefined {
    if (this.len(id) <= MAX_NAME) return undefined;
    if (id < MAX_STRING_ID) {
      const cached = this.cutNames.get(id);
      if (cached !== undefined) return cached;
    }
    const text = this.text(id);
    const out = Buffer.from(text.length <= MAX_NAME ? text : text.slice(0, MAX_NAME), 'utf8');
    if (id < MAX_STRING_ID) this.cutNames.set(id, out);
    return out;
  }

  // ---- spans -----------------------------------------------------------------------------

  /** Bytes of the fixed fields of the span in `slot` (ids, kind, name, timestamp, debug, level). */
  private fixedSize(slot: number): number {
    const ids = this.slotIds;
    const b = slot * 8;
    let size = ids[b] !== 0 || ids[b + 1] !== 0 ? 18 : 10;
    if (ids[b + 6] !== 0 || ids[b + 7] !== 0) size += 10;
    size += 10 + 9 + 3;
    const hdr = this.slotHdr[slot]!;
    if ((hdr & 0x7000) !== 0) size += 2;
    if ((hdr & 0x8000) !== 0) size += 2;
    const name = this.slotName[slot]!;
    if (name >= 0) {
      const len = this.strLen[name]!;
      size += 1 + varintSize(len) + len;
    }
    return size;
  }

  /** Writes the fixed fields of the span in `slot` at p; returns the new position. */
  private writeFixed(buf: Buffer, dv: DataView, p: number, slot: number, base: number): number {
    const ids = this.slotIds;
    const b = slot * 8;
    const hdr = this.slotHdr[slot]!;
    // 1 trace_id
    buf[p++] = 0x0a;
    if (ids[b] !== 0 || ids[b + 1] !== 0) {
      buf[p++] = 16;
      dv.setUint32(p, ids[b]!);
      dv.setUint32(p + 4, ids[b + 1]!);
      p += 8;
    } else buf[p++] = 8;
    dv.setUint32(p, ids[b + 2]!);
    dv.setUint32(p + 4, ids[b + 3]!);
    p += 8;
    // 2 parent_id
    if (ids[b + 6] !== 0 || ids[b + 7] !== 0) {
      buf[p++] = 0x12;
      buf[p++] = 8;
      dv.setUint32(p, ids[b + 6]!);
      dv.setUint32(p + 4, ids[b + 7]!);
      p += 8;
    }
    // 3 id
    buf[p++] = 0x1a;
    buf[p++] = 8;
    dv.setUint32(p, ids[b + 4]!);
    dv.setUint32(p + 4, ids[b + 5]!);
    p += 8;
    // 4 kind
    const kind = (hdr >>> 12) & 7;
    if (kind !== 0) {
      buf[p++] = 0x20;
      buf[p++] = kind;
    }
    // 5 name (interned; a temporary or cut name is among the span's other bytes)
    const name = this.slotName[slot]!;
    if (name >= 0) {
      const len = this.strLen[name]!;
      buf[p++] = 0x2a;
      p = writeVarint(buf, p, len);
      p = this.copy(name, buf, p, len, base);
    }
    // 6 timestamp
    buf[p++] = 0x31;
    p = fixed64(dv, p, Math.round((this.origin + this.slotStart[slot]!) * 1000));
    // 12 debug
    if ((hdr & 0x8000) !== 0) {
      buf[p++] = 0x60;
      buf[p++] = 1;
    }
    // 100 level
    buf[p++] = 0xa0;
    buf[p++] = 0x06;
    buf[p++] = Math.min(7, (hdr >>> 8) & 15);
    return p;
  }

  /** Moves the span in `slot` to a buffer of its own (fixed fields written out, then the rest). */
  private evict(slot: number): External {
    const len = this.slotLen[slot]!;
    const fixed = this.fixedSize(slot);
    const ext = new External(
      this.slotSeq[slot]!,
      this.slotStart[slot]!,
      this.slotAnn[slot]!,
      this.slotTags[slot]!,
      (fixed + len) * 2,
    );
    let p = this.writeFixed(ext.buf, ext.dv, 0, slot, -1);
    ProtoAssembler.copyBytes(this.arena, slot * SLOT_BYTES, ext.buf, p, len);
    p += len;
    ext.len = p;
    this.external.set(ext.seq, ext);
    this.slotUsed[slot] = 0;
    return ext;
  }

  // The span an event belongs to, with room for `need` more bytes: its slot (>= 0), or -1 with
  // `this.ext` set, or -2 when unknown.
  private ext: External | undefined = undefined;
  private find(seq: number, need: number): number {
    const slot = seq & SLOT_MASK;
    if (this.slotUsed[slot] === 1 && this.slotSeq[slot] === seq) {
      if (this.slotLen[slot]! + need <= SLOT_BYTES) return slot;
      this.ext = this.evict(slot);
      this.ext.ensure(need);
      return -1;
    }
    const ext = this.external.get(seq);
    if (ext === undefined) {
      this.views.f64[F64_DROPPED_ORPHAN]! += 1;
      return -2;
    }
    ext.ensure(need);
    this.ext = ext;
    return -1;
  }

  private start(u32: Uint32Array, r64: Float64Array, at: number): void {
    const hdr = u32[at]!;
    const seq = u32[at + 1]!;
    const time = r64[(at + 2) >> 1]!;
    if (time > this.now) this.now = time;
    const slot = seq & SLOT_MASK;
    if (this.slotUsed[slot] === 1) this.evict(slot);
    // The fixed fields stay numbers until the span ends (written once, into the batch).
    const ids = this.slotIds;
    const b = slot * 8;
    ids[b] = u32[at + 4]!;
    ids[b + 1] = u32[at + 5]!;
    ids[b + 2] = u32[at + 6]!;
    ids[b + 3] = u32[at + 7]!;
    ids[b + 4] = u32[at + 8]!;
    ids[b + 5] = u32[at + 9]!;
    ids[b + 6] = u32[at + 10]!;
    ids[b + 7] = u32[at + 11]!;
    this.slotHdr[slot] = hdr;
    this.slotUsed[slot] = 1;
    this.slotSeq[slot] = seq;
    this.slotLen[slot] = 0;
    this.slotStart[slot] = time;
    this.slotAnn[slot] = 0;
    this.slotTags[slot] = 0;
    const nameId = u32[at + 12]!;
    const nameLen = this.len(nameId);
    if (nameLen <= 0 || (nameId < MAX_STRING_ID && nameLen <= MAX_NAME)) {
      this.slotName[slot] = nameLen > 0 ? nameId : -1;
      return;
    }
    // A temporary name (its bytes are gone after this drain) or one to cut: a field of its own.
    this.slotName[slot] = -1;
    const cutName = this.cut(nameId);
    const len = cutName !== undefined ? cutName.length : nameLen;
    const need = 1 + varintSize(len) + len;
    let buf: Buffer;
    let p: number;
    let ext: External | undefined;
    if (need <= SLOT_BYTES) {
      buf = this.arena;
      p = slot * SLOT_BYTES;
    } else {
      ext = this.evict(slot);
      ext.ensure(need);
      buf = ext.buf;
      p = ext.len;
    }
    const from = p;
    buf[p++] = 0x2a;
    p = writeVarint(buf, p, len);
    if (cutName !== undefined) {
      cutName.copy(buf, p);
      p += len;
    } else p = this.copy(nameId, buf, p, len, ext === undefined ? 0 : -1);
    if (ext !== undefined) ext.len = p;
    else this.slotLen[slot] = p - from;
  }

  private annotate(u32: Uint32Array, r64: Float64Array, at: number): void {
    const id = u32[at + 4]!;
    const len = this.len(id);
    if (len <= 0) {
      if (len < 0) this.views.f64[F64_DROPPED_ORPHAN]! += 1;
      return; // collectors reject empty annotation values
    }
    const slot = this.find(u32[at + 1]!, 22 + len);
    if (slot === -2) return;
    if (slot >= 0) {
      if (this.slotAnn[slot]! >= MAX_ANNOTATIONS) return;
      this.slotAnn[slot]!++;
      const from = slot * SLOT_BYTES + this.slotLen[slot]!;
      const p = this.encAnnotation(this.arena, this.arenaDv, from, 0, u32, r64, at);
      this.slotLen[slot]! += p - from;
    } else {
      const ext = this.ext!;
      if (ext.annotations >= MAX_ANNOTATIONS) return;
      ext.annotations++;
      ext.len = this.encAnnotation(ext.buf, ext.dv, ext.len, -1, u32, r64, at);
    }
  }

  /** Writes the ANNOTATE record at `at` as an Annotation field (its value is not empty). */
  private encAnnotation(
    buf: Buffer,
    dv: DataView,
    p: number,
    base: number,
    u32: Uint32Array,
    r64: Float64Array,
    at: number,
  ): number {
    const id = u32[at + 4]!;
    const len = this.len(id);
    buf[p++] = 0x52;
    p = writeVarint(buf, p, 9 + 1 + varintSize(len) + len + 3);
    buf[p++] = 0x09;
    p = fixed64(dv, p, Math.round((this.origin + r64[(at + 2) >> 1]!) * 1000));
    buf[p++] = 0x12;
    p = writeVarint(buf, p, len);
    p = this.copy(id, buf, p, len, base);
    buf[p++] = 0xa0;
    buf[p++] = 0x06;
    buf[p++] = Math.min(7, (u32[at]! >>> 8) & 15);
    return p;
  }

  /** Bytes a tag record's field takes at most; -1 when it is not to be sent (empty or unknown key). */
  private tagBound(u32: Uint32Array, at: number, type: number): number {
    const keyLen = this.len(u32[at + 2]!);
    if (keyLen <= 0) {
      if (keyLen < 0) this.views.f64[F64_DROPPED_ORPHAN]! += 1;
      return -1; // collectors reject empty keys
    }
    let valueLen = 25; // a number or a boolean in ASCII
    if (type === T_TAG_STR) {
      valueLen = this.len(u32[at + 3]!);
      if (valueLen < 0) {
        this.views.f64[F64_DROPPED_ORPHAN]! += 1;
        return -1;
      }
    }
    return 14 + keyLen + valueLen;
  }

  private tag(u32: Uint32Array, r64: Float64Array, at: number, type: number): void {
    const bound = this.tagBound(u32, at, type);
    if (bound < 0) return;
    const slot = this.find(u32[at + 1]!, bound);
    if (slot === -2) return;
    if (slot >= 0) {
      if (this.slotTags[slot]! >= MAX_TAGS) return;
      this.slotTags[slot]!++;
      const from = slot * SLOT_BYTES + this.slotLen[slot]!;
      this.slotLen[slot]! += this.encTag(this.arena, from, 0, u32, r64, at, type) - from;
    } else {
      const ext = this.ext!;
      if (ext.tags >= MAX_TAGS) return;
      ext.tags++;
      ext.len = this.encTag(ext.buf, ext.len, -1, u32, r64, at, type);
    }
  }

  /** Writes the tag record at `at` as a tags map entry (its key is not empty). */
  private encTag(
    buf: Buffer,
    p: number,
    base: number,
    u32: Uint32Array,
    r64: Float64Array,
    at: number,
    type: number,
  ): number {
    const keyId = u32[at + 2]!;
    let keyLen = this.len(keyId);
    const cutKey = keyLen > MAX_NAME ? this.cut(keyId) : undefined;
    if (cutKey !== undefined) keyLen = cutKey.length;
    // The value: a string id, or ASCII of a number or boolean.
    let valueId = -1;
    let ascii = '';
    let intValue = 0;
    let valueLen: number;
    if (type === T_TAG_STR) {
      valueId = u32[at + 3]!;
      valueLen = this.len(valueId);
    } else if (type === T_TAG_BOOL) {
      ascii = u32[at + 3] !== 0 ? 'true' : 'false';
      valueLen = ascii.length;
    } else {
      const n = r64[(at + 4) >> 1]!;
      if (n === (n | 0) && !(n === 0 && 1 / n < 0)) {
        valueId = -2; // a 32-bit integer, written digit by digit below
        intValue = n;
        valueLen = intLength(n);
      } else {
        ascii = String(n);
        valueLen = ascii.length;
      }
    }
    buf[p++] = 0x5a;
    p = writeVarint(buf, p, 1 + varintSize(keyLen) + keyLen + 1 + varintSize(valueLen) + valueLen);
    buf[p++] = 0x0a;
    p = writeVarint(buf, p, keyLen);
    if (cutKey !== undefined) {
      cutKey.copy(buf, p);
      p += keyLen;
    } else p = this.copy(keyId, buf, p, keyLen, base);
    buf[p++] = 0x12;
    p = writeVarint(buf, p, valueLen);
    if (valueId >= 0) p = this.copy(valueId, buf, p, valueLen, base);
    else if (valueId === -2) p = writeInt(buf, p, intValue, valueLen);
    else for (let i = 0; i < valueLen; i++) buf[p++] = ascii.charCodeAt(i);
    return p;
  }

  /**
   * A span whose events follow its START in the ring with no other span's in between (the common
   * case of synchronous work): encoded straight into the batch, without a slot. Returns the ring
   * position after its END, or -1 to take the general path.
   */
  private direct(u32: Uint32Array, r64: Float64Array, read: number, write: number): number {
    const mask = this.views.mask;
    const at0 = read & mask;
    const seq = u32[at0 + 1]!;
    const nameId = u32[at0 + 12]!;
    const nameLen = this.len(nameId);
    if (nameLen > MAX_NAME) return -1;
    // Scan: only this span's annotations and tags (and string definitions) up to its END.
    let bound = 80 + Math.max(0, nameLen) + this.tail.length;
    let q = (read + LEN_START) & POS_MASK;
    let end = -1;
    let events = 0;
    while (q !== write) {
      const a = q & mask;
      const h = u32[a]!;
      const t = h & 0xff;
      if (t === T_END) {
        if (u32[a + 1] !== seq) return -1;
        end = (q + LEN_END) & POS_MASK;
        break;
      }
      if (t === T_ANNOTATE) {
        if (u32[a + 1] !== seq) return -1;
        bound += 22 + Math.max(0, this.len(u32[a + 4]!));
      } else if (t === T_TAG_STR || t === T_TAG_BOOL || t === T_TAG_NUM) {
        if (u32[a + 1] !== seq) return -1;
        bound += 40 + Math.max(0, this.len(u32[a + 2]!));
        if (t === T_TAG_STR) bound += Math.max(0, this.len(u32[a + 3]!));
      } else if (t === T_STRING) bound += (h >>> 16) * 4;
      else if (t !== T_PAD) return -1;
      if (++events > 64) return -1;
      q = (q + (h >>> 16)) & POS_MASK;
    }
    if (end < 0) return -1;
    if (this.outPos + bound > this.out.length) {
      if (this.outCount === 0 || bound > this.outCap) return -1;
      this.closeBatch();
    }
    const out = this.out;
    const dv = this.outDv;
    const base = this.outBase;
    const head = this.outPos;
    // The body goes after the field key and 2 bytes of length, moved once its size is known.
    let p = head + 3;
    const hdr = u32[at0]!;
    const t0 = u32[at0 + 4]!;
    const t1 = u32[at0 + 5]!;
    out[p++] = 0x0a;
    if (t0 !== 0 || t1 !== 0) {
      out[p++] = 16;
      dv.setUint32(p, t0);
      dv.setUint32(p + 4, t1);
      p += 8;
    } else out[p++] = 8;
    dv.setUint32(p, u32[at0 + 6]!);
    dv.setUint32(p + 4, u32[at0 + 7]!);
    p += 8;
    const p0 = u32[at0 + 10]!;
    const p1 = u32[at0 + 11]!;
    if (p0 !== 0 || p1 !== 0) {
      out[p++] = 0x12;
      out[p++] = 8;
      dv.setUint32(p, p0);
      dv.setUint32(p + 4, p1);
      p += 8;
    }
    out[p++] = 0x1a;
    out[p++] = 8;
    dv.setUint32(p, u32[at0 + 8]!);
    dv.setUint32(p + 4, u32[at0 + 9]!);
    p += 8;
    const kind = (hdr >>> 12) & 7;
    if (kind !== 0) {
      out[p++] = 0x20;
      out[p++] = kind;
    }
    if (nameLen > 0) {
      out[p++] = 0x2a;
      p = writeVarint(out, p, nameLen);
      p = this.copy(nameId, out, p, nameLen, base);
    }
    const startTime = r64[(at0 + 2) >> 1]!;
    out[p++] = 0x31;
    p = fixed64(dv, p, Math.round((this.origin + startTime) * 1000));
    if ((hdr & 0x8000) !== 0) {
      out[p++] = 0x60;
      out[p++] = 1;
    }
    out[p++] = 0xa0;
    out[p++] = 0x06;
    out[p++] = Math.min(7, (hdr >>> 8) & 15);
    // The events, in order.
    q = (read + LEN_START) & POS_MASK;
    for (;;) {
      const a = q & mask;
      const h = u32[a]!;
      const t = h & 0xff;
      if (t === T_END) break;
      if (t === T_ANNOTATE) {
        if (this.len(u32[a + 4]!) > 0) p = this.encAnnotation(out, dv, p, base, u32, r64, a);
      } else if (t === T_STRING) this.define(u32[a + 1]!, a);
      else if (t !== T_PAD) {
        if (this.len(u32[a + 2]!) > 0) p = this.encTag(out, p, base, u32, r64, a, t);
      }
      q = (q + (h >>> 16)) & POS_MASK;
    }
    const endTime = r64[((q & mask) + 2) >> 1]!;
    if (endTime > this.now) this.now = endTime;
    out[p++] = 0x38;
    p = writeVarint(out, p, Math.max(1, Math.round((endTime - startTime) * 1000)));
    const tail = this.tail;
    if (base >= 0 && this.tailBase >= 0) this.memmove(base + p, this.tailBase, tail.length);
    else ProtoAssembler.copyBytes(tail, 0, out, p, tail.length);
    p += tail.length;
    // The length: 1 byte (move the body back by one), 2 bytes (in place), or 3 (forward by one).
    const size = p - (head + 3);
    out[head] = 0x0a;
    if (size < 0x80) {
      out[head + 1] = size;
      out.copyWithin(head + 2, head + 3, p);
      p--;
    } else if (size < 0x4000) {
      out[head + 1] = (size & 0x7f) | 0x80;
      out[head + 2] = size >>> 7;
    } else {
      out.copyWithin(head + 4, head + 3, p);
      writeVarint(out, head + 1, size);
      p++;
    }
    this.outPos = p;
    if (++this.outCount >= this.batchSize) this.closeBatch();
    return end;
  }

  private remote(u32: Uint32Array, at: number): void {
    const service = u32[at + 2]!;
    const ip = u32[at + 3]!;
    const ep: Endpoint = {};
    if (service !== NONE) ep.serviceName = this.text(service);
    if (ip !== NONE) {
      const text = this.text(ip);
      if (text.includes(':')) ep.ipv6 = text;
      else ep.ipv4 = text;
    }
    if (u32[at + 4]! !== 0) ep.port = u32[at + 4]!;
    const body = encodeEndpoint(ep);
    const slot = this.find(u32[at + 1]!, 1 + varintSize(body.length) + body.length);
    if (slot === -2) return;
    let buf: Buffer;
    let p: number;
    if (slot >= 0) {
      buf = this.arena;
      p = slot * SLOT_BYTES + this.slotLen[slot]!;
    } else {
      buf = this.ext!.buf;
      p = this.ext!.len;
    }
    const start = p;
    buf[p++] = 0x4a;
    p = writeVarint(buf, p, body.length);
    body.copy(buf, p);
    p += body.length;
    if (slot >= 0) this.slotLen[slot]! += p - start;
    else this.ext!.len = p;
  }

  private end(u32: Uint32Array, r64: Float64Array, at: number): void {
    const seq = u32[at + 1]!;
    const time = r64[(at + 2) >> 1]!;
    if (time > this.now) this.now = time;
    const slot = seq & SLOT_MASK;
    let src: Buffer;
    let from: number;
    let len: number;
    let startTime: number;
    let fixed = 0;
    if (this.slotUsed[slot] === 1 && this.slotSeq[slot] === seq) {
      src = this.arena;
      from = slot * SLOT_BYTES;
      len = this.slotLen[slot]!;
      startTime = this.slotStart[slot]!;
      fixed = this.fixedSize(slot);
      this.slotUsed[slot] = 0;
    } else {
      const ext = this.external.get(seq);
      if (ext === undefined) {
        this.views.f64[F64_DROPPED_ORPHAN]! += 1;
        return;
      }
      this.external.delete(seq);
      src = ext.buf;
      from = 0;
      len = ext.len;
      startTime = ext.start;
    }
    const duration = Math.max(1, Math.round((time - startTime) * 1000));
    const size = fixed + len + 1 + varintSize(duration) + this.tail.length;
    const need = 1 + varintSize(size) + size;
    if (this.outPos + need > this.out.length) {
      if (this.outCount > 0) this.closeBatch();
      if (need > this.out.length) {
        // One span larger than the whole area: a batch of its own.
        this.out = Buffer.allocUnsafe(need);
        this.outDv = viewOf(this.out);
        this.outBase = -1;
      }
    }
    const out = this.out;
    let p = this.outPos;
    out[p++] = 0x0a;
    p = writeVarint(out, p, size);
    const base = this.outBase;
    if (src === this.arena) {
      p = this.writeFixed(out, this.outDv, p, slot, base);
      if (base >= 0) this.memmove(base + p, from, len);
      else ProtoAssembler.copyBytes(src, from, out, p, len);
    } else ProtoAssembler.copyBytes(src, from, out, p, len);
    p += len;
    out[p++] = 0x38;
    p = writeVarint(out, p, duration);
    const tail = this.tail;
    if (base >= 0 && this.tailBase >= 0) this.memmove(base + p, this.tailBase, tail.length);
    else ProtoAssembler.copyBytes(tail, 0, out, p, tail.length);
    p += tail.length;
    this.outPos = p;
    if (++this.outCount >= this.batchSize) this.closeBatch();
  }
}

function writeVarint(buf: Buffer, p: number, n: number): number {
  while (n >= 0x80000000) {
    buf[p++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  while (n >= 0x80) {
    buf[p++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[p++] = n;
  return p;
}

/** Characters of a 32-bit integer in decimal. */
function intLength(n: number): number {
  let len = n < 0 ? 2 : 1;
  let v = n < 0 ? -n : n;
  while (v >= 10) {
    v = (v / 10) | 0;
    len++;
  }
  return len;
}

function writeInt(buf: Buffer, p: number, n: number, len: number): number {
  let v = n < 0 ? -n : n;
  if (n < 0) buf[p] = 0x2d;
  const first = n < 0 ? p + 1 : p;
  for (let i = p + len - 1; i >= first; i--) {
    const q = (v / 10) | 0;
    buf[i] = 0x30 + v - q * 10;
    v = q;
  }
  return p + len;
}

/** A DataView over a Buffer's bytes. */
function viewOf(buf: Buffer): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

function fixed64(dv: DataView, p: number, n: number): number {
  const lo = n >>> 0; // n mod 2^32 (n is a non-negative integer below 2^53)
  dv.setUint32(p, lo, true);
  dv.setUint32(p + 4, (n - lo) / TWO32, true);
  return p + 8;
}
