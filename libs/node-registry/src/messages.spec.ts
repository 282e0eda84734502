import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { describeIssues, nodeReportSchema, registerRequestSchema, schedulerInstructionSchema, type RegisterRequest } from './messages';
import { isValidNodeId } from '@warmpod/domain';
import { NODE_REGISTRY_PROTO, nodeRegistryService, UndecodableMessage } from './proto';
import { toRegisteredNode } from './registry-server';
import { unexpectedReason } from './report-stream';

const DIGEST = `sha256:${'a'.repeat(64)}`;

const valid: RegisterRequest = {
  nodeId: 'node-1',
  labels: { zone: 'a', 'warmpod.dev/pool': 'gpu' },
  capacity: { cpu: 2.5, memoryMib: 4096, gpu: 2 },
  gpus: [{ model: 'sim-a100', count: 2 }],
  capabilities: {
    runtime: 'runc',
    runcVersion: '1.1',
    criuVersion: '',
    criuOk: false,
    criuReason: 'criu is not installed',
    kernel: '6.1',
    arch: 'x64',
    cpuFlags: ['avx2'],
  },
  agentUrl: 'http://127.0.0.1:7001',
};

function registerError(request: unknown): string {
  const parsed = registerRequestSchema.safeParse(request);
  assert.equal(parsed.success, false, 'should be refused');
  return describeIssues(parsed.error!);
}

describe('registration schema', () => {
  test('accepts a sane registration', () => {
    assert.deepEqual(registerRequestSchema.parse(valid), valid);
  });

  test('refuses each insane field by name', () => {
    assert.match(registerError({ ...valid, nodeId: 'Node_1' }), /^nodeId: must be a DNS subdomain/);
    assert.deepEqual(registerRequestSchema.parse({ ...valid, nodeId: 'ip-10-0-0-1.ec2.internal' }).nodeId, 'ip-10-0-0-1.ec2.internal');
    assert.match(registerError({ ...valid, nodeId: 'a'.repeat(64) }), /^nodeId:/);
    assert.equal(isValidNodeId('n-1'), true);
    assert.match(
      registerError({ ...valid, capacity: { cpu: -1, memoryMib: 4096, gpu: 0 }, gpus: [] }),
      /^capacity\.cpu: must be greater than 0/,
    );
    assert.match(
      registerError({ ...valid, capacity: { cpu: 1, memoryMib: 0, gpu: 0 }, gpus: [] }),
      /^capacity\.memoryMib: must be greater than 0/,
    );
    assert.match(
      registerError({ ...valid, capacity: { cpu: 1, memoryMib: 1.5, gpu: 0 }, gpus: [] }),
      /^capacity\.memoryMib: must be a whole number/,
    );
    assert.match(
      registerError({ ...valid, capacity: { cpu: 1, memoryMib: 64, gpu: -1 }, gpus: [] }),
      /^capacity\.gpu: must not be negative/,
    );
    assert.match(registerError({ ...valid, capacity: null }), /^capacity: is required/);
    assert.match(registerError({ ...valid, capabilities: null }), /^capabilities: is required/);
    assert.match(registerError({ ...valid, gpus: [{ model: 'x', count: 3 }] }), /^gpus: GPU counts add up to 3, capacity\.gpu is 2/);
    assert.match(registerError({ ...valid, labels: { 'no spaces': 'x' } }), /^labels\.no spaces: label keys/);
    assert.match(registerError({ ...valid, agentUrl: 'ftp://x' }), /^agentUrl: must be an http\(s\) URL/);
    assert.match(registerError({ ...valid, agentUrl: '' }), /^agentUrl:/);
  });

  test('flattens capabilities for the store', () => {
    const node = toRegisteredNode(valid);
    assert.deepEqual(node.capacity, { cpu: 2.5, memoryMiB: 4096, gpu: 2 });
    assert.equal(node.capabilities['cpuFlags'], 'avx2');
    assert.equal(node.capabilities['criuOk'], false);
  });
});

describe('report schema', () => {
  const head = { nodeId: 'node-1', sessionId: '3f0c5b8e-5a38-4c55-8f8e-0f3c1a2b3c4d' };
  const inventory = {
    images: [{ digest: DIGEST, sizeBytes: 10, layers: [{ digest: DIGEST, sizeBytes: 10 }] }],
    runningPods: ['pod-1'],
    checkpoints: [],
    usage: null,
  };

  test('accepts each body and names the case in `body`', () => {
    assert.equal(nodeReportSchema.parse({ ...head, body: 'inventory', inventory }).body, 'inventory');
    assert.equal(nodeReportSchema.parse({ ...head, body: 'heartbeat', heartbeat: { sentAtMs: 1 } }).body, 'heartbeat');
    const delta = { addedImages: [], removedImages: [DIGEST], runningPods: [], checkpoints: [], usage: { cpu: 0, memoryMib: 0, gpu: 0 } };
    assert.equal(nodeReportSchema.parse({ ...head, body: 'delta', delta }).body, 'delta');
  });

  test('names the field of a malformed report', () => {
    const fail = (report: unknown) => describeIssues(nodeReportSchema.safeParse(report).error!);
    assert.match(fail({ ...head }), /^body: a report carries one of inventory, delta or heartbeat/);
    assert.match(
      fail({ ...head, body: 'inventory', inventory: { ...inventory, images: [{ digest: 'x', sizeBytes: -1, layers: [] }] } }),
      /inventory\.images\[0\]\.digest: .*; inventory\.images\[0\]\.sizeBytes: must not be negative/,
    );
    assert.match(
      fail({ ...head, body: 'inventory', inventory: { ...inventory, runningPods: ['../etc'] } }),
      /^inventory\.runningPods\[0\]: is not a container id/,
    );
    assert.match(fail({ ...head, sessionId: '', body: 'heartbeat', heartbeat: { sentAtMs: 1 } }), /^sessionId: is required/);
  });

  test('describeIssues lists at most three problems and counts the rest', () => {
    const parsed = registerRequestSchema.safeParse({
      ...valid,
      nodeId: '_',
      agentUrl: 'x',
      labels: { '-': '-' },
      gpus: [{ model: '', count: 0 }],
    });
    assert.match(describeIssues(parsed.error!), /\(and \d+ more\)$/);
  });

  test('instructions: ack or stopPods', () => {
    assert.equal(schedulerInstructionSchema.parse({ body: 'ack', ack: { receivedAtMs: 5 } }).body, 'ack');
    assert.equal(schedulerInstructionSchema.safeParse({ body: 'stopPods', stopPods: { podIds: ['a b'], reason: '' } }).success, false);
  });
});

describe('proto', () => {
  test('is found from the package root and decodes nothing malformed into an exception', () => {
    assert.ok(existsSync(NODE_REGISTRY_PROTO));
    const connect = nodeRegistryService()['Connect']!;
    assert.ok(connect.requestDeserialize(Buffer.from([0x1a, 0x10, 0x0a])) instanceof UndecodableMessage);
    const bytes = connect.requestSerialize({ nodeId: 'n', sessionId: 's', heartbeat: { sentAtMs: 7 } });
    assert.deepEqual(connect.requestDeserialize(bytes), { nodeId: 'n', sessionId: 's', heartbeat: { sentAtMs: 7 }, body: 'heartbeat' });
  });
});

describe('reconcile', () => {
  test('a pod is expected only when it is placed on this node and not ended', () => {
    assert.equal(unexpectedReason('n1', { phase: 'Running', node: 'n1' }), undefined);
    assert.equal(unexpectedReason('n1', { phase: 'Scheduled', node: 'n1' }), undefined);
    assert.equal(unexpectedReason('n1', undefined), 'not expected on n1: no pod record');
    assert.equal(unexpectedReason('n1', { phase: 'Lost', node: 'n1' }), 'not expected on n1: pod is Lost');
    assert.equal(unexpectedReason('n1', { phase: 'Running', node: 'n2' }), 'not expected on n1: pod is placed on n2');
    assert.equal(unexpectedReason('n1', { phase: 'Pending' }), 'not expected on n1: pod is Pending (not placed)');
  });
});
