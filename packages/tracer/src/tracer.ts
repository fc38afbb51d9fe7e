import { hostname } from 'node:os';
import { AsyncLocalStorage } from 'node:async_hooks';
import { TraceFlags, type SpanContext } from './context.js';
import { nonZeroWord, randomWord } from './ids.js';
import { DEFAULT_LEVEL, toLevel, type Level, type LevelName } from './levels.js';
import type {
  Endpoint,
  SamplerConfig,
  SpanKind,
  StartSpanOptions,
  TracerOptions,
  TracerStats,
} from './options.js';
import {
  CTRL_READ,
  CTRL_WAKE,
  CTRL_WRITE,
  F64_BATCHES,
  F64_BYTES,
  F64_DROPPED_EXPORT,
  F64_DROPPED_ORPHAN,
  F64_DROPPED_UNFINISHED,
  F64_EXPORTED,
  F64_EXPORT_ERRORS,
  LEN_ANNOTATE,
  LEN_END,
  LEN_REMOTE,
  LEN_START,
  LEN_TAG,
  LEN_TAG_NUM,
  MAX_STRING_BYTES,
  MAX_STRING_ID,
  NONE,
  POS_MASK,
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
  createRing,
  type RingViews,
} from './ring.js';
import { startPipeline, type Pipeline } from './pipeline.js';

const SAMPLED = TraceFlags.SAMPLED;
const DEBUG = TraceFlags.DEBUG;
const DECIDED = TraceFlags.DECIDED;
const RECORD = SAMPLED | DEBUG;

const TWO32 = 4294967296;

const hrtime = process.hrtime;

/**
 * The event clock: milliseconds on the monotonic clock (process.hrtime, cheaper than
 * performance.now on Node 20). The ring's F64_TIME_ORIGIN holds its offset to the epoch.
 */
function clock(): number {
  const h = hrtime();
  return h[0] * 1e3 + h[1] * 1e-6;
}

/**
 * A span. It is its own context: `span.context === span`, whose ids and flags propagation reads.
 * Every method is safe to call on any span, recorded or not, ended or not: what is not recorded
 * costs a branch.
 */
export class Span implements SpanContext {
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
  readonly s0: number;
  readonly s1: number;
  readonly p0: number;
  readonly p1: number;
  readonly flags: number;
  readonly traceState: string | undefined;
  /** @internal the recording tracer (undefined for spans that record nothing) */
  _tr: Tracer | undefined;
  /** @internal the span's sequence number in its tracer's ring */
  _seq: number;
  /** @internal recording and not yet ended */
  _rec: boolean;
  /** @internal a non-recording view of this span, handed out for filtered children */
  _view: Span | undefined;

  /** @internal */
  constructor(
    tr: Tracer | undefined,
    seq: number,
    t0: number,
    t1: number,
    t2: number,
    t3: number,
    s0: number,
    s1: number,
    p0: number,
    p1: number,
    flags: number,
    traceState: string | undefined,
  ) {
    this.t0 = t0;
    this.t1 = t1;
    this.t2 = t2;
    this.t3 = t3;
    this.s0 = s0;
    this.s1 = s1;
    this.p0 = p0;
    this.p1 = p1;
    this.flags = flags;
    this.traceState = traceState;
    this._tr = tr;
    this._seq = seq;
    this._rec = tr !== undefined;
    this._view = undefined;
  }

  /** The span's identity for propagation (the span itself). */
  get context(): SpanContext {
    return this;
  }

  /** True while the span records (sampled, at or above the threshold, not ended). */
  get isRecording(): boolean {
    return this._rec;
  }

  /** A timestamped event (BlkKin's timestamp annotation), recorded when `level` passes the threshold. */
  annotate(event: string, level?: Level): this {
    if (!this._rec) return this;
    const tr = this._tr!;
    const lvl = typeof level === 'number' ? level : DEFAULT_LEVEL;
    if (lvl > tr._level && (this.flags & DEBUG) === 0) return this;
    tr._annotate(this._seq, event, lvl);
    return this;
  }

  /** A key/value (BlkKin's key-value annotation, Zipkin's tag). */
  tag(key: string, value: string | number | boolean): this {
    if (!this._rec) return this;
    this._tr!._tag(this._seq, key, value);
    return this;
  }

  /** Sets the peer (Zipkin's remoteEndpoint). */
  setRemote(remote: Endpoint): this {
    if (!this._rec) return this;
    this._tr!._remote(this._seq, remote);
    return this;
  }

  /** Ends the span; later calls and later annotations are ignored. */
  end(): void {
    if (!this._rec) return;
    this._rec = false;
    this._tr!._end(this._seq);
  }
}

/** The shared span of an unsampled new trace: zero ids, decided and not sampled. */
export const NOOP_SPAN: Span = new Span(undefined, 0, 0, 0, 0, 0, 0, 0, 0, 0, DECIDED, undefined);
/** The shared span of a new trace's root filtered out by level: no ids, no decision. */
const FILTERED_ROOT: Span = new Span(undefined, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, undefined);

/** A non-recording span carrying `ctx` as it is (children attach to ctx's span). */
function viewOf(ctx: SpanContext): Span {
  return new Span(
    undefined,
    0,
    ctx.t0,
    ctx.t1,
    ctx.t2,
    ctx.t3,
    ctx.s0,
    ctx.s1,
    ctx.p0,
    ctx.p1,
    ctx.flags,
    ctx.traceState,
  );
}

let storage: AsyncLocalStorage<Span | undefined> | undefined;

/** AsyncLocalStorage, created on first use only (an active one slows every await). */
function als(): AsyncLocalStorage<Span | undefined> {
  return (storage ??= new AsyncLocalStorage<Span | undefined>());
}

const KIND_CODE: Record<string, number> = { CLIENT: 1, SERVER: 2, PRODUCER: 3, CONSUMER: 4 };

export class Tracer {
  readonly service: string;
  readonly node: string;
  readonly endpoint: Endpoint;
  /** @internal level threshold */
  _level: number;
  // Sampling of new traces.
  /** @internal probability as a threshold on a random 32-bit word (TWO32: always) */
  private _probWord = TWO32;
  /** @internal */ private _perSecond = 0;
  /** @internal */ private _tokens = 0;
  /** @internal */ private _parentBased = true;
  private _refill: ReturnType<typeof setInterval> | undefined;
  private readonly _unsampledIds: boolean;
  // The ring.
  /** @internal */ readonly _views: RingViews;
  private readonly _u32: Uint32Array;
  private readonly _r64: Float64Array;
  private readonly _bytes: Buffer;
  private readonly _ctrl: Int32Array;
  private readonly _size: number;
  private readonly _mask: number;
  private readonly _half: number;
  private _w = 0;
  private _rc = 0;
  /** Write position last published; END publishes once `_batch` words are unpublished. */
  private _pub = 0;
  private readonly _batch: number;
  private _seq = 0;
  // Interned strings.
  private readonly _ids = new Map<string, number>();
  private readonly _cacheKey: (string | undefined)[] = new Array<string | undefined>(64).fill(
    undefined,
  );
  private readonly _cacheId = new Int32Array(64);
  private readonly _maxStrings: number;
  private _values = 0;
  // Counters.
  private _spans = 0;
  private _events = 0;
  private _dropRing = 0;
  private _dropSpans = 0;
  private readonly _pipeline: Pipeline;
  private _closed = false;

  /** @internal use createTracer */
  constructor(options: TracerOptions) {
    this.service = String(options.service ?? 'unknown')
      .toLowerCase()
      .slice(0, 256);
    this.node = String(options.node ?? safeHostname()).slice(0, 256);
    this.endpoint = { ...options.endpoint, serviceName: this.service };
    this._level = toLevel(options.level ?? DEFAULT_LEVEL) ?? DEFAULT_LEVEL;
    this._unsampledIds = options.unsampledIds === true;
    this._maxStrings = Math.max(16, Math.min(MAX_STRING_ID, options.maxStrings ?? 16384));
    this._views = createRing(options.bufferSize ?? 4 * 1024 * 1024);
    this._u32 = this._views.u32;
    this._r64 = this._views.r64;
    this._bytes = this._views.bytes;
    this._ctrl = this._views.ctrl;
    this._size = this._views.size;
    this._mask = this._views.mask;
    this._half = this._size >> 1;
    this._batch = Math.min(1024, this._size >> 4);
    this.configure({ sampler: options.sampler ?? {} });
    this._pipeline = startPipeline(this, options);
  }

  /** Starts a span: a child of `parent`, of the active span, or the root of a new trace. */
  startSpan(name: string, options?: StartSpanOptions): Span {
    let parent: SpanContext | null | undefined;
    let level: number = DEFAULT_LEVEL;
    let force = false;
    if (options != null) {
      parent = options.parent;
      if (typeof options.level === 'number') level = options.level;
      force = options.debug === true;
    }
    if (parent === undefined && storage !== undefined) parent = storage.getStore();
    let flags: number;
    if (
      parent != null &&
      (parent.t2 !== 0 || parent.t3 !== 0 || parent.t0 !== 0 || parent.t1 !== 0)
    ) {
      const pf = parent.flags;
      if (force) flags = pf | RECORD | DECIDED;
      else if ((pf & DEBUG) !== 0) flags = pf | DECIDED;
      else if ((pf & DECIDED) !== 0 && this._parentBased) {
        if ((pf & SAMPLED) === 0) {
          // Unsampled trace: hand out a non-recording span carrying the parent's context.
          return parent instanceof Span && parent._tr === undefined ? parent : viewOf(parent);
        }
        flags = pf;
      } else {
        flags = (pf & ~RECORD) | this._decide();
        if ((flags & SAMPLED) === 0) return viewOf({ ...parent, flags });
      }
      if (level > this._level && (flags & DEBUG) === 0) {
        // Filtered by level: children attach to the parent.
        if (parent instanceof Span)
          return parent._tr === undefined ? parent : (parent._view ??= viewOf(parent));
        return viewOf(parent);
      }
      return this._record(
        name,
        options,
        flags,
        level,
        parent.t0,
        parent.t1,
        parent.t2,
        parent.t3,
        parent.s0,
        parent.s1,
        parent.traceState,
      );
    }
    // A new trace (a parent of zero ids keeps its decision: NOOP_SPAN's children stay unsampled).
    if (force) flags = RECORD | DECIDED;
    else if (parent != null && (parent.flags & DECIDED) !== 0) {
      if ((parent.flags & RECORD) === 0) return NOOP_SPAN;
      flags = parent.flags | DECIDED;
    } else flags = this._decide();
    if ((flags & RECORD) === 0) {
      if (!this._unsampledIds) return NOOP_SPAN;
      return new Span(
        undefined,
        0,
        randomWord(),
        randomWord(),
        randomWord(),
        nonZeroWord(),
        randomWord(),
        nonZeroWord(),
        0,
        0,
        flags,
        undefined,
      );
    }
    if (level > this._level && (flags & DEBUG) === 0) return FILTERED_ROOT;
    return this._record(
      name,
      options,
      flags,
      level,
      randomWord(),
      randomWord(),
      randomWord(),
      nonZeroWord(),
      0,
      0,
      undefined,
    );
  }

  /** Runs fn with `span` active (activeSpan(), implicit parent of startSpan); enables AsyncLocalStorage. */
  withSpan<R>(span: Span | undefined, fn: () => R): R {
    return als().run(span, fn);
  }

  /** The span made active by withSpan, if any (undefined when withSpan was never used). */
  activeSpan(): Span | undefined {
    return storage === undefined ? undefined : storage.getStore();
  }

  /** Binds fn to the active span (or `span`), for callbacks that run later (event listeners). */
  bind<F extends (...args: never[]) => unknown>(fn: F, span?: Span): F {
    const target = span ?? this.activeSpan();
    const store = als();
    return ((...args: Parameters<F>) => store.run(target, () => fn(...args))) as unknown as F;
  }

  /** Changes the level threshold at run time. */
  setLevel(level: Level | LevelName | number | string): void {
    const parsed = toLevel(level);
    if (parsed !== undefined) this._level = parsed;
  }

  get level(): Level {
    return this._level as Level;
  }

  /** Changes the level threshold and the sampling of new traces at run time (the agent's entry point). */
  configure(config: {
    level?: Level | LevelName | number | string;
    sampler?: SamplerConfig;
  }): void {
    if (config.level !== undefined) this.setLevel(config.level);
    const sampler = config.sampler;
    if (sampler === undefined) return;
    const p = sampler.probability;
    if (typeof p === 'number' && p >= 0 && p <= 1)
      this._probWord = p >= 1 ? TWO32 : Math.floor(p * TWO32);
    else if (p === undefined) this._probWord = TWO32;
    if (sampler.parentBased !== undefined) this._parentBased = sampler.parentBased !== false;
    const rate = sampler.perSecond;
    if (typeof rate === 'number' && rate > 0 && Number.isFinite(rate)) {
      if (this._perSecond === 0) this._tokens = rate;
      this._perSecond = rate;
      if (this._refill === undefined) {
        this._refill = setInterval(() => {
          this._tokens = Math.min(
            Math.max(1, this._perSecond),
            this._tokens + this._perSecond / 10,
          );
        }, 100);
        this._refill.unref();
      }
    } else if (rate === undefined || rate === 0 || rate === Infinity) {
      this._perSecond = 0;
      if (this._refill !== undefined) clearInterval(this._refill);
      this._refill = undefined;
    }
  }

  /** The sampler in effect. */
  get sampler(): Required<SamplerConfig> {
    return {
      probability: this._probWord / TWO32,
      perSecond: this._perSecond === 0 ? Infinity : this._perSecond,
      parentBased: this._parentBased,
    };
  }

  /**
   * Drains the ring, assembles, and sends every finished span; resolves once they are sent, dropped,
   * or cannot be sent now (collector or agent away), or after timeoutMs. Never rejects.
   */
  async flush(timeoutMs = 10_000): Promise<void> {
    this._publish();
    // An explicit flush keeps the process alive until it is done (sockets are unref'd otherwise),
    // for at most timeoutMs.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    try {
      await Promise.race([this._pipeline.flush(), bound]);
    } catch {
      // counted by the pipeline
    } finally {
      clearTimeout(timer);
    }
  }

  /** Flushes, then stops the pipeline (socket, worker, timers). Spans started later record nothing. */
  async close(): Promise<void> {
    if (this._closed) return;
    await this.flush();
    this._closed = true;
    this._level = -1;
    this._probWord = 0;
    if (this._refill !== undefined) clearInterval(this._refill);
    try {
      await this._pipeline.close();
    } catch {
      // nothing to report to
    }
  }

  stats(): TracerStats {
    const f = this._views.f64;
    return {
      spansRecorded: this._spans,
      eventsRecorded: this._events,
      exported: f[F64_EXPORTED]!,
      exportErrors: f[F64_EXPORT_ERRORS]!,
      dropped: {
        ringFull: this._dropRing,
        ringFullSpans: this._dropSpans,
        unfinished: f[F64_DROPPED_UNFINISHED]!,
        export: f[F64_DROPPED_EXPORT]!,
        orphanEvents: f[F64_DROPPED_ORPHAN]!,
      },
      batches: f[F64_BATCHES]!,
      bytes: f[F64_BYTES]!,
    };
  }

  // ---- sampling ----------------------------------------------------------------------------

  private _decide(): number {
    if (this._probWord !== TWO32 && randomWord() >= this._probWord) return DECIDED;
    if (this._perSecond !== 0) {
      if (this._tokens < 1) return DECIDED;
      this._tokens--;
    }
    return DECIDED | SAMPLED;
  }

  // ---- recording: typed-array writes into the ring ------------------------------------------

  private _record(
    name: string,
    options: StartSpanOptions | undefined,
    flags: number,
    level: number,
    t0: number,
    t1: number,
    t2: number,
    t3: number,
    p0: number,
    p1: number,
    traceState: string | undefined,
  ): Span {
    const s0 = randomWord();
    const s1 = s0 === 0 ? nonZeroWord() : randomWord();
    const seq = (this._seq = (this._seq + 1) >>> 0);
    const span = new Span(this, seq, t0, t1, t2, t3, s0, s1, p0, p1, flags | DECIDED, traceState);
    const nameId = this._ref(typeof name === 'string' ? name : String(name), TEMP_A, true);
    const at = nameId < 0 ? -1 : this._reserve(LEN_START);
    if (at < 0) {
      span._rec = false;
      this._dropSpans++;
      return span;
    }
    this._spans++;
    const u = this._u32;
    let kind = 0;
    if (options != null) {
      if (options.kind !== undefined) kind = KIND_CODE[options.kind as SpanKind] ?? 0;
    }
    u[at] =
      T_START | ((level & 15) << 8) | (kind << 12) | ((flags & DEBUG) << 14) | (LEN_START << 16);
    u[at + 1] = seq;
    this._r64[(at + 2) >> 1] = clock();
    u[at + 4] = t0;
    u[at + 5] = t1;
    u[at + 6] = t2;
    u[at + 7] = t3;
    u[at + 8] = s0;
    u[at + 9] = s1;
    u[at + 10] = p0;
    u[at + 11] = p1;
    u[at + 12] = nameId;
    u[at + 13] = 0;
    this._events++;
    if (options != null && options.remote != null) this._remote(seq, options.remote);
    return span;
  }

  /** @internal */
  _annotate(seq: number, event: string, level: number): void {
    const id = this._ref(typeof event === 'string' ? event : String(event), TEMP_A, true);
    const at = id < 0 ? -1 : this._reserve(LEN_ANNOTATE);
    if (at < 0) return;
    const u = this._u32;
    u[at] = T_ANNOTATE | ((level & 15) << 8) | (LEN_ANNOTATE << 16);
    u[at + 1] = seq;
    this._r64[(at + 2) >> 1] = clock();
    u[at + 4] = id;
    u[at + 5] = 0;
    this._events++;
  }

  /** @internal */
  _tag(seq: number, key: string, value: string | number | boolean): void {
    const keyId = this._ref(typeof key === 'string' ? key : String(key), TEMP_A, true);
    if (keyId < 0) return;
    const u = this._u32;
    if (typeof value === 'number') {
      const at = this._reserve(LEN_TAG_NUM);
      if (at < 0) return;
      u[at] = T_TAG_NUM | (LEN_TAG_NUM << 16);
      u[at + 1] = seq;
      u[at + 2] = keyId;
      u[at + 3] = 0;
      this._r64[(at + 4) >> 1] = value;
    } else if (typeof value === 'boolean') {
      const at = this._reserve(LEN_TAG);
      if (at < 0) return;
      u[at] = T_TAG_BOOL | (LEN_TAG << 16);
      u[at + 1] = seq;
      u[at + 2] = keyId;
      u[at + 3] = value ? 1 : 0;
    } else {
      const valueId = this._ref(typeof value === 'string' ? value : String(value), TEMP_B, false);
      const at = valueId < 0 ? -1 : this._reserve(LEN_TAG);
      if (at < 0) return;
      u[at] = T_TAG_STR | (LEN_TAG << 16);
      u[at + 1] = seq;
      u[at + 2] = keyId;
      u[at + 3] = valueId;
    }
    this._events++;
  }

  /** @internal */
  _remote(seq: number, remote: Endpoint): void {
    if (remote === null || typeof remote !== 'object') return;
    const service =
      typeof remote.serviceName === 'string'
        ? this._ref(remote.serviceName.toLowerCase(), TEMP_A, true)
        : NONE;
    const ipText =
      typeof remote.ipv4 === 'string'
        ? remote.ipv4
        : typeof remote.ipv6 === 'string'
          ? remote.ipv6
          : undefined;
    const ip = ipText !== undefined ? this._ref(ipText, TEMP_B, true) : NONE;
    const at = service < 0 || ip < 0 ? -1 : this._reserve(LEN_REMOTE);
    if (at < 0) return;
    const u = this._u32;
    u[at] = T_REMOTE | (LEN_REMOTE << 16);
    u[at + 1] = seq;
    u[at + 2] = service;
    u[at + 3] = ip;
    u[at + 4] =
      typeof remote.port === 'number' && remote.port > 0 && remote.port < 65536 ? remote.port : 0;
    u[at + 5] = 0;
    this._events++;
  }

  /** @internal */
  _end(seq: number): void {
    const at = this._reserve(LEN_END);
    if (at >= 0) {
      const u = this._u32;
      u[at] = T_END | (LEN_END << 16);
      u[at + 1] = seq;
      this._r64[(at + 2) >> 1] = clock();
      this._events++;
    }
    // Publishing is an atomic store: batch it (the pipeline's timer and flush publish the rest).
    if (((this._w - this._pub) & POS_MASK) >= this._batch) this._publish();
  }

  /** Makes every record written so far visible to the consumer; asks it to drain past half full. */
  /** @internal */
  _publish(): void {
    this._pub = this._w;
    Atomics.store(this._ctrl, CTRL_WRITE, this._w);
    if (((this._w - this._rc) & POS_MASK) > this._half) {
      this._rc = Atomics.load(this._ctrl, CTRL_READ);
      if (
        ((this._w - this._rc) & POS_MASK) > this._half &&
        Atomics.compareExchange(this._ctrl, CTRL_WAKE, 0, 1) === 0
      )
        this._pipeline.wake();
    }
  }

  /** Room for `len` words (after a PAD if they would cross the end); the record's index, or -1. */
  private _reserve(len: number): number {
    let at = this._w & this._mask;
    const pad = at + len > this._size ? this._size - at : 0;
    const need = pad + len;
    if (this._size - ((this._w - this._rc) & POS_MASK) < need) {
      this._rc = Atomics.load(this._ctrl, CTRL_READ);
      if (this._size - ((this._w - this._rc) & POS_MASK) < need) {
        this._dropRing++;
        if (this._pub !== this._w) this._publish();
        return -1;
      }
    }
    if (pad !== 0) {
      this._u32[at] = T_PAD | (pad << 16);
      at = 0;
    }
    this._w = (this._w + need) & POS_MASK;
    return at;
  }

  /**
   * The id of a string: interned (defined once in the ring) while the table has room, else defined
   * under a temporary id just before the record that uses it. Values (`key` false) are interned
   * only when short, and only up to half of the table.
   */
  private _ref(text: string, temp: number, key: boolean): number {
    // A direct-mapped cache in front of the Map: most strings are constants at their call sites,
    // and comparing internalized strings is a pointer compare.
    const slot = (text.length * 31 + text.charCodeAt(0)) & 63;
    if (this._cacheKey[slot] === text) return this._cacheId[slot]!;
    const id = this._ids.get(text);
    if (id !== undefined) {
      this._cacheKey[slot] = text;
      this._cacheId[slot] = id;
      return id;
    }
    const size = this._ids.size;
    if (
      size < this._maxStrings &&
      (key || (text.length <= 64 && this._values < this._maxStrings >> 1))
    ) {
      if (!this._define(size, text)) return -1;
      this._ids.set(text, size);
      if (!key) this._values++;
      return size;
    }
    return this._define(temp, text) ? temp : -1;
  }

  /** Writes a STRING record; false when the ring is full. */
  private _define(id: number, text: string): boolean {
    const max = Math.min(text.length * 3, MAX_STRING_BYTES);
    const reserved = stringRecordWords(max);
    const at = this._reserve(reserved);
    if (at < 0) return false;
    const written = max === 0 ? 0 : this._bytes.write(text, (at + 3) * 4, max, 'utf8');
    const len = stringRecordWords(written);
    const u = this._u32;
    u[at] = T_STRING | (len << 16);
    u[at + 1] = id;
    u[at + 2] = written;
    // Give back what the worst case reserved beyond the record.
    this._w = (this._w - (reserved - len)) & POS_MASK;
    return true;
  }
}

/** Words of a STRING record of `bytes` UTF-8 bytes: 3 header words, the bytes, rounded to 8 bytes. */
function stringRecordWords(bytes: number): number {
  return (3 + ((bytes + 3) >> 2) + 1) & ~1;
}

function safeHostname(): string {
  try {
    return hostname();
  } catch {
    return 'unknown';
  }
}

/** Creates a tracer. It records nothing until spans are started, and never keeps the process alive. */
export function createTracer(options: TracerOptions): Tracer {
  return new Tracer(options);
}
