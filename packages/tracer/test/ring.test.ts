import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Levels, type ExportedSpan, type Span } from '../src/index.js';
import {
  CTRL_READ,
  CTRL_WRITE,
  createRing,
  decodeRecord,
  drainRing,
  type RingEvent,
} from '../src/ring.js';
import { collecting } from './tracer-helpers.js';

test('records decode back from the ring, strings defined once before use', async () => {
  const { tracer } = collecting({ exporter: undefined });
  const views = tracer._views;
  const span = tracer.startSpan('read', { kind: 'CLIENT', level: Levels.notice });
  span.annotate('sent').tag('object', 'rbd_data.1').tag('size', 4096).tag('cached', false);
  span.setRemote({ serviceName: 'OSD', ipv4: '10.0.0.2', port: 6800 });
  span.end();
  tracer._publish();
  const events: RingEvent[] = [];
  drainRing(views, (v, at) => events.push(decodeRecord(v, at)));
  const strings = new Map<number, string>();
  const str = (id: number) => {
    assert.ok(strings.has(id), `string ${id} used before its definition`);
    return strings.get(id);
  };
  const seen: unknown[] = [];
  for (const e of events) {
    if (e.type === 'string') strings.set(e.id, e.value);
    else if (e.type === 'start') {
      assert.equal(e.kind, 1);
      assert.equal(e.level, 5);
      assert.equal(e.s0, span.s0);
      assert.equal(e.s1, span.s1);
      assert.equal(e.t3, span.t3);
      seen.push(['start', str(e.name)]);
    } else if (e.type === 'annotate') seen.push(['annotate', str(e.value), e.level]);
    else if (e.type === 'tag') seen.push(['tag', str(e.key), str(e.value)]);
    else if (e.type === 'tagNum' || e.type === 'tagBool') seen.push(['tag', str(e.key), e.value]);
    else if (e.type === 'remote') seen.push(['remote', str(e.service), str(e.ip), e.port]);
    else if (e.type === 'end') seen.push(['end']);
  }
  assert.deepEqual(seen, [
    ['start', 'read'],
    ['annotate', 'sent', 6],
    ['tag', 'object', 'rbd_data.1'],
    ['tag', 'size', 4096],
    ['tag', 'cached', false],
    ['remote', 'osd', '10.0.0.2', 6800],
    ['end'],
  ]);
  await tracer.close();
});

test('wrap-around: a small ring reused many times loses nothing and keeps records whole', async () => {
  const { tracer, spans } = collecting({ bufferSize: 4096, maxStrings: 32 });
  let expected = 0;
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < 7; i++) {
      const s = tracer.startSpan(`op-${i % 3}`);
      s.annotate('a');
      s.tag('round', round);
      s.tag('unique', `value-${round}-${i}-${'x'.repeat(i * 13)}`); // not interned: temp strings
      s.end();
      expected++;
    }
    await tracer.flush();
  }
  const stats = tracer.stats();
  assert.equal(stats.dropped.ringFull, 0);
  assert.equal(spans.length, expected);
  assert.equal(stats.exported, expected);
  const last = spans.at(-1)!;
  assert.equal(last.tags?.unique, `value-199-6-${'x'.repeat(78)}`);
  assert.equal(last.tags?.round, '199');
  assert.equal(last.name, 'op-0');
  await tracer.close();
});

test('a full ring drops events and counts them; recording resumes once drained', async () => {
  const { tracer, spans } = collecting({ bufferSize: 4096 });
  const parent = tracer.startSpan('parent');
  let recorded = 0;
  for (let i = 0; i < 500; i++) {
    const s = tracer.startSpan('child', { parent });
    if (s.isRecording) recorded++;
    s.tag('i', i);
    s.end();
  }
  const stats = tracer.stats();
  assert.ok(stats.dropped.ringFull > 0, 'drops counted');
  assert.ok(stats.dropped.ringFullSpans > 0);
  assert.equal(stats.spansRecorded, recorded + 1);
  assert.equal(stats.spansRecorded + stats.dropped.ringFullSpans, 501);
  await tracer.flush();
  const first = spans.length;
  assert.ok(first > 0 && first < 500);
  // Drained: room again.
  const s = tracer.startSpan('after', { parent });
  s.end();
  parent.end();
  await tracer.flush();
  assert.deepEqual(
    spans.slice(first).map((x) => x.name),
    ['after', 'parent'],
  );
  const after = tracer.stats();
  // Spans recorded whose end was dropped count as unfinished once swept, or stay pending.
  assert.ok(after.exported <= after.spansRecorded);
  await tracer.close();
});

test('a span whose start was dropped records nothing more and is counted', async () => {
  const { tracer, spans } = collecting({ bufferSize: 4096 });
  const keep: Span[] = [];
  for (let i = 0; i < 200; i++) keep.push(tracer.startSpan('open'));
  const stats = tracer.stats();
  assert.ok(stats.dropped.ringFullSpans > 0);
  assert.equal(stats.spansRecorded + stats.dropped.ringFullSpans, 200);
  assert.equal(keep.filter((s) => s.isRecording).length, stats.spansRecorded);
  await tracer.flush();
  for (const s of keep) s.end();
  await tracer.flush();
  assert.equal(spans.length, stats.spansRecorded);
  assert.equal(tracer.stats().dropped.orphanEvents, 0);
  await tracer.close();
});

test('an interned-string table past its bound still records strings (temporary definitions)', async () => {
  const { tracer, spans } = collecting({ maxStrings: 16 });
  for (let i = 0; i < 50; i++) {
    const s = tracer.startSpan(`name-${i}`);
    s.annotate(`event-${i}`);
    s.tag(`key-${i}`, `value-${i}`);
    s.end();
  }
  await tracer.flush();
  assert.equal(spans.length, 50);
  spans.forEach((s, i) => {
    assert.equal(s.name, `name-${i}`);
    assert.equal(s.annotations?.[0]?.value, `event-${i}`);
    assert.deepEqual(s.tags, { [`key-${i}`]: `value-${i}` });
  });
  await tracer.close();
});

test('createRing: sizes are powers of two within bounds, positions start at zero', () => {
  const v = createRing(5000);
  assert.equal(v.size, 2048);
  assert.equal(v.ctrl[CTRL_WRITE], 0);
  assert.equal(v.ctrl[CTRL_READ], 0);
  assert.equal(createRing(1).size, 1024);
});

// ---- property: whatever the API is asked, the exported spans are what was asked ------------

type Op =
  | { op: 'start'; name: string; parent: number | null; kind: number; level: number }
  | { op: 'annotate'; span: number; value: string; level: number }
  | { op: 'tag'; span: number; key: string; value: string | number | boolean }
  | { op: 'end'; span: number }
  | { op: 'flush' };

const text = fc.oneof(
  fc.constantFrom('read', 'write', 'osd.op', 'é', '日本', ''),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ minLength: 240, maxLength: 300 }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('start' as const),
    name: text,
    parent: fc.option(fc.nat(20)),
    kind: fc.nat(4),
    level: fc.nat(7),
  }),
  fc.record({
    op: fc.constant('annotate' as const),
    span: fc.nat(20),
    value: text,
    level: fc.nat(7),
  }),
  fc.record({
    op: fc.constant('tag' as const),
    span: fc.nat(20),
    key: text,
    value: fc.oneof(text, fc.double({ noNaN: true }), fc.integer(), fc.boolean()),
  }),
  fc.record({ op: fc.constant('end' as const), span: fc.nat(20) }),
  fc.constant({ op: 'flush' as const }),
);

const KINDS = [undefined, 'CLIENT', 'SERVER', 'PRODUCER', 'CONSUMER'] as const;

test('property: ring layout, interning and assembly reproduce every recorded call', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { maxLength: 60 }),
      fc.integer({ min: 4, max: 64 }),
      async (ops, maxStrings) => {
        const { tracer, spans } = collecting({ level: 5, maxStrings, bufferSize: 64 * 1024 });
        const live: Span[] = [];
        type Model = Partial<ExportedSpan> & { ended: boolean };
        const model = new Map<Span, Model>();
        const byId = new Map<string, Model>();
        for (const o of ops) {
          if (o.op === 'start') {
            const parent = o.parent === null ? null : live[o.parent % Math.max(1, live.length)];
            const s = tracer.startSpan(o.name, {
              parent: parent ?? null,
              kind: KINDS[o.kind],
              level: o.level as 0,
            });
            live.push(s);
            if (s.isRecording) {
              const m: Model = {
                name: o.name.slice(0, 256),
                ended: false,
                level: o.level,
                ...(KINDS[o.kind] ? { kind: KINDS[o.kind] } : {}),
              };
              model.set(s, m);
              byId.set(s.context.s0.toString(16) + ':' + s.context.s1.toString(16), m);
            } else assert.ok(o.level > 5, 'only level-filtered spans do not record');
          } else if (o.op === 'flush') await tracer.flush();
          else {
            const s = live[o.span % Math.max(1, live.length)];
            if (!s) continue;
            const m = model.get(s);
            if (o.op === 'annotate') {
              s.annotate(o.value, o.level as 0);
              if (m && !m.ended && o.level <= 5 && o.value !== '')
                (m.annotations ??= []).push({ timestamp: 0, value: o.value, level: o.level });
            } else if (o.op === 'tag') {
              s.tag(o.key, o.value);
              // Empty keys are not exported (collectors reject them).
              if (m && !m.ended && o.key !== '')
                (m.tags ??= {})[o.key.slice(0, 256)] = String(o.value);
            } else {
              s.end();
              if (m) m.ended = true;
            }
          }
        }
        await tracer.flush();
        const ended = [...model.values()].filter((m) => m.ended);
        assert.equal(spans.length, ended.length);
        for (const got of spans) {
          const want = byId.get(
            parseInt(got.id.slice(0, 8), 16).toString(16) +
              ':' +
              parseInt(got.id.slice(8), 16).toString(16),
          )!;
          assert.ok(want, 'exported span was recorded');
          assert.equal(got.name, want.name);
          assert.equal(got.kind, want.kind);
          assert.equal(got.level, want.level);
          assert.deepEqual(
            got.annotations?.map((a) => [a.value, a.level]),
            want.annotations?.map((a) => [a.value, a.level]),
          );
          for (const a of got.annotations ?? []) assert.ok(a.timestamp >= got.timestamp);
          assert.deepEqual(got.tags, want.tags);
          assert.ok(got.duration >= 1);
        }
        assert.equal(tracer.stats().dropped.ringFull, 0);
        await tracer.close();
      },
    ),
    { numRuns: 150 },
  );
});
