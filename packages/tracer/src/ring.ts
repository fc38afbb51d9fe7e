/**
 * The event ring: one SharedArrayBuffer per tracer, written by the application's thread (single
 * producer) and drained by one consumer (a worker thread or a deferred task on the same thread).
 *
 * Layout of the SharedArrayBuffer:
 *   bytes 0–63     Int32 control words (CTRL_*): write and read positions, in words, modulo 2^30
 *   bytes 64–255   Float64 slots (F64_*): the producer's clock anchor, the consumer's counters
 *   bytes 256–     the ring: `size` 32-bit words, size a power of two
 *
 * A record is a whole number of 8-byte units (so Float64 fields stay aligned) and never wraps: when
 * one does not fit before the end, a PAD record fills the rest and the record starts at 0. Word 0 of
 * every record is its header: type (bits 0–7), level (8–11), kind (12–14), debug (15), length in
 * words (16–31). Strings are referred to by id: an interned string is defined once by a STRING
 * record before its first use; a string that is not interned is defined just before the record that
 * uses it under one of two temporary ids (TEMP_A, TEMP_B), which later records redefine.
 *
 *   PAD      [hdr]                                        length = words to the end of the ring
 *   STRING   [hdr, id, byteLength, utf8…]                 padded to 8 bytes
 *   START    [hdr, seq, time f64, t0, t1, t2, t3, s0, s1, p0, p1, name, 0]            14 words
 *   ANNOTATE [hdr, seq, time f64, value, 0]                                            6 words
 *   TAG_STR  [hdr, seq, key, value]                                                    4 words
 *   TAG_BOOL [hdr, seq, key, 0 | 1]                                                    4 words
 *   TAG_NUM  [hdr, seq, key, 0, value f64]                                             6 words
 *   END      [hdr, seq, time f64]                                                      4 words
 *   REMOTE   [hdr, seq, service, ip, port, 0]   service/ip NONE when absent            6 words
 *
 * seq numbers a tracer's spans (modulo 2^32); time is milliseconds on the monotonic clock of
 * process.hrtime(); F64_TIME_ORIGIN holds the epoch milliseconds of that clock's zero.
 */

export const CTRL_WRITE = 0;
export const CTRL_READ = 1;
export const CTRL_MAGIC = 2;
export const CTRL_SIZE = 3;
/** Incremented by the producer when it wants the consumer to drain now (flush, ring half full). */
export const CTRL_WAKE = 4;

export const F64_TIME_ORIGIN = 0;
/** Consumer counters, read by tracer.stats(). */
export const F64_EXPORTED = 1;
export const F64_EXPORT_ERRORS = 2;
export const F64_DROPPED_UNFINISHED = 3;
export const F64_DROPPED_EXPORT = 4;
export const F64_DROPPED_ORPHAN = 5;
export const F64_BATCHES = 6;
export const F64_BYTES = 7;
export const F64_DROPPED_UNSENDABLE = 8;
export const F64_SLOTS = 24;

export const HEADER_BYTES = 256;
export const RING_MAGIC = 0x626b6b31; // "bkk1"

/** Positions count words modulo 2^30, so they stay small integers (V8 Smis). */
export const POS_MASK = 0x3fffffff;

export const T_PAD = 0;
export const T_STRING = 1;
export const T_START = 2;
export const T_ANNOTATE = 3;
export const T_TAG_STR = 4;
export const T_TAG_BOOL = 5;
export const T_TAG_NUM = 6;
export const T_END = 7;
export const T_REMOTE = 8;

export const LEN_START = 14;
export const LEN_ANNOTATE = 6;
export const LEN_TAG = 4;
export const LEN_TAG_NUM = 6;
export const LEN_END = 4;
export const LEN_REMOTE = 6;

/** Temporary string ids for strings that are not interned (two: a tag's key and its value). */
export const TEMP_A = 0xffffffff;
export const TEMP_B = 0xfffffffe;
/** "No string" in REMOTE records. */
export const NONE = 0xfffffffd;
/** Interned ids stay below this. */
export const MAX_STRING_ID = 0xfff00000;

/** Longest string recorded, in UTF-8 bytes (longer ones are cut at a character boundary). */
export const MAX_STRING_BYTES = 16 * 1024;

export const KIND_CODES = { CLIENT: 1, SERVER: 2, PRODUCER: 3, CONSUMER: 4 } as const;

export interface RingViews {
  sab: SharedArrayBuffer;
  ctrl: Int32Array;
  f64: Float64Array;
  /** The ring as words, as float64 (half the indexes) and as bytes; index 0 is the ring's start. */
  u32: Uint32Array;
  r64: Float64Array;
  bytes: Buffer;
  size: number;
  mask: number;
}

/** Epoch milliseconds of process.hrtime()'s zero (anchored once: the event clock stays monotonic). */
export function clockOrigin(): number {
  const h = process.hrtime();
  const epoch = performance.timeOrigin + performance.now();
  return epoch - (h[0] * 1e3 + h[1] * 1e-6);
}

/** Ring sizes are powers of two between 4 KiB and 256 MiB. */
export function ringWords(bytes: number): number {
  const want = Math.max(4096, Math.min(256 * 1024 * 1024, Math.floor(bytes))) / 4;
  let size = 1024;
  while (size < want) size *= 2;
  return size;
}

export function createRing(bufferBytes: number): RingViews {
  const size = ringWords(bufferBytes);
  const sab = new SharedArrayBuffer(HEADER_BYTES + size * 4);
  const views = ringViews(sab);
  views.ctrl[CTRL_MAGIC] = RING_MAGIC;
  views.ctrl[CTRL_SIZE] = size;
  views.f64[F64_TIME_ORIGIN] = clockOrigin();
  return views;
}

export function ringViews(sab: SharedArrayBuffer): RingViews {
  const size = (sab.byteLength - HEADER_BYTES) / 4;
  return {
    sab,
    ctrl: new Int32Array(sab, 0, 16),
    f64: new Float64Array(sab, 64, F64_SLOTS),
    u32: new Uint32Array(sab, HEADER_BYTES, size),
    r64: new Float64Array(sab, HEADER_BYTES, size / 2),
    bytes: Buffer.from(sab, HEADER_BYTES, size * 4),
    size,
    mask: size - 1,
  };
}

/** One decoded record (consumer side; string values are ids). */
export type RingEvent =
  | { type: 'pad' }
  | { type: 'string'; id: number; value: string }
  | {
      type: 'start';
      seq: number;
      time: number;
      level: number;
      kind: number;
      debug: boolean;
      t0: number;
      t1: number;
      t2: number;
      t3: number;
      s0: number;
      s1: number;
      p0: number;
      p1: number;
      name: number;
    }
  | { type: 'annotate'; seq: number; time: number; level: number; value: number }
  | { type: 'tag'; seq: number; key: number; value: number }
  | { type: 'tagBool'; seq: number; key: number; value: boolean }
  | { type: 'tagNum'; seq: number; key: number; value: number }
  | { type: 'end'; seq: number; time: number }
  | { type: 'remote'; seq: number; service: number; ip: number; port: number };

export function recordLength(header: number): number {
  return header >>> 16;
}

/** Decodes the record at word index `at` of the ring (which holds a whole record). */
export function decodeRecord(views: RingViews, at: number): RingEvent {
  const { u32, r64 } = views;
  const hdr = u32[at]!;
  const type = hdr & 0xff;
  switch (type) {
    case T_PAD:
      return { type: 'pad' };
    case T_STRING: {
      const start = (at + 3) * 4;
      return {
        type: 'string',
        id: u32[at + 1]!,
        value: views.bytes.toString('utf8', start, start + u32[at + 2]!),
      };
    }
    case T_START:
      return {
        type: 'start',
        seq: u32[at + 1]!,
        time: r64[(at + 2) >> 1]!,
        level: (hdr >>> 8) & 15,
        kind: (hdr >>> 12) & 7,
        debug: (hdr & 0x8000) !== 0,
        t0: u32[at + 4]!,
        t1: u32[at + 5]!,
        t2: u32[at + 6]!,
        t3: u32[at + 7]!,
        s0: u32[at + 8]!,
        s1: u32[at + 9]!,
        p0: u32[at + 10]!,
        p1: u32[at + 11]!,
        name: u32[at + 12]!,
      };
    case T_ANNOTATE:
      return {
        type: 'annotate',
        seq: u32[at + 1]!,
        time: r64[(at + 2) >> 1]!,
        level: (hdr >>> 8) & 15,
        value: u32[at + 4]!,
      };
    case T_TAG_STR:
      return { type: 'tag', seq: u32[at + 1]!, key: u32[at + 2]!, value: u32[at + 3]! };
    case T_TAG_BOOL:
      return { type: 'tagBool', seq: u32[at + 1]!, key: u32[at + 2]!, value: u32[at + 3]! !== 0 };
    case T_TAG_NUM:
      return { type: 'tagNum', seq: u32[at + 1]!, key: u32[at + 2]!, value: r64[(at + 4) >> 1]! };
    case T_END:
      return { type: 'end', seq: u32[at + 1]!, time: r64[(at + 2) >> 1]! };
    case T_REMOTE:
      return {
        type: 'remote',
        seq: u32[at + 1]!,
        service: u32[at + 2]!,
        ip: u32[at + 3]!,
        port: u32[at + 4]!,
      };
    default:
      throw new Error(`ring: unknown record type ${type} at ${at}`);
  }
}

/**
 * Reads every published record, oldest first, then releases the space to the producer. Returns
 * the number of records read. Single consumer.
 */
export function drainRing(views: RingViews, visit: (views: RingViews, at: number) => void): number {
  const { ctrl, u32, mask } = views;
  const write = Atomics.load(ctrl, CTRL_WRITE);
  let read = Atomics.load(ctrl, CTRL_READ);
  let count = 0;
  while (read !== write) {
    const at = read & mask;
    const len = u32[at]! >>> 16;
    if (len === 0) throw new Error(`ring: zero-length record at ${at}`);
    visit(views, at);
    count++;
    read = (read + len) & POS_MASK;
  }
  Atomics.store(ctrl, CTRL_READ, read);
  return count;
}
