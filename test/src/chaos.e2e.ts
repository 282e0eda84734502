import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatReport, losses, runChaos } from './chaos/chaos-run';

/**
 * The lean part of the chaos suite (`npm run chaos` is the long one): one
 * round of every fault (a scheduler replica, the gateway and an agent
 * SIGKILLed, Redis restarted), two at a time under two small bursts of
 * submissions.
 */
describe('chaos: a cluster under load survives its components dying', () => {
  test('every fault once: no pod lost or doubled, no overcommit, nothing left behind', async () => {
    const report = await runChaos({ rounds: 1, podsPerFault: 6, paired: true, log: (l) => console.log(`# ${l}`) });
    console.log(formatReport(report));
    assert.deepEqual(report.details, [], 'nothing lost, doubled, overcommitted or left behind');
    assert.equal(losses(report), 0);
    assert.equal(
      Object.values(report.faults).reduce((a, b) => a + b, 0),
      4,
    );
  });
});
