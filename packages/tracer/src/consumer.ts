import { Assembler, type AssembledSpan } from './assembler.js';
import { EncodeContext, encodeJson, encodeProto3, toExported, type LocalInfo } from './encode.js';
import { SPAN_FORMAT_ZIPKIN_PROTO3, type AgentConfig } from './frames.js';
import type { ExportedSpan } from './options.js';
import { CTRL_READ, CTRL_WAKE, CTRL_WRITE, F64_DROPPED_EXPORT, type RingViews } from './ring.js';
import {
  AgentTransport,
  HttpTransport,
  NullTransport,
  Transport,
  agentSocketPath,
  type Batch,
} from './transport.js';
import { randomWord } from './ids.js';
import { ProtoAssembler } from './proto-assembler.js';

/** What the consumer needs, all of it serializable (it crosses to a worker thread). */
export interface ConsumerConfig {
  local: LocalInfo;
  exporter:
    | { type: 'agent'; path?: string; acceptConfig?: boolean }
    | { type: 'zipkin'; url: string; format?: 'proto3' | 'json'; headers?: Record<string, string> }
    | { type: 'none' }
    | { type: 'custom' };
  batchSize: number;
  maxQueuedBatches: number;
  maxSpanAge: number;
}

/** Hands spans to an in-process function (custom exporters). */
class FunctionTransport extends Transport {
  constructor(
    stats: Float64Array,
    maxQueued: number,
    private readonly fn: (spans: ExportedSpan[]) => void | Promise<void>,
    private readonly spans: Map<Buffer, ExportedSpan[]>,
  ) {
    super(stats, maxQueued);
  }
  protected async deliver(batch: Batch): Promise<boolean> {
    const spans = this.spans.get(batch.body) ?? [];
    this.spans.delete(batch.body);
    try {
      await this.fn(spans);
      return true;
    } catch {
      return false;
    }
  }
}

/**
 * Drains the ring, assembles spans, encodes batches and hands them to a transport. Runs on the
 * application's thread (deferred) or in a worker; the code is the same.
 */
export class Consumer {
  /** The general path (JSON, custom exporters): spans as objects, then encoded. */
  readonly assembler: Assembler;
  /** The fast path (proto3: collectors and the agent): events encoded as they are read. */
  readonly proto: ProtoAssembler | undefined;
  readonly ctx: EncodeContext;
  readonly transport: Transport;
  private readonly encode: (spans: AssembledSpan[]) => Buffer;
  private readonly customSpans = new Map<Buffer, ExportedSpan[]>();

  constructor(
    readonly views: RingViews,
    readonly config: ConsumerConfig,
    onConfig: (config: AgentConfig) => void,
    custom?: (spans: ExportedSpan[]) => void | Promise<void>,
  ) {
    this.assembler = new Assembler(views, config.maxSpanAge);
    this.ctx = new EncodeContext(this.assembler.strings, this.assembler.timeOrigin, config.local);
    const stats = views.f64;
    const ex = config.exporter;
    const max = config.maxQueuedBatches;
    this.encode = (spans) => encodeProto3(spans, this.ctx);
    if (ex.type === 'zipkin') {
      const json = ex.format === 'json';
      if (json) this.encode = (spans) => encodeJson(spans, this.ctx);
      this.transport = new HttpTransport(
        stats,
        max,
        ex.url,
        json ? 'application/json' : 'application/x-protobuf',
        ex.headers,
      );
    } else if (ex.type === 'agent') {
      this.transport = new AgentTransport(
        stats,
        max,
        ex.path ?? agentSocketPath(),
        {
          service: config.local.service,
          node: config.local.node,
          pid: process.pid,
          library: 'blkkin-tracer-js/0.1.0',
          runtime: `node ${process.version}`,
          instance:
            randomWord().toString(16).padStart(8, '0') + randomWord().toString(16).padStart(8, '0'),
          spanFormat: SPAN_FORMAT_ZIPKIN_PROTO3,
        },
        ex.acceptConfig === false ? () => {} : onConfig,
      );
    } else if (ex.type === 'custom' && custom !== undefined) {
      this.transport = new FunctionTransport(stats, max, custom, this.customSpans);
      this.encode = (spans) => {
        const key = Buffer.alloc(0);
        this.customSpans.set(
          key,
          spans.map((s) => toExported(s, this.ctx)),
        );
        return key;
      };
    } else {
      this.transport = new NullTransport(stats, max);
      this.encode = () => Buffer.alloc(0);
    }
    const proto3 =
      ex.type === 'agent' || ex.type === 'none' || (ex.type === 'zipkin' && ex.format !== 'json');
    if (proto3)
      this.proto = new ProtoAssembler(views, config.local, config.batchSize, config.maxSpanAge);
  }

  /** Whether the ring holds records not yet read, or finished spans are waiting. */
  hasWork(): boolean {
    const ctrl = this.views.ctrl;
    return (
      Atomics.load(ctrl, CTRL_WRITE) !== Atomics.load(ctrl, CTRL_READ) ||
      this.assembler.finished.length > 0 ||
      (this.proto !== undefined && this.proto.finished > 0)
    );
  }

  /** Reads the ring; sends full batches. */
  drain(): void {
    try {
      if (this.proto !== undefined) {
        this.proto.drain();
        Atomics.store(this.views.ctrl, CTRL_WAKE, 0);
        for (const batch of this.proto.takeFull()) this.transport.send(batch);
        return;
      }
      this.assembler.drain();
    } catch {
      // A corrupt ring (a bug): skip everything published so far rather than stall.
      Atomics.store(this.views.ctrl, CTRL_READ, Atomics.load(this.views.ctrl, CTRL_WRITE));
    }
    Atomics.store(this.views.ctrl, CTRL_WAKE, 0);
    const size = this.config.batchSize;
    while (this.assembler.finished.length >= size) {
      const all = this.assembler.finished;
      this.ship(all.slice(0, size));
      this.assembler.finished = all.slice(size);
    }
  }

  /** Periodic: drain, send what is finished, drop spans that never ended. */
  tick(): void {
    this.drain();
    if (this.proto !== undefined) this.proto.sweep();
    else this.assembler.sweep();
    this.shipAll();
  }

  private shipAll(): void {
    if (this.proto !== undefined) {
      for (const batch of this.proto.takeAll()) this.transport.send(batch);
      return;
    }
    const spans = this.assembler.take();
    const size = this.config.batchSize;
    for (let i = 0; i < spans.length; i += size) this.ship(spans.slice(i, i + size));
  }

  private ship(spans: AssembledSpan[]): void {
    if (spans.length === 0) return;
    let body: Buffer;
    try {
      body = this.encode(spans);
    } catch {
      this.views.f64[F64_DROPPED_EXPORT]! += spans.length;
      return;
    }
    this.transport.send({ body, count: spans.length });
  }

  /** Drains, sends everything finished, and waits until it is sent (or cannot be now). */
  async flush(): Promise<void> {
    this.drain();
    this.shipAll();
    await this.transport.idle();
  }

  async close(): Promise<void> {
    await this.flush();
    await this.transport.close();
  }
}
