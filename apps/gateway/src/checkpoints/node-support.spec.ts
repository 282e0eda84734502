import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkpointSupportOf } from './node-support';

const capable = {
  runtime: 'runc',
  runcVersion: '1.1.5',
  criuVersion: '3.17.1',
  criuOk: true,
  criuReason: '',
  criuMode: 'no-breakpoints',
  kernel: '6.1.0-28-amd64',
  arch: 'x64',
  cpuFlags: 'sse4_2  avx2 aes',
};

describe('checkpointSupportOf', () => {
  test('a CRIU-capable node gives its runtime fingerprint, CPU flags split', () => {
    assert.deepEqual(checkpointSupportOf({ id: 'n1', capabilities: capable }), {
      ok: true,
      runtime: {
        arch: 'x64',
        kernel: '6.1.0-28-amd64',
        criuVersion: '3.17.1',
        criuMode: 'no-breakpoints',
        runcVersion: '1.1.5',
        cpuFlags: ['sse4_2', 'avx2', 'aes'],
      },
    });
  });

  test('a node that locks with nftables carries it in its fingerprint; an empty one (an older agent) leaves it out', () => {
    const nft = checkpointSupportOf({ id: 'n1', capabilities: { ...capable, criuNetworkLock: 'nftables' } });
    assert.equal(nft.ok && nft.runtime.criuNetworkLock, 'nftables');
    const older = checkpointSupportOf({ id: 'n1', capabilities: { ...capable, criuNetworkLock: '' } });
    assert.equal(older.ok && 'criuNetworkLock' in older.runtime, false);
  });

  test("a node without working CRIU is refused with the agent's reason", () => {
    assert.deepEqual(
      checkpointSupportOf({ id: 'n1', capabilities: { ...capable, criuOk: false, criuReason: 'criu check failed: no kernel support' } }),
      {
        ok: false,
        reason: 'node n1 cannot checkpoint: criu check failed: no kernel support',
      },
    );
    assert.deepEqual(checkpointSupportOf({ id: 'n1', capabilities: {} }), {
      ok: false,
      reason: 'node n1 cannot checkpoint: it did not report a working CRIU',
    });
    // criuOk must be the boolean the registry stores, not a string that looks like one.
    assert.equal(checkpointSupportOf({ id: 'n1', capabilities: { ...capable, criuOk: 'true' } }).ok, false);
  });

  test('a lost node or a missing fingerprint field is refused', () => {
    assert.deepEqual(checkpointSupportOf({ id: 'n1', capabilities: capable, lostAt: '2026-01-01T00:00:00.000Z' }), {
      ok: false,
      reason: 'node n1 was lost at 2026-01-01T00:00:00.000Z',
    });
    const noKernel = Object.fromEntries(Object.entries(capable).filter(([k]) => k !== 'kernel'));
    assert.deepEqual(checkpointSupportOf({ id: 'n1', capabilities: { ...noKernel, criuVersion: ' ' } }), {
      ok: false,
      reason: 'node n1 did not report its runtime fingerprint (kernel, criuVersion)',
    });
  });
});
