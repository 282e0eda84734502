import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { restoreStepsFromLog } from './checkpoint-api';

describe('checkpoint bench: restore steps from the agent log', () => {
  it("reads each pod's `container restored` line, CRIU's phases included, and skips everything else", () => {
    const log = [
      'not json "container restored"',
      JSON.stringify({ level: 30, msg: 'pod running', podId: 'p1' }),
      JSON.stringify({
        level: 30,
        msg: 'container restored',
        podId: 'p1',
        pid: 7,
        ms: 900,
        verifyMs: 0,
        runcMs: 800,
        adoptMs: 100,
        criuTotalMs: 600,
      }),
      JSON.stringify({ level: 30, msg: 'container restored', podId: 'p2', runcMs: 'x' }),
      '',
    ].join('\n');
    const steps = restoreStepsFromLog(log);
    assert.deepEqual([...steps.keys()], ['p1']);
    assert.deepEqual(steps.get('p1'), { runcMs: 800, adoptMs: 100, criuTotalMs: 600 });
  });
});
