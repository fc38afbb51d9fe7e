import { Worker } from 'node:worker_threads';
import { Consumer, type ConsumerConfig } from './consumer.js';
import type { AgentConfig } from './frames.js';
import { HERE } from './here.js';
import type { TracerOptions } from './options.js';
import type { RingViews } from './ring.js';

/** The part of the tracer off the hot path: drains the ring, assembles, encodes, sends. */
export interface Pipeline {
  /** The ring is past half full: drain soon. */
  wake(): void;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** What the pipeline needs from its tracer. */
export interface PipelineHost {
  readonly service: string;
  readonly node: string;
  readonly endpoint: ConsumerConfig['local']['endpoint'];
  readonly _views: RingViews;
  _publish(): void;
  configure(config: { level?: number; sampler?: AgentConfigSampler }): void;
}

type AgentConfigSampler = { probability?: number; perSecond?: number; parentBased?: boolean };

export function applyAgentConfig(host: PipelineHost, config: AgentConfig): void {
  const sampler: AgentConfigSampler = {};
  let any = false;
  if (config.probability !== undefined) {
    sampler.probability = config.probability;
    any = true;
  }
  if (config.perSecond !== undefined) {
    sampler.perSecond = config.perSecond;
    any = true;
  }
  if (config.parentBased !== undefined) {
    sampler.parentBased = config.parentBased;
    any = true;
  }
  host.configure({ level: config.level, ...(any ? { sampler } : {}) });
}

const EXIT_FLUSH_MS = 2000;

export function startPipeline(host: PipelineHost, options: TracerOptions): Pipeline {
  const exporter = options.exporter ?? { type: 'agent' };
  const config: ConsumerConfig = {
    local: { service: host.service, endpoint: host.endpoint, node: host.node },
    exporter: exporter.type === 'custom' ? { type: 'custom' } : exporter,
    batchSize: Math.max(1, options.batchSize ?? 2000),
    maxQueuedBatches: Math.max(1, options.maxQueuedBatches ?? 16),
    maxSpanAge: options.maxSpanAge ?? 600_000,
  };
  const interval = Math.max(10, options.flushInterval ?? 1000);
  const onConfig = (c: AgentConfig) => applyAgentConfig(host, c);
  const pipeline =
    options.thread === 'worker' && exporter.type !== 'custom'
      ? new WorkerPipeline(host, config, interval, onConfig)
      : new MainPipeline(
          host,
          config,
          interval,
          onConfig,
          exporter.type === 'custom' ? exporter.export : undefined,
        );
  if (options.flushOnExit !== false) {
    let exiting = false;
    const onExit = () => {
      if (exiting || !pipeline.hasWork()) return;
      exiting = true;
      const guard = setTimeout(() => {}, EXIT_FLUSH_MS);
      host._publish();
      pipeline.flush().finally(() => {
        clearTimeout(guard);
        exiting = false;
      });
    };
    atExit.add(onExit);
    if (atExit.size === 1) process.on('beforeExit', runAtExit);
    pipeline.onClose = () => {
      atExit.delete(onExit);
      if (atExit.size === 0) process.off('beforeExit', runAtExit);
    };
  }
  return pipeline;
}

/** One beforeExit listener for every tracer (no listener-count warnings with many tracers). */
const atExit = new Set<() => void>();
function runAtExit(): void {
  for (const fn of atExit) fn();
}

/** Drains on this thread: every `interval` ms, and soon after the ring passes half full. */
class MainPipeline implements Pipeline {
  readonly consumer: Consumer;
  private readonly timer: ReturnType<typeof setInterval>;
  private scheduled = false;
  onClose: () => void = () => {};

  constructor(
    private readonly host: PipelineHost,
    config: ConsumerConfig,
    interval: number,
    onConfig: (c: AgentConfig) => void,
    custom: ((spans: import('./options.js').ExportedSpan[]) => void | Promise<void>) | undefined,
  ) {
    this.consumer = new Consumer(host._views, config, onConfig, custom);
    this.timer = setInterval(() => {
      this.host._publish();
      this.consumer.tick();
    }, interval);
    this.timer.unref();
  }

  hasWork(): boolean {
    return this.consumer.hasWork();
  }

  wake(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.consumer.drain();
    }).unref();
  }

  flush(): Promise<void> {
    this.host._publish();
    return this.consumer.flush();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.onClose();
    await this.consumer.close();
  }
}

interface WorkerReply {
  type: 'flushed' | 'config' | 'closed';
  id?: number;
  config?: AgentConfig;
}

/** Drains in a worker thread that reads the shared ring. The worker never keeps the process alive. */
class WorkerPipeline implements Pipeline {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, () => void>();
  private dead = false;
  private readonly timer: ReturnType<typeof setInterval>;
  onClose: () => void = () => {};

  constructor(
    private readonly host: PipelineHost,
    config: ConsumerConfig,
    interval: number,
    onConfig: (c: AgentConfig) => void,
  ) {
    this.worker = new Worker(new URL('./worker.js', HERE), {
      workerData: { sab: host._views.sab, config, interval },
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
    this.worker.on('message', (msg: WorkerReply) => {
      if (msg.type === 'config' && msg.config) onConfig(msg.config);
      else if (msg.id !== undefined) {
        const done = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        done?.();
      }
    });
    const fail = () => {
      this.dead = true;
      for (const done of this.waiting.values()) done();
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', fail);
    // The producer publishes in batches: make the tail visible to the worker regularly.
    this.timer = setInterval(() => host._publish(), Math.max(10, interval >> 1));
    this.timer.unref();
  }

  hasWork(): boolean {
    const ctrl = this.host._views.ctrl;
    return !this.dead && Atomics.load(ctrl, 0) !== Atomics.load(ctrl, 1);
  }

  wake(): void {
    if (!this.dead) this.worker.postMessage({ type: 'wake' });
  }

  private request(type: 'flush' | 'close'): Promise<void> {
    if (this.dead) return Promise.resolve();
    const id = this.nextId++;
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.ref();
      this.worker.postMessage({ type, id });
    }).finally(() => {
      if (this.waiting.size === 0 && !this.dead) this.worker.unref();
    });
  }

  flush(): Promise<void> {
    this.host._publish();
    return this.request('flush');
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.onClose();
    await this.request('close');
    await this.worker.terminate();
  }
}
