import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeIssues, normaliseSpec, podRequestSchema, type FieldProblem } from './pod-spec';
import { podReadiness, READINESS_LIMITS } from './readiness-spec';

function problems(body: Record<string, unknown>): FieldProblem[] {
  const result = podRequestSchema.safeParse({ image: 'app', ...body });
  assert.equal(result.success, false, `expected ${JSON.stringify(body)} to be refused`);
  return describeIssues(result.error!);
}

function parsed(body: Record<string, unknown>) {
  const result = podRequestSchema.safeParse({ image: 'app', ...body });
  assert.equal(result.success, true, JSON.stringify(result.error?.issues));
  return result.data!;
}

const tcp8080 = { type: 'tcp', port: 8080 } as const;

describe('readiness in the pod request', () => {
  test('defaults: one success, 100 ms apart, 300 s; kept in the normalised spec', () => {
    const req = parsed({ ports: [8080], readiness: { condition: tcp8080 } });
    assert.deepEqual(normaliseSpec(req).readiness, {
      condition: tcp8080,
      intervalMs: READINESS_LIMITS.intervalMsDefault,
      successThreshold: 1,
      timeoutSeconds: 300,
    });
  });

  test('a probed port the pod does not expose is refused at its path', () => {
    assert.deepEqual(problems({ ports: [8080], readiness: { condition: { type: 'http', port: 9090, path: '/healthz' } } }), [
      {
        path: 'readiness.condition.port',
        message: "port 9090 is not one of the pod's ports (8080); readiness decides when they are exposed",
      },
    ]);
    assert.equal(problems({ readiness: { condition: tcp8080 } })[0]?.path, 'readiness.condition.port');
    // The checkpoint condition is the pod's readiness: the same rule.
    assert.equal(problems({ checkpoint: { enabled: true, condition: tcp8080 } })[0]?.path, 'checkpoint.condition.port');
  });

  test('impossible intervals and thresholds are refused', () => {
    assert.deepEqual(problems({ ports: [8080], readiness: { condition: tcp8080, intervalMs: 5000, timeoutSeconds: 5 } }), [
      { path: 'readiness.intervalMs', message: 'intervalMs (5000) must be shorter than timeoutSeconds' },
    ]);
    assert.deepEqual(
      problems({ ports: [8080], readiness: { condition: tcp8080, intervalMs: 1000, successThreshold: 11, timeoutSeconds: 10 } }),
      [{ path: 'readiness.successThreshold', message: '11 probes 1000 ms apart cannot pass within timeoutSeconds (10 s)' }],
    );
    assert.deepEqual(problems({ ports: [8080], readiness: { condition: tcp8080, successThreshold: 0 } }), [
      { path: 'readiness.successThreshold', message: 'successThreshold must be at least 1' },
    ]);
    assert.deepEqual(problems({ ports: [8080], readiness: { condition: tcp8080, intervalMs: 1 } }), [
      { path: 'readiness.intervalMs', message: 'intervalMs must be at least 10' },
    ]);
    assert.deepEqual(problems({ ports: [8080], readiness: { condition: tcp8080, timeoutSeconds: 0 } }), [
      { path: 'readiness.timeoutSeconds', message: 'timeoutSeconds must be at least 1' },
    ]);
  });

  test('an exec condition with an empty command is refused', () => {
    assert.deepEqual(problems({ readiness: { condition: { type: 'exec', command: [] } } }), [
      { path: 'readiness.condition.command', message: 'command must name a program to run inside the container' },
    ]);
    assert.deepEqual(problems({ readiness: { condition: { type: 'exec', command: [' '] } } }), [
      { path: 'readiness.condition.command', message: 'the first element of command must be a program' },
    ]);
  });

  test('a missing condition is required; readiness and a checkpoint condition are not given twice', () => {
    assert.deepEqual(problems({ readiness: {} }), [
      { path: 'readiness.condition', message: 'condition.type must be one of http, tcp, exec, file' },
    ]);
    assert.deepEqual(problems({ ports: [8080], readiness: { condition: tcp8080 }, checkpoint: { enabled: true, condition: tcp8080 } }), [
      {
        path: 'checkpoint.condition',
        message: 'the checkpoint is taken when the pod is ready: give the condition once, as readiness.condition',
      },
    ]);
    assert.deepEqual(problems({ checkpoint: { enabled: true } }), [
      { path: 'checkpoint.condition', message: 'condition is required when checkpointing is enabled (or give readiness)' },
    ]);
  });
});

describe('podReadiness: one mechanism for readiness and checkpoints', () => {
  test('the readiness section when given; a checkpointing pod checkpoints when it holds', () => {
    const spec = normaliseSpec(parsed({ ports: [8080], readiness: { condition: tcp8080 }, checkpoint: { enabled: true } }));
    assert.deepEqual(podReadiness(spec)?.condition, tcp8080);
  });

  test('without it, the checkpoint condition is the readiness, probed as before (3 in a row, 200 ms apart)', () => {
    const spec = normaliseSpec(parsed({ ports: [8080], checkpoint: { enabled: true, condition: tcp8080, timeoutSeconds: 60 } }));
    assert.deepEqual(podReadiness(spec), { condition: tcp8080, timeoutSeconds: 60, intervalMs: 200, successThreshold: 3 });
  });

  test('no condition at all: ready at once', () => {
    assert.equal(podReadiness(normaliseSpec(parsed({ ports: [8080] }))), undefined);
    assert.equal(podReadiness(normaliseSpec(parsed({ checkpoint: { enabled: false } }))), undefined);
  });
});
