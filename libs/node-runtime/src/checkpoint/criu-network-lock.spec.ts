import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { criuRuncConfigText, isCriuNetworkLock, writeCriuRuncConfig } from './criu-network-lock';

test('the config file holds one CRIU long option per line, without its dashes', () => {
  assert.equal(criuRuncConfigText('nftables'), 'network-lock nftables\n');
  assert.equal(criuRuncConfigText('iptables'), 'network-lock iptables\n');
});

test('only the two methods CRIU knows are network locks', () => {
  assert.equal(isCriuNetworkLock('nftables'), true);
  assert.equal(isCriuNetworkLock('iptables'), true);
  for (const other of ['skip', '', 'NFTABLES', undefined, 1]) assert.equal(isCriuNetworkLock(other), false);
});

test('writeCriuRuncConfig writes the file (making its dir) and gives its absolute path; a second start rewrites it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'criu-conf-'));
  try {
    const path = await writeCriuRuncConfig(join(dir, 'agent'), 'iptables');
    assert.equal(path, join(dir, 'agent', 'criu-runc.conf'));
    assert.equal(await readFile(path, 'utf8'), 'network-lock iptables\n');
    assert.equal(await writeCriuRuncConfig(join(dir, 'agent'), 'nftables'), path);
    assert.equal(await readFile(path, 'utf8'), 'network-lock nftables\n');
    assert.equal((await stat(path)).mode & 0o777, 0o644);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
