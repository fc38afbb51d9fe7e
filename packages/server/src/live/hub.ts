import { spanToZipkinJson, type Span } from '@blkkin/model';
import type { ServerResponse } from 'node:http';
import type { ServerMetrics } from '../metrics.js';

/** What one live subscriber wants to see. */
export interface LiveFilter {
  serviceName?: string;
  /** Microseconds. */
  minDuration?: number;
}

interface Subscriber {
  filter: LiveFilter;
  res: ServerResponse;
}

/** Past this many unsent bytes a subscriber is skipped (and the skip counted) until it catches up. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

function matches(span: Span, filter: LiveFilter): boolean {
  if (filter.serviceName !== undefined && span.localEndpoint?.serviceName !== filter.serviceName) {
    return false;
  }
  if (filter.minDuration !== undefined && (span.duration ?? 0) < filter.minDuration) return false;
  return true;
}

/**
 * Fans accepted spans out to server-sent-event subscribers. A subscriber that reads too slowly
 * misses spans rather than growing the server's memory; each miss is counted.
 */
export class LiveHub {
  private subscribers = new Set<Subscriber>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly metrics: ServerMetrics) {}

  get size(): number {
    return this.subscribers.size;
  }

  /** Takes over `res` as an event stream until the client goes away. */
  subscribe(res: ServerResponse, filter: LiveFilter): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`: blkkin live stream\nretry: 2000\n\n`);
    const subscriber: Subscriber = { filter, res };
    this.subscribers.add(subscriber);
    this.metrics.liveSubscribers.set(this.subscribers.size);
    res.on('close', () => {
      this.subscribers.delete(subscriber);
      this.metrics.liveSubscribers.set(this.subscribers.size);
    });
    if (!this.heartbeat) {
      this.heartbeat = setInterval(() => {
        for (const s of this.subscribers) s.res.write(': keep-alive\n\n');
      }, HEARTBEAT_MS);
      this.heartbeat.unref();
    }
  }

  publish(spans: readonly Span[]): void {
    if (this.subscribers.size === 0) return;
    // Encode each span at most once, whatever the number of subscribers.
    const encoded = new Map<Span, string>();
    for (const subscriber of this.subscribers) {
      const parts: string[] = [];
      for (const span of spans) {
        if (!matches(span, subscriber.filter)) continue;
        let json = encoded.get(span);
        if (json === undefined) {
          json = JSON.stringify(spanToZipkinJson(span));
          encoded.set(span, json);
        }
        parts.push(json);
      }
      if (parts.length === 0) continue;
      if (subscriber.res.writableLength > MAX_BUFFERED_BYTES) {
        this.metrics.liveDropped.inc(parts.length);
        continue;
      }
      subscriber.res.write(`event: spans\ndata: [${parts.join(',')}]\n\n`);
    }
  }

  close(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    for (const s of this.subscribers) s.res.end();
    this.subscribers.clear();
  }
}
