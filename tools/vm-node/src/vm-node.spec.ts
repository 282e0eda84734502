import assert from 'node:assert/strict';
import { test } from 'node:test';
import { VmNodeError } from './errors';
import { normaliseGuestForwards, parseHostForwards, userNetdev } from './forwards';

test('the user netdev is restricted and touches 127.0.0.1 only', () => {
  const netdev = userNetdev(
    normaliseGuestForwards([
      { guestPort: 6379, hostPort: 6379 },
      { guestIp: '10.0.2.101', guestPort: 5000, hostPort: 41234, loopback: true },
    ]),
    [{ guestPort: 8080 }, { hostPort: 18080, guestPort: 9090 }],
    '/bin/busybox',
  );
  const parts = netdev.split(',');
  assert.deepEqual(parts.slice(0, 3), ['user', 'id=n0', 'restrict=on']);
  assert.deepEqual(parts.slice(3), [
    'guestfwd=tcp:10.0.2.100:6379-cmd:/bin/busybox nc 127.0.0.1 6379',
    'guestfwd=tcp:10.0.2.101:5000-cmd:/bin/busybox nc 127.0.0.1 41234',
    'hostfwd=tcp:127.0.0.1:0-10.0.2.15:8080',
    'hostfwd=tcp:127.0.0.1:18080-10.0.2.15:9090',
  ]);
});

test('guest forward addresses stay inside the user network and off its fixed hosts', () => {
  for (const guestIp of ['10.0.2.2', '10.0.2.3', '10.0.2.15', '10.0.3.100', '192.168.1.10', '127.0.0.1', '10.0.2.256']) {
    assert.throws(() => normaliseGuestForwards([{ guestIp, guestPort: 80, hostPort: 80 }]), VmNodeError, guestIp);
  }
  assert.throws(() => normaliseGuestForwards([{ guestPort: 80 }, { guestPort: 80 }]), /twice/);
  assert.throws(() => normaliseGuestForwards([{ guestPort: 0 }]), /bad port/);
  assert.deepEqual(normaliseGuestForwards([{ guestPort: 6379 }]), [
    { guestIp: '10.0.2.100', guestPort: 6379, hostPort: 6379, loopback: false },
  ]);
});

test('host forward ports are read from `info usernet`', () => {
  const info =
    'Hub -1 (n0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n' +
    '  TCP[HOST_FORWARD]  16       127.0.0.1 41273       10.0.2.15  9090     0     0\r\n' +
    '  TCP[HOST_FORWARD]   8       127.0.0.1 34177       10.0.2.15  8080     0     0\r\n' +
    '  TCP[ESTABLISHED]   20      10.0.2.15 40000      10.0.2.100  6379     0     0\r\n';
  assert.deepEqual(
    [...parseHostForwards(info)],
    [
      [9090, 41273],
      [8080, 34177],
    ],
  );
});
