import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_RESOURCES, describeIssues, normaliseSpec, podRequestSchema, type FieldProblem } from './pod-spec';

/** Validates a body and returns its problems; fails the test when the body is accepted. */
function problems(body: unknown, root?: string): FieldProblem[] {
  const result = podRequestSchema.safeParse(body);
  assert.equal(result.success, false, `expected ${JSON.stringify(body)} to be refused`);
  return describeIssues(result.error!, root);
}

describe('podRequestSchema + describeIssues', () => {
  test('a minimal body is valid and comes back unchanged', () => {
    const result = podRequestSchema.safeParse({ image: 'alpine' });
    assert.equal(result.success, true);
    assert.deepEqual(result.data, { image: 'alpine' });
  });

  test('resources default gpu to 0', () => {
    const result = podRequestSchema.safeParse({ image: 'alpine', resources: { cpu: 0.5, memoryMiB: 64 } });
    assert.equal(result.success, true);
    assert.deepEqual(result.data?.resources, { cpu: 0.5, memoryMiB: 64, gpu: 0 });
  });

  test('each unknown top-level field is named by its own path', () => {
    assert.deepEqual(problems({ image: 'alpine', foo: 1, bar: true }), [
      { path: 'foo', message: 'unknown field' },
      { path: 'bar', message: 'unknown field' },
    ]);
  });

  test('an unknown nested field is named by its full path', () => {
    assert.deepEqual(problems({ image: 'alpine', resources: { cpu: 1, memoryMiB: 64, disk: 5 } }), [
      { path: 'resources.disk', message: 'unknown field' },
    ]);
  });

  test('the root prefixes every path', () => {
    assert.deepEqual(problems({ image: 'alpine', foo: 1 }, 'body'), [{ path: 'body.foo', message: 'unknown field' }]);
    assert.deepEqual(problems({ image: 'alpine', ports: [0] }, 'body'), [{ path: 'body.ports.0', message: 'ports are 1-65535' }]);
  });

  test('a missing image is required; an empty one too', () => {
    assert.deepEqual(problems({}), [{ path: 'image', message: 'is required' }]);
    assert.deepEqual(problems({ image: '' }), [{ path: 'image', message: 'image is required' }]);
  });

  test('a missing memoryMiB in resources is required', () => {
    assert.deepEqual(problems({ image: 'alpine', resources: { cpu: 1 } }), [{ path: 'resources.memoryMiB', message: 'is required' }]);
  });

  test('an env value that is not a string is named by env.NAME', () => {
    assert.deepEqual(problems({ image: 'alpine', env: { PORT: 8080 } }), [
      { path: 'env.PORT', message: 'Invalid input: expected string, received number' },
    ]);
  });

  test('an env name that is not a shell name says what a name may be', () => {
    // The schema carries this message; the client must get it, not a generic "Invalid key in record".
    assert.deepEqual(problems({ image: 'alpine', env: { '1X': 'a' } }), [
      { path: 'env.1X', message: 'env names are letters, digits and "_", not starting with a digit' },
    ]);
  });

  test('ports out of range, fractional, or repeated', () => {
    assert.deepEqual(problems({ image: 'alpine', ports: [0] }), [{ path: 'ports.0', message: 'ports are 1-65535' }]);
    assert.deepEqual(problems({ image: 'alpine', ports: [80, 70000] }), [{ path: 'ports.1', message: 'ports are 1-65535' }]);
    assert.deepEqual(problems({ image: 'alpine', ports: [80.5] }), [{ path: 'ports.0', message: 'ports are whole numbers' }]);
    assert.deepEqual(problems({ image: 'alpine', ports: [80, 443, 80] }), [{ path: 'ports', message: 'ports must not repeat' }]);
  });

  test('cpu 0 is refused', () => {
    assert.deepEqual(problems({ image: 'alpine', resources: { cpu: 0, memoryMiB: 128 } }), [
      { path: 'resources.cpu', message: 'cpu must be greater than 0' },
    ]);
  });

  test('memory in bytes instead of MiB is refused', () => {
    assert.deepEqual(problems({ image: 'alpine', resources: { cpu: 1, memoryMiB: 10 ** 12 } }), [
      { path: 'resources.memoryMiB', message: 'memoryMiB must be at most 262144 (256 GiB)' },
    ]);
  });

  test('a body that is not an object is a (body) problem', () => {
    assert.deepEqual(problems(null), [{ path: '(body)', message: 'Invalid input: expected object, received null' }]);
  });

  test('every problem is reported, not only the first', () => {
    const found = problems({ image: '', ports: [0], resources: { cpu: 0, memoryMiB: 128 } });
    assert.deepEqual(found.map((p) => p.path).sort(), ['image', 'ports.0', 'resources.cpu']);
  });
});

describe('normaliseSpec', () => {
  test('fills every default', () => {
    assert.deepEqual(normaliseSpec({ image: 'alpine' }), {
      command: [],
      args: [],
      env: {},
      ports: [],
      resources: { cpu: 0.1, memoryMiB: 128, gpu: 0 },
      nodeSelector: {},
      restartPolicy: 'Never',
    });
    assert.deepEqual(DEFAULT_RESOURCES, { cpu: 0.1, memoryMiB: 128, gpu: 0 });
  });

  test('keeps what was given and leaves labels and image out of the spec', () => {
    const spec = normaliseSpec({
      image: 'alpine',
      command: ['/bin/sh'],
      args: ['-c', 'echo hi'],
      env: { A: '1' },
      ports: [8080],
      resources: { cpu: 2, memoryMiB: 512, gpu: 1 },
      nodeSelector: { zone: 'a' },
      restartPolicy: 'OnFailure',
      labels: { app: 'x' },
    });
    assert.deepEqual(spec, {
      command: ['/bin/sh'],
      args: ['-c', 'echo hi'],
      env: { A: '1' },
      ports: [8080],
      resources: { cpu: 2, memoryMiB: 512, gpu: 1 },
      nodeSelector: { zone: 'a' },
      restartPolicy: 'OnFailure',
    });
  });
});
