import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeIssues, type FieldProblem } from '../pod-spec';
import { CHECKPOINT_LIMITS, checkpointSpecSchema } from './checkpoint-spec';

function problems(body: unknown): FieldProblem[] {
  const result = checkpointSpecSchema.safeParse(body);
  assert.equal(result.success, false, `expected ${JSON.stringify(body)} to be refused`);
  return describeIssues(result.error!, 'checkpoint');
}

function parse(body: unknown): unknown {
  const result = checkpointSpecSchema.safeParse(body);
  assert.equal(result.success, true, JSON.stringify(result.error?.issues));
  return result.data;
}

describe('checkpointSpecSchema', () => {
  test('each condition type is accepted; timeout defaults to 300 s, http path to "/"', () => {
    assert.deepEqual(parse({ enabled: true, condition: { type: 'http', port: 8080, path: '/ready?full=1' }, timeoutSeconds: 60 }), {
      enabled: true,
      condition: { type: 'http', port: 8080, path: '/ready?full=1' },
      timeoutSeconds: 60,
    });
    assert.deepEqual(parse({ enabled: true, condition: { type: 'http', port: 80 } }), {
      enabled: true,
      condition: { type: 'http', port: 80, path: '/' },
      timeoutSeconds: CHECKPOINT_LIMITS.timeoutSecondsDefault,
    });
    assert.deepEqual(parse({ enabled: true, condition: { type: 'tcp', port: 5432 } }), {
      enabled: true,
      condition: { type: 'tcp', port: 5432 },
      timeoutSeconds: 300,
    });
    assert.deepEqual(parse({ enabled: true, condition: { type: 'exec', command: ['sh', '-c', 'test -e /ready'] } }), {
      enabled: true,
      condition: { type: 'exec', command: ['sh', '-c', 'test -e /ready'] },
      timeoutSeconds: 300,
    });
    assert.deepEqual(parse({ enabled: true, condition: { type: 'file', path: '/tmp/ready' } }), {
      enabled: true,
      condition: { type: 'file', path: '/tmp/ready' },
      timeoutSeconds: 300,
    });
  });

  test('disabled needs no condition (whether enabled does depends on readiness: readiness-spec.spec)', () => {
    assert.deepEqual(parse({ enabled: false }), { enabled: false, timeoutSeconds: 300 });
    assert.deepEqual(problems({}), [{ path: 'checkpoint.enabled', message: 'is required' }]);
    assert.deepEqual(problems({ enabled: 'yes' }), [{ path: 'checkpoint.enabled', message: 'enabled must be true or false' }]);
  });

  test('unknown fields are refused at every level', () => {
    assert.deepEqual(problems({ enabled: false, retries: 3 }), [{ path: 'checkpoint.retries', message: 'unknown field' }]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'tcp', port: 80, path: '/' } }), [
      { path: 'checkpoint.condition.path', message: 'unknown field' },
    ]);
  });

  test('an unknown or missing condition type lists the known ones', () => {
    const message = 'condition.type must be one of http, tcp, exec, file';
    assert.deepEqual(problems({ enabled: true, condition: { type: 'grpc', port: 80 } }), [{ path: 'checkpoint.condition.type', message }]);
    assert.deepEqual(problems({ enabled: true, condition: { port: 80 } }), [{ path: 'checkpoint.condition.type', message }]);
  });

  test('timeout bounds', () => {
    assert.deepEqual(problems({ enabled: false, timeoutSeconds: 0 }), [
      { path: 'checkpoint.timeoutSeconds', message: 'timeoutSeconds must be at least 1' },
    ]);
    assert.deepEqual(problems({ enabled: false, timeoutSeconds: 30_000 }), [
      { path: 'checkpoint.timeoutSeconds', message: 'timeoutSeconds must be at most 3600 (one hour)' },
    ]);
    assert.deepEqual(problems({ enabled: false, timeoutSeconds: 1.5 }), [
      { path: 'checkpoint.timeoutSeconds', message: 'timeoutSeconds must be a whole number of seconds' },
    ]);
  });

  test('ports: missing, out of range, fractional', () => {
    assert.deepEqual(problems({ enabled: true, condition: { type: 'tcp' } }), [
      { path: 'checkpoint.condition.port', message: 'is required' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'http', port: 0 } }), [
      { path: 'checkpoint.condition.port', message: 'port must be 1-65535' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'tcp', port: 70000 } }), [
      { path: 'checkpoint.condition.port', message: 'port must be 1-65535' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'tcp', port: 80.5 } }), [
      { path: 'checkpoint.condition.port', message: 'port must be a whole number' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'tcp', port: '80' } }), [
      { path: 'checkpoint.condition.port', message: 'port must be a number' },
    ]);
  });

  test('http paths must be absolute request paths', () => {
    const at = 'checkpoint.condition.path';
    assert.deepEqual(problems({ enabled: true, condition: { type: 'http', port: 80, path: 'ready' } }), [
      { path: at, message: 'path must start with "/" and contain no spaces or control characters' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'http', port: 80, path: '/a b' } }), [
      { path: at, message: 'path must start with "/" and contain no spaces or control characters' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'http', port: 80, path: '/a#b' } }), [
      { path: at, message: 'path must not contain a fragment ("#")' },
    ]);
  });

  test('exec commands name a program and stay within bounds', () => {
    const at = 'checkpoint.condition.command';
    assert.deepEqual(problems({ enabled: true, condition: { type: 'exec', command: [] } }), [
      { path: at, message: 'command must name a program to run inside the container' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'exec', command: [' '] } }), [
      { path: at, message: 'the first element of command must be a program' },
    ]);
    assert.deepEqual(problems({ enabled: true, condition: { type: 'exec', command: 'test -e /x' } }), [
      { path: at, message: 'Invalid input: expected array, received string' },
    ]);
    const long = Array.from({ length: CHECKPOINT_LIMITS.execArgsMax + 1 }, () => 'x');
    assert.deepEqual(problems({ enabled: true, condition: { type: 'exec', command: long } }), [
      { path: at, message: 'command must have at most 64 elements' },
    ]);
  });

  test('file paths are absolute, inside the root, and name a file', () => {
    const at = 'checkpoint.condition.path';
    const file = (path: string): FieldProblem[] => problems({ enabled: true, condition: { type: 'file', path } });
    assert.deepEqual(file('ready'), [{ path: at, message: "path must be absolute (inside the pod's root)" }]);
    assert.deepEqual(file('/tmp/../../etc/passwd'), [{ path: at, message: 'path must not contain ".." segments' }]);
    assert.deepEqual(file('/'), [{ path: at, message: 'path must name a file, not the root' }]);
    assert.deepEqual(file('/a\0b'), [{ path: at, message: 'path must not contain NUL' }]);
  });
});
