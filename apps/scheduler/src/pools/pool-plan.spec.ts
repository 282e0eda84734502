import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PodPhase } from '@warmpod/domain';
import { planPool, type MemberView } from './pool-plan';

const OLD = `sha256:${'a'.repeat(64)}`;
const NEW = `sha256:${'b'.repeat(64)}`;
const NOW = 1_000_000;
const GRACE = 30_000;
let seq = 0;

function m(digest: string, phase: PodPhase | undefined, extra: Partial<MemberView> = {}): MemberView {
  seq++;
  return {
    podId: `p${seq}`,
    digest,
    admittedAt: NOW - 10_000 + seq,
    stopRequested: false,
    ...(phase ? { phase, node: 'n1' } : {}),
    ...extra,
  };
}

const plan = (size: number, members: MemberView[], state: 'active' | 'draining' = 'active') =>
  planPool({ pool: { size, state, image: { digest: NEW } }, members, now: NOW, graceMs: GRACE });

describe('planPool', () => {
  test('an empty pool asks for its size of the current digest', () => {
    assert.deepEqual(plan(3, []), { prune: [], retire: [], start: 3, ready: 0, stable: false, old: 0, awaiting: [], pending: [] });
  });

  test('ended pods and record-less husks past the grace period are pruned, and replaced', () => {
    const dead = m(NEW, 'Failed');
    const husk = m(NEW, undefined, { admittedAt: NOW - GRACE });
    const young = m(NEW, undefined, { admittedAt: NOW - 10 });
    const p = plan(3, [dead, husk, young, m(NEW, 'Running')]);
    assert.deepEqual(p.prune, [dead.podId, husk.podId]);
    assert.equal(p.start, 1, 'the young husk holds its slot');
  });

  test('a pod being stopped is neither live nor pruned until it has ended', () => {
    const stopping = m(NEW, 'Running', { stopRequested: true });
    const p = plan(1, [stopping]);
    assert.deepEqual(p.prune, []);
    assert.equal(p.start, 1);
    assert.equal(p.ready, 0);
  });

  test('after a re-pin: old pods not Running are superseded at once; Running ones wait for replacements', () => {
    const oldRunning = [m(OLD, 'Running'), m(OLD, 'Running')];
    const oldStarting = m(OLD, 'Starting', { node: 'n2' });
    const p = plan(2, [...oldRunning, oldStarting]);
    assert.deepEqual(p.retire, [{ podId: oldStarting.podId, mode: 'superseded' }]);
    assert.equal(p.start, 2);
    assert.equal(p.old, 3);
    assert.deepEqual(p.awaiting, ['n2']);
  });

  test('each Running replacement lets one old pod go, oldest first', () => {
    const oldRunning = [m(OLD, 'Running'), m(OLD, 'Running'), m(OLD, 'Running')];
    const fresh = [m(NEW, 'Running'), m(NEW, 'Starting'), m(NEW, 'Pending')];
    const p = plan(3, [...oldRunning, ...fresh]);
    assert.deepEqual(p.retire, [{ podId: oldRunning[0]!.podId, mode: 'rotate' }]);
    assert.equal(p.start, 0);
    assert.equal(p.ready, 1);
    assert.deepEqual(
      p.pending.map((x) => x.podId),
      [fresh[2]!.podId],
    );
  });

  test('a pool short of pods after claims keeps its old pods until new ones are Running', () => {
    const p = plan(4, [m(OLD, 'Running'), m(NEW, 'Running')]);
    assert.deepEqual(p.retire, []);
    assert.equal(p.start, 3);
  });

  test('a shrink retires pods not Running first, then the newest Running', () => {
    const a = m(NEW, 'Running');
    const b = m(NEW, 'Running');
    const c = m(NEW, 'Pending');
    const p = plan(1, [a, b, c]);
    assert.deepEqual(p.retire, [
      { podId: c.podId, mode: 'shrink' },
      { podId: b.podId, mode: 'shrink' },
    ]);
  });

  test('a template is stable once one of its pods has stayed Running a while', () => {
    assert.equal(plan(1, [m(NEW, 'Running', { runningSince: NOW - 1_000 })]).stable, false);
    assert.equal(plan(1, [m(NEW, 'Running', { runningSince: NOW - 10_000 })]).stable, true);
  });

  test('a draining pool retires every live pod and starts none', () => {
    const a = m(NEW, 'Running');
    const b = m(OLD, undefined, { admittedAt: NOW - 5 });
    const p = plan(3, [a, b], 'draining');
    assert.deepEqual(p.retire, [
      { podId: a.podId, mode: 'drain' },
      { podId: b.podId, mode: 'drain' },
    ]);
    assert.equal(p.start, 0);
  });
});
