import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  F64_BATCHES,
  F64_BYTES,
  F64_DROPPED_EXPORT,
  F64_EXPORTED,
  F64_EXPORT_ERRORS,
} from './ring.js';
import {
  FRAME_CONFIG,
  FRAME_SPANS,
  FrameReader,
  decodeConfig,
  encodeHello,
  frameHeader,
  spansPrefix,
  type AgentConfig,
  type Hello,
} from './frames.js';

/** An encoded batch waiting to be sent. */
export interface Batch {
  body: Buffer;
  count: number;
}

/**
 * Sends encoded batches one at a time, with at most `maxQueued` waiting: beyond, a batch is dropped
 * and counted. After a failure it waits (100 ms doubling to 30 s) before trying again. Counters go
 * to the ring's Float64 slots, where tracer.stats() reads them.
 */
export abstract class Transport {
  protected readonly queue: Batch[] = [];
  private busy = false;
  private backoff = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private idleWaiters: (() => void)[] = [];
  protected closed = false;

  constructor(
    protected readonly stats: Float64Array,
    private readonly maxQueued: number,
  ) {}

  /** Queues a batch; drops it (counted) when the queue is full. */
  send(batch: Batch): void {
    if (this.closed || this.queue.length >= this.maxQueued) {
      this.stats[F64_DROPPED_EXPORT]! += batch.count;
      return;
    }
    this.queue.push(batch);
    this.pump();
  }

  /** Resolves when nothing is queued or in flight, or when nothing can be sent now (peer away). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  protected isIdle(): boolean {
    return (
      !this.busy && (this.queue.length === 0 || this.retryTimer !== undefined || !this.ready())
    );
  }

  protected notifyIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Sends one batch; resolves true once the peer has it. */
  protected abstract deliver(batch: Batch): Promise<boolean>;

  /** Whether a batch can be delivered now (the socket is connected). */
  protected ready(): boolean {
    return true;
  }

  protected pump(): void {
    if (this.busy || this.retryTimer !== undefined || this.queue.length === 0) {
      this.notifyIdle();
      return;
    }
    if (!this.ready()) {
      this.notifyIdle();
      return;
    }
    const batch = this.queue.shift()!;
    this.busy = true;
    this.deliver(batch).then(
      (ok) => this.done(batch, ok),
      () => this.done(batch, false),
    );
  }

  private done(batch: Batch, ok: boolean): void {
    this.busy = false;
    if (ok) {
      this.stats[F64_EXPORTED]! += batch.count;
      this.stats[F64_BATCHES]! += 1;
      this.stats[F64_BYTES]! += batch.body.length;
      this.backoff = 0;
    } else {
      this.stats[F64_EXPORT_ERRORS]! += 1;
      this.stats[F64_DROPPED_EXPORT]! += batch.count;
      this.backoff = Math.min(30_000, this.backoff === 0 ? 100 : this.backoff * 2);
      if (!this.closed) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, this.backoff);
        this.retryTimer.unref();
      }
    }
    this.pump();
  }

  /** Stops; whatever is still queued is dropped and counted. */
  close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const b of this.queue) this.stats[F64_DROPPED_EXPORT]! += b.count;
    this.queue.length = 0;
    this.notifyIdle();
    return Promise.resolve();
  }
}

/** POSTs Zipkin v2 batches (proto3 or JSON) to a collector: blkkin serve or Zipkin. */
export class HttpTransport extends Transport {
  private readonly url: URL;

  constructor(
    stats: Float64Array,
    maxQueued: number,
    url: string,
    private readonly contentType: string,
    private readonly headers: Record<string, string> = {},
    private readonly timeoutMs = 10_000,
  ) {
    super(stats, maxQueued);
    const u = new URL(url);
    if (!/\/api\/v2\/spans\/?$/.test(u.pathname))
      u.pathname = `${u.pathname.replace(/\/$/, '')}/api/v2/spans`;
    this.url = u;
  }

  protected deliver(batch: Batch): Promise<boolean> {
    return new Promise((resolve) => {
      const request = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
      let settled = false;
      const finish = (ok: boolean) => {
        if (!settled) {
          settled = true;
          resolve(ok);
        }
      };
      try {
        const req = request(this.url, {
          method: 'POST',
          headers: {
            ...this.headers,
            'content-type': this.contentType,
            'content-length': String(batch.body.length),
          },
          timeout: this.timeoutMs,
        });
        req.on('socket', (socket) => socket.unref());
        req.on('response', (res: IncomingMessage) => {
          res.resume();
          res.on('end', () => finish(res.statusCode !== undefined && res.statusCode < 300));
          res.on('error', () => finish(false));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', () => finish(false));
        req.end(batch.body);
      } catch {
        finish(false);
      }
    });
  }
}

/** The agent's socket: $BLKKIN_AGENT, else $XDG_RUNTIME_DIR/blkkin-agent.sock, else <tmpdir>/blkkin-agent.sock. */
export function agentSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BLKKIN_AGENT) return env.BLKKIN_AGENT;
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'blkkin-agent.sock');
  return join(tmpdir(), 'blkkin-agent.sock');
}

/**
 * Frames to the node's agent over a Unix socket (docs/agent-protocol.md). Connects lazily, sends
 * HELLO first on every connection, reconnects by itself with back-off (100 ms doubling to 5 s), and
 * takes CONFIG frames from the agent. Never keeps the process alive (the socket is unref'd).
 */
export class AgentTransport extends Transport {
  private socket: Socket | undefined;
  private connected = false;
  private reconnectDelay = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;
  /** Connections made (for tests and stats). */
  connections = 0;

  constructor(
    stats: Float64Array,
    maxQueued: number,
    readonly path: string,
    private readonly hello: Hello,
    private readonly onConfig: (config: AgentConfig) => void,
  ) {
    super(stats, maxQueued);
    this.connect();
  }

  protected override ready(): boolean {
    return this.connected;
  }

  private connect(): void {
    if (this.closed || this.socket !== undefined) return;
    const socket = connect(this.path);
    this.socket = socket;
    socket.unref();
    socket.setNoDelay?.(true);
    const reader = new FrameReader();
    let connectedAt = 0;
    socket.on('connect', () => {
      this.connected = true;
      this.connections++;
      connectedAt = Date.now();
      socket.write(encodeHello(this.hello));
      this.pump();
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) {
          if (f.type === FRAME_CONFIG) this.onConfig(decodeConfig(f.payload));
        }
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {
      // 'close' follows
    });
    socket.on('close', () => {
      // Back-off starts over only after a connection that lasted (not one the peer cut at once).
      if (connectedAt !== 0 && Date.now() - connectedAt > 1000) this.reconnectDelay = 0;
      this.connected = false;
      this.socket = undefined;
      this.scheduleReconnect();
      this.notifyIdle();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    this.reconnectDelay = Math.min(5000, this.reconnectDelay === 0 ? 100 : this.reconnectDelay * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect();
    }, this.reconnectDelay);
    this.reconnectTimer.unref();
  }

  protected deliver(batch: Batch): Promise<boolean> {
    const socket = this.socket;
    if (socket === undefined || !this.connected) return Promise.resolve(false);
    return new Promise((resolve) => {
      const prefix = spansPrefix(this.seq++, batch.count);
      socket.write(frameHeader(FRAME_SPANS, prefix.length + batch.body.length));
      socket.write(prefix);
      socket.write(batch.body, (err) => resolve(!err));
    });
  }

  override close(): Promise<void> {
    const done = super.close();
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const socket = this.socket;
    if (socket === undefined) return done;
    if (!this.connected) {
      socket.destroy();
      return done;
    }
    return new Promise((resolve) => {
      // Bounded: a peer that does not close its side within a second is cut off.
      const timer = setTimeout(() => socket.destroy(), 1000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}

/** Counts batches as exported and discards them. */
export class NullTransport extends Transport {
  protected deliver(): Promise<boolean> {
    return Promise.resolve(true);
  }
}
