import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { decodeZipkinProto3, type Span as ModelSpan } from '@blkkin/model';
import { agentSocketPath, createTracer, type Tracer } from '../src/index.js';
import {
  FRAME_CONFIG,
  FRAME_HELLO,
  FRAME_SPANS,
  FrameReader,
  PROTOCOL_VERSION,
  decodeConfig,
  decodeHello,
  decodeSpansPayload,
  encodeConfig,
  encodeHello,
  frame,
  type Hello,
} from '../src/frames.js';
import { sleep } from './tracer-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'blkkin-agent-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A minimal agent: parses frames, keeps hellos and spans, can push config. */
class FakeAgent {
  readonly hellos: Hello[] = [];
  readonly spans: ModelSpan[] = [];
  readonly seqs: number[] = [];
  readonly sockets = new Set<Socket>();
  server: Server | undefined;
  constructor(readonly path: string) {}

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      const reader = new FrameReader();
      socket.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.type === FRAME_HELLO) this.hellos.push(decodeHello(f.payload));
          else if (f.type === FRAME_SPANS) {
            const { seq, count, spans } = decodeSpansPayload(f.payload);
            const decoded = decodeZipkinProto3(spans);
            assert.equal(decoded.length, count);
            this.seqs.push(seq);
            this.spans.push(...decoded);
          }
        }
      });
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => {});
    });
    await new Promise<void>((r) => this.server!.listen(this.path, r));
  }

  push(config: Parameters<typeof encodeConfig>[0]): void {
    for (const s of this.sockets) s.write(encodeConfig(config));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out');
    await sleep(5);
  }
}

function spans(tracer: Tracer, count: number, name: string): void {
  for (let i = 0; i < count; i++) tracer.startSpan(name).tag('i', i).end();
}

for (const thread of ['main', 'worker'] as const) {
  test(`agent exporter (${thread} thread): hello, span batches, config pushed back`, async () => {
    const agent = new FakeAgent(join(dir, `a${n++}.sock`));
    await agent.start();
    const tracer = createTracer({
      service: 'Gateway',
      node: 'host-7',
      thread,
      exporter: { type: 'agent', path: agent.path },
      batchSize: 50,
      flushOnExit: false,
    });
    await until(() => agent.hellos.length === 1);
    assert.equal(agent.hellos[0]!.service, 'gateway');
    assert.equal(agent.hellos[0]!.node, 'host-7');
    assert.equal(agent.hellos[0]!.pid, process.pid);
    assert.equal(agent.hellos[0]!.instance.length, 16);
    spans(tracer, 120, 'op');
    await tracer.flush();
    await until(() => agent.spans.length === 120);
    assert.deepEqual(agent.seqs, [0, 1, 2]);
    assert.equal(agent.spans[0]!.localEndpoint?.serviceName, 'gateway');
    assert.equal(agent.spans[0]!.node, 'host-7');
    assert.equal(tracer.stats().exported, 120);

    agent.push({ level: 7, probability: 0.5, perSecond: 100, parentBased: false });
    await until(() => tracer.level === 7);
    assert.deepEqual(tracer.sampler, { probability: 0.5, perSecond: 100, parentBased: false });
    agent.push({ level: 3, perSecond: 0, probability: 1 });
    await until(() => tracer.level === 3);
    assert.deepEqual(tracer.sampler, { probability: 1, perSecond: Infinity, parentBased: false });
    await tracer.close();
    await agent.stop();
  });
}

test('agent exporter: reconnects by itself; while away, a bounded queue, then drops counted', async () => {
  const path = join(dir, `a${n++}.sock`);
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'agent', path },
    maxQueuedBatches: 2,
    flushOnExit: false,
  });
  // No agent yet: flush does not wait, batches queue up to the bound.
  for (let i = 0; i < 4; i++) {
    spans(tracer, 10, `early-${i}`);
    await tracer.flush();
  }
  assert.equal(tracer.stats().dropped.export, 20);
  const agent = new FakeAgent(path);
  await agent.start();
  await until(() => agent.spans.length === 20, 4000);
  assert.deepEqual([...new Set(agent.spans.map((s) => s.name))], ['early-0', 'early-1']);
  // The agent goes away and comes back: hello again, spans again.
  await agent.stop();
  await sleep(20);
  await agent.start();
  await until(() => agent.hellos.length === 2, 4000);
  spans(tracer, 5, 'late');
  await tracer.flush();
  await until(() => agent.spans.length === 25);
  assert.equal(tracer.stats().exported, 25);
  await tracer.close();
  await agent.stop();
});

test('agent exporter: a peer speaking nonsense is disconnected, the tracer carries on', async () => {
  const path = join(dir, `a${n++}.sock`);
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    socket.on('error', () => {});
    socket.resume();
    socket.write(Buffer.from('GARBAGE!GARBAGE!'));
  });
  await new Promise<void>((r) => server.listen(path, r));
  const tracer = createTracer({
    service: 'svc',
    exporter: { type: 'agent', path },
    flushOnExit: false,
  });
  await until(() => connections >= 2, 4000); // dropped it, reconnected
  spans(tracer, 3, 'x');
  await tracer.flush();
  await tracer.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test('agentSocketPath: $BLKKIN_AGENT, else $XDG_RUNTIME_DIR, else the temporary directory', () => {
  assert.equal(agentSocketPath({ BLKKIN_AGENT: '/x/agent.sock' }), '/x/agent.sock');
  assert.equal(
    agentSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }),
    '/run/user/1000/blkkin-agent.sock',
  );
  assert.equal(agentSocketPath({}), join(tmpdir(), 'blkkin-agent.sock'));
});

// ---- properties of the frame encodings ------------------------------------------------------

const helloArb = fc.record({
  service: fc.string({ unit: 'grapheme', maxLength: 40 }),
  node: fc.string({ maxLength: 40 }),
  pid: fc.nat({ max: 0xffffffff }),
  library: fc.string({ maxLength: 20 }),
  runtime: fc.string({ maxLength: 20 }),
  instance: fc.stringMatching(/^[0-9a-f]{16}$/),
  spanFormat: fc.nat({ max: 255 }),
});
const configArb = fc.record(
  {
    level: fc.nat({ max: 7 }),
    probability: fc.double({ min: 0, max: 1, noNaN: true }),
    perSecond: fc.double({ min: 0, max: 1e9, noNaN: true }),
    parentBased: fc.boolean(),
  },
  { requiredKeys: [] },
);

test('property: HELLO and CONFIG frames round-trip', () => {
  fc.assert(
    fc.property(helloArb, (hello) => {
      const [f] = new FrameReader().push(encodeHello(hello));
      assert.equal(f!.type, FRAME_HELLO);
      assert.deepEqual(decodeHello(f!.payload), { ...hello });
    }),
  );
  fc.assert(
    fc.property(configArb, (config) => {
      const [f] = new FrameReader().push(encodeConfig(config));
      assert.equal(f!.type, FRAME_CONFIG);
      assert.deepEqual(decodeConfig(f!.payload), { ...config });
    }),
  );
});

test('property: a frame stream split anywhere reads back as the same frames', () => {
  const frameArb = fc.record({
    type: fc.nat({ max: 255 }),
    payload: fc.uint8Array({ maxLength: 300 }),
  });
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 10 }),
      fc.array(fc.nat({ max: 400 }), { maxLength: 20 }),
      (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => frame(f.type, f.payload)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const reader = new FrameReader();
        const got: { type: number; payload: Uint8Array }[] = [];
        let from = 0;
        for (const p of [...points, stream.length]) {
          for (const f of reader.push(stream.subarray(from, p))) {
            assert.equal(f.version, PROTOCOL_VERSION);
            got.push({ type: f.type, payload: new Uint8Array(f.payload) });
          }
          from = p;
        }
        assert.deepEqual(
          got,
          frames.map((f) => ({ type: f.type, payload: f.payload })),
        );
      },
    ),
  );
});

test('frames: a bad magic, an unknown version, a truncated field are errors', () => {
  assert.throws(() => new FrameReader().push(Buffer.from('XX\x01\x02\0\0\0\0')), /magic/);
  assert.throws(
    () => new FrameReader().push(Buffer.from('BK\x09\x02\0\0\0\0', 'latin1')),
    /version/,
  );
  assert.throws(() => decodeHello(Buffer.from([1, 0, 9, 65])), /truncated/);
});
