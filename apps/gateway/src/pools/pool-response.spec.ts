import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseImageReference, type PodRecord } from '@warmpod/domain';
import type { PoolRecord } from '@warmpod/store';
import { claimProblems, referenceOf } from './pool-request';
import { toPoolResponse } from './pool-response';

const OLD = `sha256:${'a'.repeat(64)}`;
const NEW = `sha256:${'b'.repeat(64)}`;

const pool: PoolRecord = {
  id: 'pool-1',
  tenant: 'acme',
  name: 'web',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:01:00.000Z',
  image: { requested: 'team/web', reference: 'r:5000/team/web:latest', pinned: `r:5000/team/web@${NEW}`, digest: NEW },
  size: 2,
  template: { command: [], args: [], env: {}, ports: [], resources: { cpu: 0.1, memoryMiB: 64, gpu: 0 } },
  nodeSelector: {},
  state: 'active',
  generation: 2,
  pinnedAt: '2026-01-01T00:01:00.000Z',
  previousDigest: OLD,
  failStreak: 0,
  backoffUntil: 0,
};

const pod = (phase: PodRecord['phase'], node?: string) => ({ phase, ...(node ? { node } : {}) }) as PodRecord;

describe('pool response', () => {
  test('counts ready pods of the current digest only, and shows the rotation while old pods remain', () => {
    const res = toPoolResponse(
      pool,
      [
        { member: { podId: 'p1', digest: OLD, admittedAt: 1 }, pod: pod('Running', 'n1'), stopRequested: false },
        { member: { podId: 'p2', digest: NEW, admittedAt: 2 }, pod: pod('Running', 'n2'), stopRequested: false },
        { member: { podId: 'p3', digest: NEW, admittedAt: 3 }, pod: pod('Running', 'n2'), stopRequested: true },
        { member: { podId: 'p4', digest: NEW, admittedAt: 4 }, stopRequested: false },
      ],
      { [`started:${NEW}`]: 3, [`retired:${OLD}`]: 1, 'ended:Failed': 2 },
    );
    assert.equal(res.ready, 1);
    assert.equal(res.starting, 1, 'p4, not yet Running (ready): starting, not claimable');
    assert.equal(res.desired, 2);
    assert.deepEqual(res.rotation, { from: OLD, to: NEW, since: pool.pinnedAt, oldPods: 1 });
    assert.deepEqual(res.pods[0], { id: 'p1', node: 'n1', digest: OLD, phase: 'Running', current: false, free: true });
    assert.equal(res.pods[3]?.phase, 'Creating');
    assert.deepEqual(res.stats, { started: { [NEW]: 3 }, claimed: {}, retired: { [OLD]: 1 }, ended: { Failed: 2 } });
    assert.equal(toPoolResponse(pool, [], {}).rotation, undefined, 'no old pods, no rotation');
  });

  test('a pin reference is registry/repository:tag, or @digest', () => {
    assert.equal(referenceOf(parseImageReference('team/web', 'r:5000')), 'r:5000/team/web:latest');
    assert.equal(referenceOf(parseImageReference(`r:5000/team/web@${OLD}`, 'x')), `r:5000/team/web@${OLD}`);
  });

  test('a claim may carry only image and pool', () => {
    assert.deepEqual(claimProblems({ image: 'x', pool: 'p' }), []);
    assert.deepEqual(
      claimProblems({ image: 'x', pool: 'p', labels: {}, command: [] }).map((p) => p.path),
      ['command', 'labels'],
    );
  });
});
