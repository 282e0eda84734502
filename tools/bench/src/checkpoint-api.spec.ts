import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { agentStepsFromLog, restoreStepsFromLog } from './checkpoint-api';

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

  it("reads each pod's `pod restore steps` line without pino's own fields; a line missing a step is skipped", () => {
    const steps = {
      fetchMs: 0,
      prepareMs: 120,
      unpackMs: 30,
      mountMs: 20,
      netnsMs: 110,
      verifyMs: 5,
      specMs: 4,
      runcRestoreMs: 250,
      readinessMs: 15,
      exposeMs: 1,
      recordMs: 3,
      runningMs: 4,
      totalMs: 400,
    };
    const incomplete: Partial<typeof steps> = { ...steps };
    delete incomplete.readinessMs;
    const log = [
      JSON.stringify({ level: 30, time: 't', node: 'node-1', msg: 'pod restore steps', podId: 'p1', ...steps }),
      JSON.stringify({ level: 30, msg: 'pod restore steps', podId: 'p2', ...incomplete }),
      'not json "pod restore steps"',
    ].join('\n');
    const found = agentStepsFromLog(log);
    assert.deepEqual([...found.keys()], ['p1']);
    assert.deepEqual(found.get('p1'), steps);
  });

  it('reads the readiness probe count when the agent logs it', () => {
    const steps = {
      fetchMs: 0,
      prepareMs: 120,
      unpackMs: 30,
      mountMs: 20,
      netnsMs: 110,
      verifyMs: 5,
      specMs: 4,
      runcRestoreMs: 250,
      readinessMs: 15,
      readinessProbes: 1,
      exposeMs: 1,
      recordMs: 3,
      runningMs: 4,
      totalMs: 400,
    };
    const log = JSON.stringify({ level: 30, msg: 'pod restore steps', podId: 'p1', ...steps });
    assert.deepEqual(agentStepsFromLog(log).get('p1'), steps);
  });
});
