import {
  F64_DROPPED_ORPHAN,
  F64_DROPPED_UNFINISHED,
  F64_TIME_ORIGIN,
  MAX_STRING_ID,
  NONE,
  TEMP_A,
  T_ANNOTATE,
  T_END,
  T_PAD,
  T_REMOTE,
  T_START,
  T_STRING,
  T_TAG_BOOL,
  T_TAG_NUM,
  T_TAG_STR,
  drainRing,
  type RingViews,
} from './ring.js';

export const TAG_STRING = 0;
/** Longest name, service name or tag key sent (collectors reject longer ones). */
export const MAX_NAME = 256;
/** Most annotations and tags kept per span (collectors reject more). */
export const MAX_ANNOTATIONS = 1024;
export const MAX_TAGS = 256;
export const TAG_NUMBER = 1;
export const TAG_BOOLEAN = 2;

/**
 * A span being assembled from its events (and, once ended, waiting to be encoded). Strings are
 * ids: ≥ 0 into the consumer's table of interned strings, < 0 into the span's own `temps`.
 */
export class AssembledSpan {
  seq: number;
  t0: number;
  t1: number;
  t2: number;
  t3: number;
  s0: number;
  s1: number;
  p0: number;
  p1: number;
  name: number;
  kind: number;
  level: number;
  debug: boolean;
  /** Event clock of the producer (ms, see ring.ts) */
  start: number;
  end = 0;
  /** Triples: time, level, string id. */
  ann: number[] | undefined = undefined;
  /** Triples: key id, TAG_* type, value (string id, number, 0/1). */
  tags: number[] | undefined = undefined;
  /** service id or NONE, ip id or NONE, port (0: none). */
  remote: number[] | undefined = undefined;
  temps: string[] | undefined = undefined;

  constructor(u32: Uint32Array, r64: Float64Array, at: number) {
    const hdr = u32[at]!;
    this.seq = u32[at + 1]!;
    this.start = r64[(at + 2) >> 1]!;
    this.level = Math.min(7, (hdr >>> 8) & 15);
    this.kind = (hdr >>> 12) & 7;
    this.debug = (hdr & 0x8000) !== 0;
    this.t0 = u32[at + 4]!;
    this.t1 = u32[at + 5]!;
    this.t2 = u32[at + 6]!;
    this.t3 = u32[at + 7]!;
    this.s0 = u32[at + 8]!;
    this.s1 = u32[at + 9]!;
    this.p0 = u32[at + 10]!;
    this.p1 = u32[at + 11]!;
    this.name = 0;
  }
}

/** Interned strings as the consumer knows them, with their UTF-8 bytes once an encoder asked. */
export class StringTable {
  readonly values: string[] = [];
  readonly utf8: (Buffer | undefined)[] = [];
  tempA = '';
  tempB = '';

  get(id: number, span: AssembledSpan): string {
    return id >= 0 ? (this.values[id] ?? '') : span.temps![-id - 1]!;
  }

  /** A name, service name or tag key: at most MAX_NAME characters (Zipkin's and blkkin's limit). */
  name(id: number, span: AssembledSpan): string {
    const text = this.get(id, span);
    return text.length <= MAX_NAME ? text : text.slice(0, MAX_NAME);
  }

  nameBytes(id: number, span: AssembledSpan): Buffer {
    const text = this.get(id, span);
    return text.length <= MAX_NAME ? this.bytes(id, span) : Buffer.from(text.slice(0, MAX_NAME));
  }

  bytes(id: number, span: AssembledSpan): Buffer {
    if (id >= 0) {
      let b = this.utf8[id];
      if (b === undefined) b = this.utf8[id] = Buffer.from(this.values[id] ?? '', 'utf8');
      return b;
    }
    return Buffer.from(span.temps![-id - 1]!, 'utf8');
  }
}

/**
 * Turns ring records into spans. Spans end up in `finished` in the order they ended; a span whose
 * start was lost is not assembled (its events count as orphans); a span that never ends is dropped
 * after maxSpanAge (counted as unfinished).
 */
export class Assembler {
  readonly strings = new StringTable();
  readonly pending = new Map<number, AssembledSpan>();
  finished: AssembledSpan[] = [];
  /** Latest event time seen, producer clock (ms). */
  now = 0;
  readonly timeOrigin: number;

  constructor(
    readonly views: RingViews,
    readonly maxSpanAge = 600_000,
    readonly maxPending = 200_000,
  ) {
    this.timeOrigin = views.f64[F64_TIME_ORIGIN]!;
  }

  /** Reads every published record; returns the number read. */
  drain(): number {
    return drainRing(this.views, this.visit);
  }

  private resolve(id: number, span: AssembledSpan): number {
    if (id < MAX_STRING_ID || id === NONE) return id;
    const temps = (span.temps ??= []);
    temps.push(id === TEMP_A ? this.strings.tempA : this.strings.tempB);
    return -temps.length;
  }

  private orphan(): void {
    this.views.f64[F64_DROPPED_ORPHAN]! += 1;
  }

  readonly visit = (views: RingViews, at: number): void => {
    const u32 = views.u32;
    const hdr = u32[at]!;
    switch (hdr & 0xff) {
      case T_PAD:
        return;
      case T_STRING: {
        const id = u32[at + 1]!;
        const start = (at + 3) * 4;
        const value = views.bytes.toString('utf8', start, start + u32[at + 2]!);
        if (id === TEMP_A) this.strings.tempA = value;
        else if (id < MAX_STRING_ID) {
          this.strings.values[id] = value;
          this.strings.utf8[id] = undefined;
        } else this.strings.tempB = value;
        return;
      }
      case T_START: {
        const span = new AssembledSpan(u32, views.r64, at);
        span.name = this.resolve(u32[at + 12]!, span);
        if (span.start > this.now) this.now = span.start;
        this.pending.set(span.seq, span);
        if (this.pending.size > this.maxPending) {
          const oldest = this.pending.keys().next().value!;
          this.pending.delete(oldest);
          views.f64[F64_DROPPED_UNFINISHED]! += 1;
        }
        return;
      }
      case T_ANNOTATE: {
        const span = this.pending.get(u32[at + 1]!);
        if (span === undefined) return this.orphan();
        const time = views.r64[(at + 2) >> 1]!;
        if (span.ann !== undefined && span.ann.length >= MAX_ANNOTATIONS * 3) return;
        const value = this.resolve(u32[at + 4]!, span);
        // Collectors reject empty annotation values (and the whole batch with them).
        if (this.strings.get(value, span) === '') return;
        (span.ann ??= []).push(time, Math.min(7, (hdr >>> 8) & 15), value);
        return;
      }
      case T_TAG_STR:
      case T_TAG_BOOL:
      case T_TAG_NUM: {
        const span = this.pending.get(u32[at + 1]!);
        if (span === undefined) return this.orphan();
        const type = hdr & 0xff;
        const key = this.resolve(u32[at + 2]!, span);
        if (this.strings.get(key, span) === '') return; // collectors reject empty keys
        const tags = (span.tags ??= []);
        if (tags.length >= MAX_TAGS * 3) return;
        if (type === T_TAG_STR) tags.push(key, TAG_STRING, this.resolve(u32[at + 3]!, span));
        else if (type === T_TAG_BOOL) tags.push(key, TAG_BOOLEAN, u32[at + 3]!);
        else tags.push(key, TAG_NUMBER, views.r64[(at + 4) >> 1]!);
        return;
      }
      case T_REMOTE: {
        const span = this.pending.get(u32[at + 1]!);
        if (span === undefined) return this.orphan();
        span.remote = [
          this.resolve(u32[at + 2]!, span),
          this.resolve(u32[at + 3]!, span),
          u32[at + 4]!,
        ];
        return;
      }
      case T_END: {
        const seq = u32[at + 1]!;
        const span = this.pending.get(seq);
        if (span === undefined) return this.orphan();
        this.pending.delete(seq);
        span.end = views.r64[(at + 2) >> 1]!;
        if (span.end > this.now) this.now = span.end;
        this.finished.push(span);
        return;
      }
      default:
        throw new Error(`ring: unknown record type ${hdr & 0xff}`);
    }
  };

  /** Drops spans started more than maxSpanAge before the latest event; returns how many. */
  sweep(): number {
    const limit = this.now - this.maxSpanAge;
    let dropped = 0;
    for (const [seq, span] of this.pending) {
      if (span.start >= limit) break;
      this.pending.delete(seq);
      dropped++;
    }
    if (dropped > 0) this.views.f64[F64_DROPPED_UNFINISHED]! += dropped;
    return dropped;
  }

  /** Hands over the finished spans. */
  take(): AssembledSpan[] {
    const out = this.finished;
    this.finished = [];
    return out;
  }

  /** Epoch microseconds of a producer time. */
  micros(time: number): number {
    return Math.round((this.timeOrigin + time) * 1000);
  }
}
