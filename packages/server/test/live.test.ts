import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postJson, startTestServer, zipkinSpan } from './helpers.js';

// GET /api/blkkin/v1/live: server-sent events of spans as they are ingested, filtered.

interface LiveSpan {
  id: string;
  localEndpoint?: { serviceName?: string };
  duration?: number;
}

/** Reads SSE `spans` events from the stream until `want` spans arrived. */
async function readSpans(url: string, want: number, started: () => void): Promise<LiveSpan[]> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  const spans: LiveSpan[] = [];
  started();
  const timeout = setTimeout(() => controller.abort(), 10_000);
  try {
    while (spans.length < want) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n').find((l) => l.startsWith('data: '));
        if (event.includes('event: spans') && data)
          spans.push(...(JSON.parse(data.slice(6)) as LiveSpan[]));
      }
    }
  } finally {
    clearTimeout(timeout);
    controller.abort();
  }
  return spans;
}

describe('live stream', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer({ memory: true });
  });
  after(async () => server.cleanup());

  test('delivers spans ingested after subscribing, filtered by service and minimum duration', async () => {
    let ready!: () => void;
    const subscribed = new Promise<void>((r) => (ready = r));
    const received = readSpans(
      `${server.url}/api/blkkin/v1/live?serviceName=OSD&minDuration=1000`,
      2,
      ready,
    );
    await subscribed;
    await new Promise((r) => setTimeout(r, 50));
    const spans = [
      zipkinSpan({
        traceId: '0000000000000001',
        id: '0000000000000001',
        duration: 5000,
        localEndpoint: { serviceName: 'osd' },
      }),
      zipkinSpan({
        traceId: '0000000000000001',
        id: '0000000000000002',
        duration: 10,
        localEndpoint: { serviceName: 'osd' },
      }),
      zipkinSpan({
        traceId: '0000000000000001',
        id: '0000000000000003',
        duration: 9000,
        localEndpoint: { serviceName: 'vlmc' },
      }),
      zipkinSpan({
        traceId: '0000000000000001',
        id: '0000000000000004',
        duration: 1000,
        localEndpoint: { serviceName: 'osd' },
      }),
    ];
    assert.equal((await postJson(server.url, '/api/v2/spans', spans)).status, 202);
    const got = await received;
    assert.deepEqual(
      got.map((s) => s.id),
      ['0000000000000001', '0000000000000004'],
    );
    assert.ok(got.every((s) => s.localEndpoint?.serviceName === 'osd'));
  });

  test('rejects a bad filter with 400', async () => {
    const res = await fetch(`${server.url}/api/blkkin/v1/live?minDuration=soon`);
    assert.equal(res.status, 400);
    assert.match(await res.text(), /minDuration/);
  });
});
