import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Levels, NOOP_SPAN, TraceFlags, contextFromHex, type SpanContext } from '../src/index.js';
import { collecting, sleep } from './tracer-helpers.js';

const { SAMPLED, DEBUG, DECIDED } = TraceFlags;

test('levels: a tracepoint is recorded when its level is at most the threshold', async () => {
  const { tracer, spans } = collecting({ level: 'warning' });
  assert.equal(tracer.level, Levels.warning);
  const s = tracer.startSpan('op', { level: Levels.error });
  s.annotate('emergency', Levels.emergency);
  s.annotate('warning', Levels.warning);
  s.annotate('notice', Levels.notice);
  s.annotate('default-is-info');
  s.end();
  const info = tracer.startSpan('info-span'); // default level: info, above the threshold
  assert.equal(info.isRecording, false);
  info.end();
  await tracer.flush();
  assert.equal(spans.length, 1);
  assert.equal(spans[0]!.level, Levels.error);
  assert.deepEqual(
    spans[0]!.annotations!.map((a) => [a.value, a.level]),
    [
      ['emergency', 0],
      ['warning', 4],
    ],
  );
  await tracer.close();
});

test('levels change at run time (setLevel, configure)', async () => {
  const { tracer, spans } = collecting({ level: 'error' });
  const s = tracer.startSpan('op', { level: 3 });
  s.annotate('before', Levels.debug);
  tracer.setLevel('debug');
  s.annotate('after', Levels.debug);
  tracer.configure({ level: 3 });
  s.annotate('again', Levels.info);
  tracer.setLevel('nonsense'); // ignored
  assert.equal(tracer.level, 3);
  s.end();
  await tracer.flush();
  assert.deepEqual(
    spans[0]!.annotations!.map((a) => a.value),
    ['after'],
  );
  await tracer.close();
});

test('a span filtered by level is transparent: its children attach to its parent', async () => {
  const { tracer, spans } = collecting({ level: 'info' });
  const root = tracer.startSpan('root');
  const filtered = tracer.startSpan('debug-detail', { parent: root, level: Levels.debug });
  assert.equal(filtered.isRecording, false);
  assert.equal(filtered.context.s0, root.s0);
  assert.equal(filtered.context.s1, root.s1);
  const child = tracer.startSpan('child', { parent: filtered });
  filtered.annotate('ignored');
  filtered.end(); // does not end root
  child.end();
  root.end();
  await tracer.flush();
  const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
  assert.deepEqual(Object.keys(byName).sort(), ['child', 'root']);
  assert.equal(byName.child!.parentId, byName.root!.id);
  await tracer.close();
});

test('probabilistic sampling of new traces; the decision travels in the context flags', async () => {
  const { tracer } = collecting({ sampler: { probability: 0.25 } });
  let sampled = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const s = tracer.startSpan('op');
    if (s.isRecording) {
      sampled++;
      assert.equal(s.context.flags & (SAMPLED | DECIDED), SAMPLED | DECIDED);
      const child = tracer.startSpan('child', { parent: s });
      assert.ok(child.isRecording, 'a child of a sampled span is sampled');
      child.end();
    } else {
      assert.equal(s, NOOP_SPAN);
      assert.equal(s.context.flags & SAMPLED, 0);
      assert.equal(s.context.flags & DECIDED, DECIDED);
      const child = tracer.startSpan('child', { parent: s });
      assert.equal(child, NOOP_SPAN, 'a child of an unsampled root costs nothing');
    }
    s.end();
  }
  assert.ok(Math.abs(sampled / n - 0.25) < 0.03, `sampled ${sampled / n}`);
  tracer.configure({ sampler: { probability: 0 } });
  assert.equal(tracer.startSpan('never').isRecording, false);
  tracer.configure({ sampler: { probability: 1 } });
  assert.equal(tracer.startSpan('always').isRecording, true);
  await tracer.close();
});

test('rate-limited sampling: at most perSecond new traces per second', async () => {
  const { tracer } = collecting({ sampler: { perSecond: 20 } });
  const count = () => {
    let n = 0;
    for (let i = 0; i < 1000; i++) {
      const s = tracer.startSpan('op');
      if (s.isRecording) n++;
      s.end();
    }
    return n;
  };
  assert.equal(count(), 20, 'a burst of one second');
  assert.equal(count(), 0);
  await sleep(520);
  const refilled = count();
  assert.ok(refilled >= 8 && refilled <= 12, `≈ 10 after half a second: ${refilled}`);
  assert.equal(tracer.sampler.perSecond, 20);
  tracer.configure({ sampler: { perSecond: 0 } }); // no bound
  assert.equal(count(), 1000);
  await tracer.close();
});

function remote(flags: number): SpanContext {
  return contextFromHex('463ac35c9f6413ad48485a3953bb6124', 'a2fb4a1d1a96d312', undefined, flags)!;
}

test('parent-based: a remote decision is followed; undecided parents get the root sampler', async () => {
  const { tracer, spans } = collecting({ sampler: { probability: 0 } });
  const yes = tracer.startSpan('server', { parent: remote(SAMPLED | DECIDED), kind: 'SERVER' });
  assert.ok(yes.isRecording);
  yes.end();
  const no = tracer.startSpan('server', { parent: remote(DECIDED) });
  assert.equal(no.isRecording, false);
  assert.equal(no.context.t3, remote(0).t3, 'unsampled: still carries the trace for propagation');
  assert.equal(no.context.s1, remote(0).s1);
  const grandchild = tracer.startSpan('inner', { parent: no });
  assert.equal(grandchild, no, 'children of an unsampled remote parent share one object');
  const undecided = tracer.startSpan('server', { parent: remote(0) });
  assert.equal(undecided.isRecording, false, 'root sampler (probability 0) decides');
  assert.equal(undecided.context.flags & DECIDED, DECIDED);
  await tracer.flush();
  assert.equal(spans.length, 1);
  assert.equal(spans[0]!.traceId, '463ac35c9f6413ad48485a3953bb6124');
  assert.equal(spans[0]!.parentId, 'a2fb4a1d1a96d312');
  // Not parent-based: the remote decision is ignored.
  tracer.configure({ sampler: { probability: 1, parentBased: false } });
  assert.ok(tracer.startSpan('server', { parent: remote(DECIDED) }).isRecording);
  await tracer.close();
});

test('debug flag forces recording, whatever the sampler and the threshold', async () => {
  const { tracer, spans } = collecting({ sampler: { probability: 0 }, level: 'error' });
  const forced = tracer.startSpan('forced', { debug: true, level: Levels.debug });
  assert.ok(forced.isRecording);
  forced.annotate('detail', Levels.debug);
  const child = tracer.startSpan('child', { parent: forced, level: Levels.debug });
  assert.ok(child.isRecording);
  assert.equal(child.context.flags & DEBUG, DEBUG);
  child.end();
  forced.end();
  const fromPeer = tracer.startSpan('peer', { parent: remote(DEBUG), level: Levels.debug });
  assert.ok(fromPeer.isRecording);
  fromPeer.end();
  await tracer.flush();
  assert.equal(spans.length, 3);
  assert.ok(spans.every((s) => s.debug === true));
  assert.equal(spans.find((s) => s.name === 'forced')!.annotations![0]!.value, 'detail');
  await tracer.close();
});

test('unsampledIds: unsampled roots get ids so peers learn the decision', async () => {
  const { tracer } = collecting({ sampler: { probability: 0 }, unsampledIds: true });
  const s = tracer.startSpan('op');
  assert.equal(s.isRecording, false);
  assert.ok(s.context.t3 !== 0 || s.context.t2 !== 0);
  assert.ok(s.context.s0 !== 0 || s.context.s1 !== 0);
  assert.equal(s.context.flags, DECIDED);
  const child = tracer.startSpan('child', { parent: s });
  assert.equal(child, s);
  await tracer.close();
});

test('a sampling decision without ids (B3 "1" / "0") starts a new trace with that decision', async () => {
  const { tracer } = collecting({ sampler: { probability: 0 } });
  const zeros = { t0: 0, t1: 0, t2: 0, t3: 0, s0: 0, s1: 0, p0: 0, p1: 0 };
  assert.ok(tracer.startSpan('op', { parent: { ...zeros, flags: SAMPLED | DECIDED } }).isRecording);
  tracer.configure({ sampler: { probability: 1 } });
  assert.equal(tracer.startSpan('op', { parent: { ...zeros, flags: DECIDED } }), NOOP_SPAN);
  assert.ok(tracer.startSpan('op', { parent: { ...zeros, flags: 0 } }).isRecording);
  await tracer.close();
});

test('bad input never throws into the application', async () => {
  const { tracer } = collecting();
  const s = tracer.startSpan(42 as unknown as string, {
    kind: 'NOPE' as 'CLIENT',
    remote: { ipv4: 'not an ip', port: 99999 },
    parent: 7 as unknown as SpanContext,
  });
  s.tag(undefined as unknown as string, null as unknown as string);
  s.annotate({} as unknown as string, 99 as 0);
  s.setRemote(null as unknown as { serviceName: string });
  s.end();
  s.end();
  s.annotate('after end');
  tracer.startSpan('null options', null as unknown as undefined).end();
  const odd = tracer.startSpan('odd level', { level: 'debug' as unknown as 7 });
  odd.annotate('odd', 'x' as unknown as 7);
  odd.end();
  NOOP_SPAN.annotate('x').tag('k', 'v').end();
  await tracer.flush();
  await tracer.close();
  tracer.startSpan('after close').end();
});
