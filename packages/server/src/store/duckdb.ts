import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
// The C API's vector functions, which @duckdb/node-api wraps (and depends on at this exact
// version): filling whole vectors from typed arrays is what makes appends fast.
import duckdb from '@duckdb/node-bindings';
import type { DependencyLink, Level, Span, SpanKind } from '@blkkin/model';
import type { Store, TraceQuery, WriteMark } from './store.js';
import { compareTracesNewestFirst, queryWindow, sortTrace, utcDayStart } from './trace-query.js';

/**
 * The embedded store: one DuckDB file, `<dir>/blkkin.duckdb`.
 *
 * Layout, designed for size and append speed (bench/store-duckdb.ts measures it):
 *
 * - `spans`: one row per span, every column NOT NULL and fixed-width but two strings. Ids are
 *   UBIGINTs (a 128-bit trace id is two; `trace_hi` = 0 for a 64-bit id, which a normalised
 *   128-bit id never has), times are µs BIGINTs (`ts` is the timestamp, or when absent the first
 *   annotation's or the write's time, flagged). Low-cardinality strings (service and span names,
 *   addresses, nodes, tag keys, sets of tag keys) are interned as UINTEGER codes in `strings`,
 *   so that they cost a few bits once bit-packed, compare as integers, and cost appends nothing
 *   but a typed-array store. Tags and annotations are each one compact string (key codes, values,
 *   µs offsets; see encode), which FSST compresses well and `contains()` matches exactly;
 *   `tsig` is a 32-bit signature of them that spares most of that matching. Kind, flags and
 *   level share `flags`. A write's spans are grouped by trace, so trace ids compress to runs and
 *   a trace's spans are contiguous.
 * - `traces`: per write and trace, the trace's summary: root and earliest timestamps, `k` (the
 *   root's timestamp, else the earliest), time range, services, the write's `seq`. Every trace
 *   has a row whose k is the trace's timestamp, so a time window is a zonemap-friendly range of
 *   k; findTraces and getTrace find traces there, then read only the rows of `spans` in the
 *   writes that hold them (a join on seq and trace id, whose seq range DuckDB pushes into the
 *   scan of `spans` as a dynamic zonemap filter: writes are appended in time order).
 * - `meta`: the WriteMark and the next write seq, updated in the transaction of each write.
 *
 * No ART index: appends stay fast; the seq zonemaps find a trace's rows.
 */

const FILE = 'blkkin.duckdb';
const SCHEMA_VERSION = 2;

const KIND_CODES: Record<SpanKind, number> = { CLIENT: 1, SERVER: 2, PRODUCER: 3, CONSUMER: 4 };
const KINDS: (SpanKind | undefined)[] = [undefined, 'CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'];
// flags: kind (bits 0-2) | debug | shared | has timestamp | has an error tag | has clock offset |
// level + 1 (bits 8-11; 0 when absent).
const DEBUG = 8;
const SHARED = 16;
const HAS_TS = 32;
const HAS_ERROR = 64;
const HAS_OFFSET = 128;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (version INTEGER NOT NULL, log_seq BIGINT NOT NULL, next_seq UINTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS strings (code UINTEGER NOT NULL, value VARCHAR NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS spans (
    seq UINTEGER NOT NULL,
    trace_hi UBIGINT NOT NULL,
    trace_lo UBIGINT NOT NULL,
    ts BIGINT NOT NULL,
    id UBIGINT NOT NULL,
    parent_id UBIGINT NOT NULL,
    flags USMALLINT NOT NULL,
    duration BIGINT NOT NULL,
    name UINTEGER NOT NULL,
    lsvc UINTEGER NOT NULL,
    lip UINTEGER NOT NULL,
    lport USMALLINT NOT NULL,
    rsvc UINTEGER NOT NULL,
    rip UINTEGER NOT NULL,
    rport USMALLINT NOT NULL,
    node UINTEGER NOT NULL,
    clock_offset BIGINT NOT NULL,
    tags VARCHAR NOT NULL,
    tkeys UINTEGER NOT NULL,
    ann VARCHAR NOT NULL,
    tsig UINTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS traces (
    seq UINTEGER NOT NULL,
    trace_hi UBIGINT NOT NULL,
    trace_lo UBIGINT NOT NULL,
    k BIGINT NOT NULL,
    root_ts BIGINT NOT NULL,
    ts_min BIGINT NOT NULL,
    t_min BIGINT NOT NULL,
    t_max BIGINT NOT NULL,
    svcs VARCHAR NOT NULL)`,
];

/** Column kinds of the chunk builder: fixed-width little-endian, or strings. */
type Col = 'u16' | 'u32' | 'i64' | 'str';
const SPAN_COLS: Col[] = [
  'u32', // seq
  'i64', // trace_hi
  'i64', // trace_lo
  'i64', // ts
  'i64', // id
  'i64', // parent_id
  'u16', // flags
  'i64', // duration
  'u32', // name
  'u32', // lsvc
  'u32', // lip
  'u16', // lport
  'u32', // rsvc
  'u32', // rip
  'u16', // rport
  'u32', // node
  'i64', // clock_offset
  'str', // tags
  'u32', // tkeys
  'str', // ann
  'u32', // tsig
];
const TRACE_COLS: Col[] = ['u32', 'i64', 'i64', 'i64', 'i64', 'i64', 'i64', 'i64', 'str'];
const WIDTH: Record<Col, number> = { u16: 2, u32: 4, i64: 8, str: 0 };
const CHUNK = 2048;
const TWO32 = 4294967296;

/**
 * Rows for one DuckDB data chunk, column by column in typed arrays that are copied into the
 * chunk's vectors in one call each; strings are assigned one by one.
 */
class ChunkBuilder {
  readonly u16: Uint16Array[] = [];
  readonly u32: Uint32Array[] = [];
  readonly strs: string[][] = [];
  private readonly buffers: (ArrayBuffer | undefined)[] = [];
  rows = 0;

  constructor(private readonly cols: readonly Col[]) {
    for (let c = 0; c < cols.length; c++) {
      const width = WIDTH[cols[c]!];
      const buffer = width ? new ArrayBuffer(CHUNK * width) : undefined;
      this.buffers.push(buffer);
      this.u16.push(buffer ? new Uint16Array(buffer) : new Uint16Array(0));
      this.u32.push(buffer ? new Uint32Array(buffer) : new Uint32Array(0));
      this.strs.push(width ? [] : new Array<string>(CHUNK));
    }
  }

  /** A safe integer into an 8-byte column, two's complement. */
  i64(c: number, row: number, value: number): void {
    const hi = Math.floor(value / TWO32);
    const a = this.u32[c]!;
    a[row * 2] = value - hi * TWO32;
    a[row * 2 + 1] = hi;
  }

  /** 16 hex digits of `hex` from `from` into an 8-byte column; false if they are not hex. */
  hex(c: number, row: number, hex: string, from = 0): boolean {
    const high = hexWord(hex, from);
    const low = hexWord(hex, from + 8);
    const a = this.u32[c]!;
    a[row * 2] = low;
    a[row * 2 + 1] = high;
    return high >= 0 && low >= 0;
  }

  zero64(c: number, row: number): void {
    const a = this.u32[c]!;
    a[row * 2] = 0;
    a[row * 2 + 1] = 0;
  }

  /** Appends the rows so far as one data chunk, and starts over. */
  appendTo(appender: DuckDBAppender, types: readonly DuckDBType[]): void {
    if (this.rows === 0) return;
    const chunk = DuckDBDataChunk.create(types, this.rows);
    for (let c = 0; c < this.cols.length; c++) {
      const vector = duckdb.data_chunk_get_vector(chunk.chunk, c);
      const buffer = this.buffers[c];
      if (buffer) {
        duckdb.copy_data_to_vector(vector, 0, buffer, 0, this.rows * WIDTH[this.cols[c]!]);
      } else {
        const strs = this.strs[c]!;
        for (let r = 0; r < this.rows; r++)
          duckdb.vector_assign_string_element(vector, r, strs[r]!);
      }
    }
    appender.appendDataChunk(chunk);
    this.rows = 0;
  }
}

// Tags: for each tag, \x01 key-code \x02 value, then a final \x01; annotations: for each,
// \x01 µs-after-ts [:level] \x02 value, then a final \x01. \x01-\x03 in values are escaped as
// \x03 + a/b/c, so the separators are only separators and `contains()` matches exactly.
function escape(value: string): string {
  let i = 0;
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c >= 1 && c <= 3) break;
  }
  if (i === value.length) return value;
  let out = value.slice(0, i);
  for (; i < value.length; i++) {
    const c = value.charCodeAt(i);
    out += c >= 1 && c <= 3 ? '\x03' + String.fromCharCode(0x60 + c) : value[i];
  }
  return out;
}

function unescape(value: string): string {
  if (!value.includes('\x03')) return value;
  let out = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\x03') out += String.fromCharCode(value.charCodeAt(++i) - 0x60);
    else out += value[i];
  }
  return out;
}

const HEX_VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) HEX_VALUES['0123456789abcdef'.charCodeAt(i)] = i;

/** The value of 8 lowercase hex digits from `from`; -1 if they are not that. */
function hexWord(text: string, from: number): number {
  if (text.length < from + 8) return -1;
  let value = 0;
  for (let i = from; i < from + 8; i++) {
    const digit = HEX_VALUES[text.charCodeAt(i)] ?? -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

function hex16(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

/** A normalised trace id as the decimal literals of (trace_hi, trace_lo). */
function traceKey(traceId: string): { hi: string; lo: string } {
  const lo = BigInt('0x' + traceId.slice(-16)).toString();
  const hi = traceId.length === 32 ? BigInt('0x' + traceId.slice(0, 16)).toString() : '0';
  return { hi, lo };
}

// Times as DOUBLEs (exact below 2^53 µs): numbers are cheaper to read than bigints.
const SPAN_SELECT =
  's.trace_hi, s.trace_lo, s.ts::DOUBLE, s.id, s.parent_id, s.flags, s.duration::DOUBLE, s.name, s.lsvc, s.lip, s.lport, s.rsvc, s.rip, s.rport, s.node, s.clock_offset::DOUBLE, s.tags, s.ann';

/** FNV-1a of a string, 32 bits. */
function fnv1a(text: string, seed: number): number {
  let hash = 0x811c9dc5 ^ seed;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return hash >>> 0;
}

// `tsig`, a 32-bit signature of a span's tags and annotation values: one bit per tag (key code
// and value) and per annotation value. A search for a tag or an annotation first tests the bit,
// which is cheap, and reads the strings of about one span in six only.
const tagBit = (code: number, value: string) => (1 << (fnv1a(value, code) >>> 27)) >>> 0;
const annotationBit = (value: string) => (1 << (fnv1a(value, 0x5bd1e995) >>> 27)) >>> 0;

/** A write, encoded: chunks of `spans` and of `traces`, and the k range of the latter. */
interface Encoded {
  spans: ChunkBuilder[];
  traces: ChunkBuilder[];
  k: { rows: number; minK: number; maxK: number };
}

/** Interned sets of tag keys (`tkeys`) are strings of key codes after this mark: ",3,17,". */
const KEYSET = '\x04';
const ALL_ZEROS = /^0+$/;
const ZERO_ID = '0000000000000000';

function badId(id: string, field: string): never {
  throw new Error(`a span's ${field} is not a normalised id: ${JSON.stringify(id)}`);
}

const VALID_TRACE_ID = /^(?:[0-9a-f]{16}|[0-9a-f]{32})$/;

export interface DuckDbOptions {
  /**
   * DuckDB's worker threads (default 1). One keeps appends and small queries cheapest and their
   * latency steady while the rest of the process (ingest, HTTP) has the other core; more speed
   * up the big scans (dependencies, tag values) on an idle machine.
   */
  threads?: number;
}

const DEFAULT_THREADS = 1;

export class DuckDbStore implements Store {
  readonly kind = 'duckdb';
  private readonly codes = new Map<string, number>();
  private readonly values: string[] = [''];
  private nextSeq = 0;
  /** Rows of `traces` with a k, and the range of k: to guess where the newest traces start. */
  private kStats = { rows: 0, minK: 0, maxK: 0 };
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private reader = 0;
  private spanTypes: DuckDBType[] = [];
  private traceTypes: DuckDBType[] = [];

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly readers: DuckDBConnection[],
  ) {}

  /** Opens (creating if needed) the store in `dir`. */
  static async open(dir: string, options: DuckDbOptions = {}): Promise<DuckDbStore> {
    await mkdir(dir, { recursive: true });
    const location = join(dir, FILE);
    const instance = await DuckDBInstance.create(location, {
      threads: String(options.threads ?? DEFAULT_THREADS),
    });
    const writer = await instance.connect();
    const readers = [await instance.connect(), await instance.connect()];
    const store = new DuckDbStore(location, instance, writer, readers);
    try {
      await store.init();
    } catch (error) {
      store.disconnect();
      throw error;
    }
    return store;
  }

  private async init(): Promise<void> {
    for (const sql of SCHEMA) await this.writer.run(sql);
    const meta = await this.rows(this.writer, 'SELECT version, next_seq FROM meta');
    if (meta.length === 0) {
      await this.writer.run(`INSERT INTO meta VALUES (${SCHEMA_VERSION}, 0, 0)`);
    } else if (Number(meta[0]![0]) !== SCHEMA_VERSION) {
      throw new Error(
        `${this.location}: schema version ${String(meta[0]![0])}, expected ${SCHEMA_VERSION}`,
      );
    } else {
      this.nextSeq = Number(meta[0]![1]);
    }
    for (const [code, value] of await this.rows(this.writer, 'SELECT code, value FROM strings')) {
      this.codes.set(value as string, Number(code));
      this.values[Number(code)] = value as string;
    }
    await this.loadKStats(this.writer);
    for (const [table, types] of [
      ['spans', this.spanTypes],
      ['traces', this.traceTypes],
    ] as const) {
      const appender = await this.writer.createAppender(table);
      for (let i = 0; i < appender.columnCount; i++) types.push(appender.columnType(i));
      appender.closeSync();
    }
  }

  private async loadKStats(connection: DuckDBConnection): Promise<void> {
    const [row] = await this.rows(
      connection,
      'SELECT count(*), coalesce(min(k), 0), coalesce(max(k), 0) FROM traces WHERE k > 0',
    );
    this.kStats = { rows: Number(row![0]), minK: Number(row![1]), maxK: Number(row![2]) };
  }

  // ---- writing -------------------------------------------------------------------------------

  write(spans: readonly Span[], mark?: WriteMark): Promise<void> {
    return this.serialised(() => this.doWrite(spans, mark));
  }

  /** Runs `op` after every write queued before it, one at a time. */
  private serialised<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('the DuckDB store is closed'));
    const run = this.tail.then(op, op);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async doWrite(spans: readonly Span[], mark: WriteMark | undefined): Promise<void> {
    const firstNewCode = this.values.length;
    const seq = this.nextSeq;
    let chunks: Encoded;
    try {
      chunks = this.encode(spans, seq);
    } catch (error) {
      this.forgetCodes(firstNewCode);
      throw error;
    }
    const w = this.writer;
    await w.run('BEGIN TRANSACTION');
    try {
      if (spans.length > 0) {
        const appender = await w.createAppender('spans');
        for (const chunk of chunks.spans) chunk.appendTo(appender, this.spanTypes);
        appender.closeSync();
        const traces = await w.createAppender('traces');
        for (const chunk of chunks.traces) chunk.appendTo(traces, this.traceTypes);
        traces.closeSync();
      }
      const fresh = this.values.slice(firstNewCode);
      for (let i = 0; i < fresh.length; i += 500) {
        const part = fresh.slice(i, i + 500);
        await w.run(
          `INSERT INTO strings VALUES ${part.map((_, j) => `(${firstNewCode + i + j}, $${j + 1})`).join(', ')}`,
          part,
        );
      }
      const logSeq = mark ? `, log_seq = ${Math.trunc(mark.logSeq)}` : '';
      await w.run(`UPDATE meta SET next_seq = ${spans.length > 0 ? seq + 1 : seq}${logSeq}`);
      await w.run('COMMIT');
    } catch (error) {
      await w.run('ROLLBACK').catch(() => undefined);
      this.forgetCodes(firstNewCode);
      throw error;
    }
    if (spans.length > 0) this.nextSeq = seq + 1;
    const k = chunks.k;
    if (k.rows > 0) {
      const stats = this.kStats;
      stats.minK = stats.rows === 0 ? k.minK : Math.min(stats.minK, k.minK);
      stats.maxK = stats.rows === 0 ? k.maxK : Math.max(stats.maxK, k.maxK);
      stats.rows += k.rows;
    }
  }

  private code(value: string | undefined): number {
    if (value === undefined) return 0;
    let code = this.codes.get(value);
    if (code === undefined) {
      code = this.values.length;
      this.values.push(value);
      this.codes.set(value, code);
    }
    return code;
  }

  /** Drops the codes of a write that failed. */
  private forgetCodes(from: number): void {
    for (let c = from; c < this.values.length; c++) this.codes.delete(this.values[c]!);
    this.values.length = from;
    this.ipv4Codes.clear();
    this.keysetCodes.clear();
  }

  /** Codes of IPv4-only addresses, the common case, without building the address string. */
  private readonly ipv4Codes = new Map<string, number>();

  private address(ipv4: string | undefined, ipv6: string | undefined): number {
    if (ipv6 === undefined) {
      if (ipv4 === undefined) return 0;
      let code = this.ipv4Codes.get(ipv4);
      if (code === undefined) this.ipv4Codes.set(ipv4, (code = this.code(`${ipv4} `)));
      return code;
    }
    return this.code(`${ipv4 ?? ''} ${ipv6}`);
  }

  /** Codes of sets of tag keys by a hash of their key codes, each with its key codes. */
  private readonly keysetCodes = new Map<number, { keys: number[]; code: number }[]>();

  private keyset(keys: number[], count: number): number {
    let hash = count;
    for (let i = 0; i < count; i++) hash = Math.imul(hash ^ keys[i]!, 0x9e3779b1);
    let bucket = this.keysetCodes.get(hash);
    if (bucket) {
      next: for (const entry of bucket) {
        if (entry.keys.length !== count) continue;
        for (let i = 0; i < count; i++) if (entry.keys[i] !== keys[i]) continue next;
        return entry.code;
      }
    } else {
      this.keysetCodes.set(hash, (bucket = []));
    }
    const own = keys.slice(0, count);
    const code = this.code(`${KEYSET},${own.join(',')},`);
    bucket.push({ keys: own, code });
    return code;
  }

  /** Spans into chunks, grouped by trace, and one summary row per trace. */
  private encode(spans: readonly Span[], seq: number): Encoded {
    const kStats = { rows: 0, minK: 0, maxK: 0 };
    const keyCodes: number[] = [];
    const byTrace = new Map<string, Span[]>();
    for (const span of spans) {
      const group = byTrace.get(span.traceId);
      if (group) group.push(span);
      else byTrace.set(span.traceId, [span]);
    }
    const now = Date.now() * 1000;
    const spanChunks: ChunkBuilder[] = [];
    const traceChunks: ChunkBuilder[] = [];
    let b = new ChunkBuilder(SPAN_COLS);
    let t = new ChunkBuilder(TRACE_COLS);
    for (const [traceId, group] of byTrace) {
      group.sort((x, y) => (x.timestamp ?? 0) - (y.timestamp ?? 0));
      const long = traceId.length === 32;
      if ((!long && traceId.length !== 16) || ALL_ZEROS.test(traceId)) badId(traceId, 'traceId');
      let rootTs = 0;
      let tsMin = 0;
      let tMin = Infinity;
      let tMax = -Infinity;
      const services = new Set<number>();
      for (const s of group) {
        if (b.rows === CHUNK) {
          spanChunks.push(b);
          b = new ChunkBuilder(SPAN_COLS);
        }
        const r = b.rows++;
        const u32 = b.u32;
        const u16 = b.u16;
        u32[0]![r] = seq;
        if (long) {
          // A 128-bit id's high half is never zero: normalised, that id has 16 digits.
          if (!b.hex(1, r, traceId) || traceId.startsWith(ZERO_ID)) badId(traceId, 'traceId');
        } else {
          b.zero64(1, r);
        }
        if (!b.hex(2, r, traceId, long ? 16 : 0)) badId(traceId, 'traceId');
        const ts = s.timestamp ?? s.annotations?.[0]?.timestamp ?? now;
        b.i64(3, r, ts);
        if (ts < tMin) tMin = ts;
        if (ts > tMax) tMax = ts;
        if (s.timestamp !== undefined) {
          if (tsMin === 0 || ts < tsMin) tsMin = ts;
          if (s.parentId === undefined && (rootTs === 0 || ts < rootTs)) rootTs = ts;
        }
        if (s.id.length !== 16 || !b.hex(4, r, s.id) || s.id === ZERO_ID) badId(s.id, 'id');
        if (s.parentId === undefined) b.zero64(5, r);
        else if (s.parentId.length !== 16 || !b.hex(5, r, s.parentId))
          badId(s.parentId, 'parentId');
        const tags = s.tags;
        u16[6]![r] =
          (s.kind ? KIND_CODES[s.kind] : 0) |
          (s.debug ? DEBUG : 0) |
          (s.shared ? SHARED : 0) |
          (s.timestamp !== undefined ? HAS_TS : 0) |
          (tags !== undefined && Object.prototype.hasOwnProperty.call(tags, 'error')
            ? HAS_ERROR
            : 0) |
          (s.clockOffset !== undefined ? HAS_OFFSET : 0) |
          ((s.level === undefined ? 0 : s.level + 1) << 8);
        b.i64(7, r, s.duration ?? 0);
        u32[8]![r] = this.code(s.name);
        const l = s.localEndpoint;
        const lsvc = this.code(l?.serviceName);
        if (lsvc) services.add(lsvc);
        u32[9]![r] = lsvc;
        u32[10]![r] = l ? this.address(l.ipv4, l.ipv6) : 0;
        u16[11]![r] = l?.port ?? 0;
        const re = s.remoteEndpoint;
        u32[12]![r] = this.code(re?.serviceName);
        u32[13]![r] = re ? this.address(re.ipv4, re.ipv6) : 0;
        u16[14]![r] = re?.port ?? 0;
        u32[15]![r] = this.code(s.node);
        b.i64(16, r, s.clockOffset ?? 0);
        let encodedTags = '';
        let keyCount = 0;
        let signature = 0;
        if (tags !== undefined) {
          encodedTags = '\x01';
          for (const key in tags) {
            const code = this.code(key);
            const value = tags[key]!;
            encodedTags += `${code}\x02${escape(value)}\x01`;
            keyCodes[keyCount++] = code;
            signature |= tagBit(code, value);
          }
        }
        b.strs[17]![r] = encodedTags;
        u32[18]![r] = tags === undefined ? 0 : this.keyset(keyCodes, keyCount);
        let annotations = '';
        if (s.annotations !== undefined) {
          annotations = '\x01';
          for (const a of s.annotations) {
            const level = a.level === undefined ? '' : `:${a.level}`;
            annotations += `${a.timestamp - ts}${level}\x02${escape(a.value)}\x01`;
            signature |= annotationBit(a.value);
          }
        }
        b.strs[19]![r] = annotations;
        u32[20]![r] = signature;
      }
      if (t.rows === CHUNK) {
        traceChunks.push(t);
        t = new ChunkBuilder(TRACE_COLS);
      }
      const r = t.rows++;
      t.u32[0]![r] = seq;
      if (long) t.hex(1, r, traceId);
      else t.zero64(1, r);
      t.hex(2, r, traceId, long ? 16 : 0);
      const k = rootTs || tsMin;
      t.i64(3, r, k);
      if (k > 0) {
        kStats.minK = kStats.rows === 0 ? k : Math.min(kStats.minK, k);
        kStats.maxK = Math.max(kStats.maxK, k);
        kStats.rows++;
      }
      t.i64(4, r, rootTs);
      t.i64(5, r, tsMin);
      t.i64(6, r, tMin);
      t.i64(7, r, tMax);
      t.strs[8]![r] = `,${[...services].sort((x, y) => x - y).join(',')},`;
    }
    spanChunks.push(b);
    traceChunks.push(t);
    return { spans: spanChunks, traces: traceChunks, k: kStats };
  }

  async lastMark(): Promise<WriteMark> {
    const rows = await this.read('SELECT log_seq FROM meta');
    return { logSeq: rows.length ? Number(rows[0]![0]) : 0 };
  }

  // ---- reading -------------------------------------------------------------------------------

  private async rows(
    connection: DuckDBConnection,
    sql: string,
    params?: DuckDBValue[],
  ): Promise<DuckDBValue[][]> {
    const result = await connection.run(sql, params);
    return result.getRows();
  }

  /** A query on one of the read connections (which see committed data only). */
  private read(sql: string, params?: DuckDBValue[]): Promise<DuckDBValue[][]> {
    if (this.closed) return Promise.reject(new Error('the DuckDB store is closed'));
    this.reader = (this.reader + 1) % this.readers.length;
    return this.rows(this.readers[this.reader]!, sql, params);
  }

  private text(code: DuckDBValue): string | undefined {
    const n = Number(code);
    return n === 0 ? undefined : this.values[n];
  }

  /** A span from the SPAN_SELECT columns of a row, starting at column `at`. */
  private toSpan(columns: DuckDBValue[][], i: number, at: number): Span {
    const [
      hi,
      lo,
      tsValue,
      id,
      parent,
      flagsValue,
      duration,
      name,
      lsvc,
      lip,
      lport,
      rsvc,
      rip,
      rport,
      node,
      offset,
      tags,
      ann,
    ] = columns.slice(at).map((column) => column[i]);
    const span: Span = {
      traceId:
        (hi as bigint) === 0n ? hex16(lo as bigint) : hex16(hi as bigint) + hex16(lo as bigint),
      id: hex16(id as bigint),
    };
    if ((parent as bigint) !== 0n) span.parentId = hex16(parent as bigint);
    const flags = Number(flagsValue);
    const kind = KINDS[flags & 7];
    if (kind) span.kind = kind;
    const spanName = this.text(name!);
    if (spanName !== undefined) span.name = spanName;
    const ts = Number(tsValue);
    if (flags & HAS_TS) span.timestamp = ts;
    if (Number(duration) !== 0) span.duration = Number(duration);
    const local = this.endpoint(lsvc!, lip!, lport!);
    if (local) span.localEndpoint = local;
    const remote = this.endpoint(rsvc!, rip!, rport!);
    if (remote) span.remoteEndpoint = remote;
    if (ann) {
      const parts = (ann as string).split('\x01');
      span.annotations = [];
      for (let i = 1; i < parts.length - 1; i++) {
        const part = parts[i]!;
        const sep = part.indexOf('\x02');
        const head = part.slice(0, sep);
        const colon = head.indexOf(':');
        const annotation: NonNullable<Span['annotations']>[number] = {
          timestamp: ts + Number(colon < 0 ? head : head.slice(0, colon)),
          value: unescape(part.slice(sep + 1)),
        };
        if (colon >= 0) annotation.level = Number(head.slice(colon + 1)) as Level;
        span.annotations.push(annotation);
      }
    }
    if (tags) {
      const parts = (tags as string).split('\x01');
      span.tags = {};
      for (let i = 1; i < parts.length - 1; i++) {
        const part = parts[i]!;
        const sep = part.indexOf('\x02');
        span.tags[this.values[Number(part.slice(0, sep))]!] = unescape(part.slice(sep + 1));
      }
    }
    if (flags & DEBUG) span.debug = true;
    if (flags & SHARED) span.shared = true;
    const level = flags >> 8;
    if (level) span.level = (level - 1) as Level;
    const nodeName = this.text(node!);
    if (nodeName !== undefined) span.node = nodeName;
    if (flags & HAS_OFFSET) span.clockOffset = Number(offset);
    return span;
  }

  private endpoint(
    service: DuckDBValue,
    address: DuckDBValue,
    port: DuckDBValue,
  ): Span['localEndpoint'] {
    const serviceName = this.text(service);
    const ips = this.text(address);
    if (serviceName === undefined && ips === undefined && !port) return undefined;
    const endpoint: NonNullable<Span['localEndpoint']> = {};
    if (serviceName !== undefined) endpoint.serviceName = serviceName;
    if (ips !== undefined) {
      const space = ips.indexOf(' ');
      if (space > 0) endpoint.ipv4 = ips.slice(0, space);
      if (space < ips.length - 1) endpoint.ipv6 = ips.slice(space + 1);
    }
    if (port) endpoint.port = Number(port);
    return endpoint;
  }

  /**
   * Runs a query whose rows are `t` (a number for the trace, or null) then the span columns, and
   * groups the spans by trace: each trace sorted (see sortTrace), with its `t`.
   */
  private async spansByTrace(
    sql: string,
    params?: DuckDBValue[],
  ): Promise<Map<string, { t: number; spans: Span[] }>> {
    const out = new Map<string, { t: number; spans: Span[] }>();
    if (this.closed) throw new Error('the DuckDB store is closed');
    this.reader = (this.reader + 1) % this.readers.length;
    const result = await this.readers[this.reader]!.run(sql, params);
    const columns = await result.getColumns();
    const count = columns[0]?.length ?? 0;
    for (let i = 0; i < count; i++) {
      const span = this.toSpan(columns, i, 1);
      const trace = out.get(span.traceId);
      if (trace) trace.spans.push(span);
      else out.set(span.traceId, { t: Number(columns[0]![i] ?? 0), spans: [span] });
    }
    for (const trace of out.values()) sortTrace(trace.spans);
    return out;
  }

  /** The spans of these (valid) trace ids: rows of `traces` say which writes hold them. */
  private async fetchTraces(traceIds: readonly string[]): Promise<Map<string, Span[]>> {
    const ids = [...new Set(traceIds)].filter((id) => VALID_TRACE_ID.test(id));
    if (ids.length === 0) return new Map();
    const wanted = ids
      .map((id) => {
        const { hi, lo } = traceKey(id);
        return `(trace_lo = ${lo} AND trace_hi = ${hi})`;
      })
      .join(' OR ');
    const traces = await this.spansByTrace(
      `WITH w AS (SELECT seq, trace_hi, trace_lo FROM traces WHERE ${wanted})
       SELECT NULL, ${SPAN_SELECT} FROM spans s
       JOIN w ON s.seq = w.seq AND s.trace_hi = w.trace_hi AND s.trace_lo = w.trace_lo`,
    );
    return new Map([...traces].map(([id, t]) => [id, t.spans]));
  }

  async getTrace(traceId: string): Promise<Span[]> {
    return (await this.fetchTraces([traceId])).get(traceId) ?? [];
  }

  async getTraces(traceIds: readonly string[]): Promise<Span[][]> {
    const found = await this.fetchTraces(traceIds);
    return [...new Set(traceIds)].flatMap((id) => {
      const trace = found.get(id);
      return trace ? [trace] : [];
    });
  }

  /**
   * One query: the traces whose timestamp is in the window (from `traces`: every such trace has
   * a row whose `k` is its timestamp), those with the service, those whose spans meet the
   * conditions (reading only the writes that hold them), the newest `limit`, and their spans.
   */
  async findTraces(query: TraceQuery): Promise<Span[][]> {
    const window = queryWindow(query.endTs, query.lookback);
    const from = Math.ceil(window.from);
    const to = Math.floor(window.to);
    if (!(from <= to)) return [];
    let service = 0;
    if (query.serviceName !== undefined) {
      service = this.codes.get(query.serviceName) ?? -1;
      if (service < 0) return [];
    }
    // Span conditions, each to be met by some span (of the service, when given).
    const conditions: string[] = [];
    const params: string[] = [];
    if (query.remoteServiceName !== undefined) {
      const code = this.codes.get(query.remoteServiceName);
      if (code === undefined) return [];
      conditions.push(`rsvc = ${code}`);
    }
    if (query.spanName !== undefined) {
      const code = this.codes.get(query.spanName);
      if (code === undefined) return [];
      conditions.push(`name = ${code}`);
    }
    if (query.minDuration !== undefined || query.maxDuration !== undefined) {
      const min = Math.max(1, Math.trunc(query.minDuration ?? 1));
      const max =
        query.maxDuration !== undefined ? ` AND duration <= ${Math.trunc(query.maxDuration)}` : '';
      conditions.push(`(duration >= ${min}${max})`);
    }
    for (const [key, value] of Object.entries(query.annotationQuery ?? {})) {
      const code = this.codes.get(key);
      const keysets = code === undefined ? [] : this.keysetsWith(code);
      if (value !== '') {
        if (keysets.length === 0) return [];
        params.push(`\x01${code}\x02${escape(value)}\x01`);
        conditions.push(
          // CASE, so that DuckDB cannot move the string match before the cheap tests.
          `CASE WHEN (tsig & ${tagBit(code!, value)}) <> 0 AND tkeys IN (${keysets.join(',')}) THEN contains(tags, $${params.length}) ELSE false END`,
        );
      } else {
        params.push(`\x02${escape(key)}\x01`);
        const inAnnotations = `CASE WHEN (tsig & ${annotationBit(key)}) <> 0 THEN contains(ann, $${params.length}) ELSE false END`;
        conditions.push(
          keysets.length === 0
            ? inAnnotations
            : `(tkeys IN (${keysets.join(',')}) OR ${inAnnotations})`,
        );
      }
    }
    const limit = Math.max(0, Math.trunc(query.limit));
    if (limit === 0) return [];
    // The newest matches are usually among the newest traces: first search about the newest few
    // hundred traces of the window (estimated from how many there are per µs), then, if fewer
    // than `limit` matched, the rest. Slices split the window exactly wherever the cut falls.
    const slices: [number, number][] = [[from, to]];
    const { rows, minK, maxK } = this.kStats;
    const newest = Math.min(to, maxK);
    const oldest = Math.max(from, minK);
    if (rows > 0 && maxK > minK && newest > oldest) {
      const inWindow = (rows * (newest - oldest)) / (maxK - minK);
      const first = Math.max(limit * 50, 500);
      if (inWindow > first * 2) {
        const cut = Math.floor(newest - ((newest - oldest) * first) / inWindow);
        slices.splice(0, 1, [cut, to], [from, cut - 1]);
      }
    }
    const found: Span[][] = [];
    for (const [lower, higher] of slices) {
      const traces = await this.findInSlice(
        lower,
        higher,
        service,
        conditions,
        params,
        limit - found.length,
      );
      found.push(...traces);
      if (found.length >= limit) break;
    }
    return found;
  }

  /** The newest `limit` traces with their timestamp in [from, to] that match, with their spans. */
  private async findInSlice(
    from: number,
    to: number,
    service: number,
    conditions: string[],
    params: string[],
    limit: number,
  ): Promise<Span[][]> {
    const matching = conditions.length
      ? `crow AS (SELECT seq, trace_hi, trace_lo FROM rws SEMI JOIN cand USING (trace_hi, trace_lo)),
         m AS (
           SELECT s.trace_hi, s.trace_lo FROM spans s
           JOIN crow c ON s.seq = c.seq AND s.trace_hi = c.trace_hi AND s.trace_lo = c.trace_lo
           WHERE ${service ? `s.lsvc = ${service} AND` : ''} (${conditions.join(' OR ')})
           GROUP BY s.trace_hi, s.trace_lo
           HAVING ${conditions.map((c) => `bool_or(${c})`).join(' AND ')}),
         top AS (SELECT * FROM cand SEMI JOIN m USING (trace_hi, trace_lo)
           ORDER BY tts DESC, trace_hi DESC, trace_lo DESC LIMIT ${limit}),`
      : `top AS (SELECT * FROM cand ORDER BY tts DESC, trace_hi DESC, trace_lo DESC LIMIT ${limit}),`;
    const traces = await this.spansByTrace(
      `WITH
       rws AS MATERIALIZED (
         SELECT seq, trace_hi, trace_lo, root_ts, ts_min, svcs FROM traces
         WHERE trace_lo IN (SELECT trace_lo FROM traces WHERE k BETWEEN ${from} AND ${to})),
       cand AS (
         SELECT trace_hi, trace_lo, coalesce(min(nullif(root_ts, 0)), min(nullif(ts_min, 0))) AS tts
         FROM rws GROUP BY trace_hi, trace_lo
         HAVING tts BETWEEN ${from} AND ${to} ${service ? `AND bool_or(contains(svcs, ',${service},'))` : ''}),
       ${matching}
       trow AS (SELECT r.seq, r.trace_hi, r.trace_lo, top.tts FROM rws r JOIN top USING (trace_hi, trace_lo))
       SELECT t.tts, ${SPAN_SELECT} FROM spans s
       JOIN trow t ON s.seq = t.seq AND s.trace_hi = t.trace_hi AND s.trace_lo = t.trace_lo`,
      params.length ? params : undefined,
    );
    return [...traces]
      .map(([traceId, t]) => ({ traceId, timestamp: t.t, spans: t.spans }))
      .sort(compareTracesNewestFirst)
      .map((t) => t.spans);
  }

  private async names(
    sql: string,
    decode: (code: DuckDBValue) => (string | undefined)[],
  ): Promise<string[]> {
    const out = new Set<string>();
    for (const [value] of await this.read(sql))
      for (const name of decode(value!)) if (name !== undefined) out.add(name);
    return [...out].sort();
  }

  private codeList = (value: DuckDBValue): (string | undefined)[] =>
    String(value)
      .split(',')
      .filter((c) => c !== '')
      .map((c) => this.values[Number(c)]);

  async getServiceNames(): Promise<string[]> {
    return this.names('SELECT DISTINCT svcs FROM traces', this.codeList);
  }

  async getRemoteServiceNames(serviceName: string): Promise<string[]> {
    const code = this.codes.get(serviceName.toLowerCase());
    if (code === undefined) return [];
    return this.names(`SELECT DISTINCT rsvc FROM spans WHERE lsvc = ${code} AND rsvc <> 0`, (c) => [
      this.text(c),
    ]);
  }

  async getSpanNames(serviceName: string): Promise<string[]> {
    const code = this.codes.get(serviceName.toLowerCase());
    if (code === undefined) return [];
    return this.names(`SELECT DISTINCT name FROM spans WHERE lsvc = ${code} AND name <> 0`, (c) => [
      this.text(c),
    ]);
  }

  /** Codes of the interned sets of tag keys that hold this key's code. */
  private keysetsWith(code: number): number[] {
    const out: number[] = [];
    const needle = `,${code},`;
    for (let c = 1; c < this.values.length; c++) {
      const value = this.values[c]!;
      if (value.startsWith(KEYSET) && value.includes(needle)) out.push(c);
    }
    return out;
  }

  async getTagKeys(): Promise<string[]> {
    return this.names(`SELECT DISTINCT tkeys FROM spans WHERE tkeys <> 0`, (keyset) =>
      this.codeList(this.values[Number(keyset)]!.slice(KEYSET.length)),
    );
  }

  async getTagValues(key: string): Promise<string[]> {
    const code = this.codes.get(key);
    const keysets = code === undefined ? [] : this.keysetsWith(code);
    if (keysets.length === 0) return [];
    const rows = await this.read(
      `SELECT DISTINCT regexp_extract(tags, $1, 1) FROM spans WHERE tkeys IN (${keysets.join(',')})`,
      [`\x01${code}\x02([^\x01]*)\x01`],
    );
    return [...new Set(rows.map(([v]) => unescape(String(v))))].sort();
  }

  async getDependencies(endTs: number, lookback: number): Promise<DependencyLink[]> {
    const window = queryWindow(endTs, lookback);
    const from = Math.ceil(window.from);
    const to = Math.floor(window.to);
    if (!(from <= to)) return [];
    // Like Zipkin, links group traces by the low 64 bits of their ids.
    const groups = `
      hit AS (SELECT DISTINCT trace_lo FROM traces WHERE k BETWEEN ${from} AND ${to}),
      g AS (
        SELECT trace_lo FROM traces SEMI JOIN hit USING (trace_lo) GROUP BY trace_lo
        HAVING coalesce(min(root_ts) FILTER (WHERE root_ts > 0), min(ts_min) FILTER (WHERE ts_min > 0))
          BETWEEN ${from} AND ${to})`;
    const bounds = await this.read(
      `WITH ${groups} SELECT min(seq), max(seq) FROM traces SEMI JOIN g USING (trace_lo)`,
    );
    const [s0, s1] = bounds[0] ?? [];
    if (s0 === null || s0 === undefined) return [];
    const rows = await this.read(dependencySql(groups, Number(s0), Number(s1)));
    const links = rows.map(([parent, child, calls, errors]) => {
      const link: DependencyLink = {
        parent: this.text(parent!)!,
        child: this.text(child!)!,
        callCount: Number(calls),
      };
      if (Number(errors) > 0) link.errorCount = Number(errors);
      return link;
    });
    return links.sort((a, b) => compareText(a.parent, b.parent) || compareText(a.child, b.child));
  }

  // ---- retention and upkeep --------------------------------------------------------------------

  deleteDaysBefore(beforeMicros: number): Promise<number> {
    return this.serialised(async () => {
      const cutoff = utcDayStart(beforeMicros);
      const w = this.writer;
      await w.run('BEGIN TRANSACTION');
      let removed: number;
      try {
        // Summaries of writes that straddle the cutoff are recomputed from what remains.
        await w.run(
          `CREATE OR REPLACE TEMP TABLE redo AS
           SELECT DISTINCT seq, trace_hi, trace_lo FROM traces WHERE t_min < ${cutoff} AND t_max >= ${cutoff}`,
        );
        removed = Number((await w.run(`DELETE FROM spans WHERE ts < ${cutoff}`)).rowsChanged);
        await w.run(`DELETE FROM traces WHERE t_min < ${cutoff}`);
        await w.run(
          `INSERT INTO traces
           SELECT seq, trace_hi, trace_lo,
             CASE WHEN root_ts > 0 THEN root_ts ELSE ts_min END, root_ts, ts_min, t_min, t_max, svcs
           FROM (
             SELECT seq, trace_hi, trace_lo,
               coalesce(min(ts) FILTER (WHERE parent_id = 0 AND flags & ${HAS_TS} <> 0), 0) AS root_ts,
               coalesce(min(ts) FILTER (WHERE flags & ${HAS_TS} <> 0), 0) AS ts_min,
               min(ts) AS t_min, max(ts) AS t_max,
               ',' || coalesce(array_to_string(list_sort(list(DISTINCT lsvc) FILTER (WHERE lsvc <> 0)), ','), '') || ',' AS svcs
             FROM spans SEMI JOIN redo USING (seq, trace_hi, trace_lo)
             GROUP BY seq, trace_hi, trace_lo)`,
        );
        await w.run('DROP TABLE redo');
        await w.run('COMMIT');
      } catch (error) {
        await w.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
      await this.loadKStats(w);
      if (removed > 0) await w.run('CHECKPOINT');
      return removed;
    });
  }

  async countSpans(): Promise<number> {
    const rows = await this.read('SELECT count(*) FROM spans');
    return Number(rows[0]![0]);
  }

  /** Waits for queued writes, checkpoints (so that the file holds everything) and closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.serialised(async () => {
      await this.writer.run('CHECKPOINT');
    }).catch(() => undefined);
    this.closed = true;
    this.disconnect();
  }

  private disconnect(): void {
    for (const connection of [this.writer, ...this.readers]) connection.disconnectSync();
    this.instance.closeSync();
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Zipkin's dependency linker in SQL (see linkDependencies in @blkkin/model, which it agrees with
 * on well-formed data): pieces of a span are merged into nodes, a server sharing a client's id
 * is marked shared, nodes are put in a tree (a shared server under its client, a local span under
 * the shared server of its endpoint, orphans under the root), the tree is walked from the top
 * carrying the nearest ancestor that has a kind, and calls are counted. Where it may differ:
 * pieces of one span that disagree on the local endpoint, or several unshared spans with one id.
 */
function dependencySql(groups: string, s0: number, s1: number): string {
  return `
  WITH RECURSIVE ${groups},
  merged AS MATERIALIZED (
    SELECT trace_lo AS tr, id, (flags & ${SHARED}) <> 0 AS shared, lsvc, lip, lport,
      max(parent_id) AS pid,
      CASE WHEN bool_or(flags & 7 = 1) THEN 1 ELSE max(flags & 7) END AS kind,
      bool_or((flags & ${HAS_ERROR}) <> 0) AS err, max(rsvc) AS rsvc
    FROM spans SEMI JOIN g USING (trace_lo)
    WHERE seq BETWEEN ${s0} AND ${s1}
    GROUP BY trace_lo, id, shared, lsvc, lip, lport),
  clients AS (SELECT DISTINCT tr, id FROM merged WHERE NOT shared AND kind = 1),
  numbered AS MATERIALIZED (
    SELECT row_number() OVER () AS nid, m.*,
      m.shared OR (m.kind = 2 AND c.id IS NOT NULL) AS sh
    FROM merged m LEFT JOIN clients c ON c.tr = m.tr AND c.id = m.id),
  uniq AS MATERIALIZED (
    SELECT * FROM numbered WHERE NOT sh
    QUALIFY row_number() OVER (PARTITION BY tr, id ORDER BY kind = 1, lsvc DESC, lip DESC, lport DESC) = 1),
  sharednodes AS MATERIALIZED (SELECT * FROM numbered WHERE sh),
  nodes AS (SELECT * FROM uniq UNION ALL SELECT * FROM sharednodes),
  roots AS (
    SELECT tr, nid AS root FROM uniq WHERE pid = 0
    QUALIFY row_number() OVER (PARTITION BY tr ORDER BY id, kind <> 1, lsvc, lip, lport) = 1),
  tree AS MATERIALIZED (
    SELECT n.nid, n.id, n.pid, n.kind, n.err, n.lsvc, n.rsvc,
      CASE
        WHEN n.nid = r.root THEN NULL
        WHEN n.sh THEN coalesce(u.nid, r.root)
        WHEN n.pid <> 0 THEN coalesce(s.nid, up.nid, r.root)
        ELSE r.root
      END AS pnid
    FROM nodes n
    LEFT JOIN roots r ON r.tr = n.tr
    LEFT JOIN uniq u ON u.tr = n.tr AND u.id = n.id
    LEFT JOIN sharednodes s ON s.tr = n.tr AND s.id = n.pid
      AND s.lsvc = n.lsvc AND s.lip = n.lip AND s.lport = n.lport
    LEFT JOIN uniq up ON up.tr = n.tr AND up.id = n.pid),
  walk(nid, kind, lsvc, id, err, found, rsv, rkind, rid, rerr) AS (
    SELECT nid, kind, lsvc, id, err, false, 0::UINTEGER, 0::USMALLINT, 0::UBIGINT, false
    FROM tree WHERE pnid IS NULL
    UNION ALL
    SELECT c.nid, c.kind, c.lsvc, c.id, c.err,
      w.found OR w.kind <> 0,
      CASE WHEN w.kind <> 0 THEN w.lsvc ELSE w.rsv END,
      CASE WHEN w.kind <> 0 THEN w.kind::USMALLINT ELSE w.rkind END,
      CASE WHEN w.kind <> 0 THEN w.id ELSE w.rid END,
      CASE WHEN w.kind <> 0 THEN w.err ELSE w.rerr END
    FROM walk w JOIN tree c ON c.pnid = w.nid),
  kids AS (SELECT pnid, count(*) AS n FROM tree WHERE pnid IS NOT NULL GROUP BY pnid),
  calls AS (
    SELECT t.nid, t.pid, t.kind, t.err, t.lsvc, t.rsvc, w.found, w.rsv, w.rkind, w.rid, w.rerr,
      coalesce(k.n, 0) AS nkids,
      CASE WHEN t.kind = 0 AND t.lsvc <> 0 AND t.rsvc <> 0 THEN 1 ELSE t.kind END AS ek
    FROM walk w JOIN tree t ON t.nid = w.nid LEFT JOIN kids k ON k.pnid = t.nid),
  rpc AS (
    SELECT *, CASE WHEN ek = 2 THEN rsvc ELSE lsvc END AS p0, CASE WHEN ek = 2 THEN lsvc ELSE rsvc END AS c0
    FROM calls WHERE ek IN (1, 2) AND NOT (kind = 1 AND nkids > 0)),
  links AS (
    SELECT CASE WHEN ek = 3 THEN lsvc ELSE rsvc END AS p, CASE WHEN ek = 3 THEN rsvc ELSE lsvc END AS c, err
    FROM calls WHERE ek IN (3, 4) AND lsvc <> 0 AND rsvc <> 0
    UNION ALL
    SELECT CASE WHEN found AND rsv <> 0 AND (ek = 2 OR p0 = 0) THEN rsv ELSE p0 END, c0,
      err OR (found AND rsv <> 0 AND rkind = 1 AND pid <> 0 AND pid = rid AND rerr)
    FROM rpc
    UNION ALL
    SELECT rsv, lsvc, false FROM rpc WHERE ek = 1 AND found AND rsv <> 0 AND lsvc <> 0 AND rsv <> lsvc)
  SELECT p, c, count(*), count(*) FILTER (WHERE err) FROM links WHERE p <> 0 AND c <> 0 GROUP BY p, c`;
}
