import { mkdir, open, readdir, readFile, rm, truncate, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

/**
 * The ingest log: accepted batches are appended here and fsynced before the client hears 2xx, then
 * written to the store in large batches. At start, what the store has not marked as stored is
 * replayed. Many concurrent appends share one write and one fdatasync (group commit).
 *
 * A segment file is named by its first sequence number. A record is
 *   u32 payload length | u32 crc32(seq..payload) | u64 seq | u8 format | payload
 * all big-endian. A torn record at the end of the last segment (a crash mid-write) is cut off.
 */

const HEADER = 17;
const SEGMENT_SUFFIX = '.log';

export interface LogRecord {
  seq: number;
  format: number;
  payload: Buffer;
}

interface Segment {
  firstSeq: number;
  lastSeq: number;
  path: string;
}

interface PendingAppend {
  seq: number;
  buffers: [Buffer, Buffer];
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface IngestLogOptions {
  /** Start a new segment past this size (bytes). */
  segmentBytes?: number;
  /** Never hand out sequence numbers at or below this (the store's mark). */
  minSeq?: number;
}

function segmentName(firstSeq: number): string {
  return `${String(firstSeq).padStart(16, '0')}${SEGMENT_SUFFIX}`;
}

function encodeHeader(seq: number, format: number, payload: Buffer): Buffer {
  const header = Buffer.allocUnsafe(HEADER);
  header.writeUInt32BE(payload.length, 0);
  header.writeBigUInt64BE(BigInt(seq), 8);
  header.writeUInt8(format, 16);
  header.writeUInt32BE(crc32(payload, crc32(header.subarray(8, HEADER))), 4);
  return header;
}

/** Parses one segment's records; `validBytes` is where the last whole record ends. */
function parseSegment(data: Buffer): { records: LogRecord[]; validBytes: number } {
  const records: LogRecord[] = [];
  let at = 0;
  while (at + HEADER <= data.length) {
    const length = data.readUInt32BE(at);
    if (at + HEADER + length > data.length) break;
    const payload = data.subarray(at + HEADER, at + HEADER + length);
    const expected = crc32(payload, crc32(data.subarray(at + 8, at + HEADER)));
    if (expected !== data.readUInt32BE(at + 4)) break;
    records.push({
      seq: Number(data.readBigUInt64BE(at + 8)),
      format: data.readUInt8(at + 16),
      payload,
    });
    at += HEADER + length;
  }
  return { records, validBytes: at };
}

export class IngestLog {
  private segments: Segment[] = [];
  private file: FileHandle | undefined;
  private fileBytes = 0;
  private nextSeq = 1;
  private queue: PendingAppend[] = [];
  private flushing = false;
  private closed = false;
  /** Everything up to here is in the store. */
  private releasedSeq = 0;
  /** Bytes cut from torn or corrupt records when the log was opened. */
  discardedBytes = 0;

  private constructor(
    readonly dir: string,
    private readonly segmentBytes: number,
  ) {}

  /** Opens the log in `dir`, returning it and the records it holds with seq > afterSeq. */
  static async open(
    dir: string,
    afterSeq: number,
    options: IngestLogOptions = {},
  ): Promise<{ log: IngestLog; pending: LogRecord[] }> {
    await mkdir(dir, { recursive: true });
    const log = new IngestLog(dir, options.segmentBytes ?? 64 * 1024 * 1024);
    const names = (await readdir(dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    const pending: LogRecord[] = [];
    let maxSeq = Math.max(afterSeq, options.minSeq ?? 0);
    for (const [i, name] of names.entries()) {
      const path = join(dir, name);
      const data = await readFile(path);
      const { records, validBytes } = parseSegment(data);
      if (validBytes < data.length) {
        log.discardedBytes += data.length - validBytes;
        // Only the tail of the newest segment can be torn by a crash; cut it so appends follow
        // whole records.
        if (i === names.length - 1) await truncate(path, validBytes);
      }
      if (records.length === 0) {
        await rm(path, { force: true });
        continue;
      }
      const firstSeq = records[0]!.seq;
      const lastSeq = records[records.length - 1]!.seq;
      log.segments.push({ firstSeq, lastSeq, path });
      for (const record of records) if (record.seq > afterSeq) pending.push(record);
      maxSeq = Math.max(maxSeq, lastSeq);
    }
    log.nextSeq = maxSeq + 1;
    await log.release(afterSeq);
    return { log, pending };
  }

  /** The sequence number the next append will get. */
  get next(): number {
    return this.nextSeq;
  }

  /**
   * Appends a record; `onDurable` runs synchronously, in sequence order, once it is on disk.
   * Resolves to the record's sequence number after that.
   */
  append(format: number, payload: Buffer, onDurable?: (seq: number) => void): Promise<number> {
    if (this.closed) return Promise.reject(new Error('ingest log is closed'));
    const seq = this.nextSeq++;
    return new Promise<number>((resolve, reject) => {
      this.queue.push({
        seq,
        buffers: [encodeHeader(seq, format, payload), payload],
        bytes: HEADER + payload.length,
        resolve: () => {
          onDurable?.(seq);
          resolve(seq);
        },
        reject,
      });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          await this.writeBatch(batch);
          for (const item of batch) item.resolve();
        } catch (err) {
          const error = err instanceof Error ? err : new Error(String(err));
          for (const item of batch) item.reject(error);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async writeBatch(batch: PendingAppend[]): Promise<void> {
    const first = batch[0]!;
    if (!this.file || this.fileBytes >= this.segmentBytes) {
      await this.file?.close();
      const path = join(this.dir, segmentName(first.seq));
      this.file = await open(path, 'a');
      this.fileBytes = 0;
      this.segments.push({ firstSeq: first.seq, lastSeq: first.seq, path });
    }
    const buffers: Buffer[] = [];
    let bytes = 0;
    for (const item of batch) {
      buffers.push(item.buffers[0], item.buffers[1]);
      bytes += item.bytes;
    }
    await this.file.writev(buffers);
    await this.file.datasync();
    this.fileBytes += bytes;
    this.segments[this.segments.length - 1]!.lastSeq = batch[batch.length - 1]!.seq;
  }

  /** Deletes the segments all of whose records have seq ≤ uptoSeq (they are in the store). */
  async release(uptoSeq: number): Promise<void> {
    this.releasedSeq = Math.max(this.releasedSeq, uptoSeq);
    const current = this.segments[this.segments.length - 1];
    while (this.segments.length > 0 && this.segments[0]!.lastSeq <= uptoSeq) {
      const segment = this.segments[0]!;
      // The open segment is kept: appends go on into it.
      if (segment === current && this.file) break;
      this.segments.shift();
      await rm(segment.path, { force: true });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    await this.file?.close();
    this.file = undefined;
    // With the file closed, the last segment can go too if the store has all of it.
    await this.release(this.releasedSeq);
  }
}
