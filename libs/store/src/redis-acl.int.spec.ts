import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { RedisServer } from '@warmpod/devkit';
import { applyAclUsers, redisUrlAs, removeAclUsers, type AclUser } from './redis-acl';

// ACL SETUSER is kept by neither RDB nor AOF: a restarted Redis must still know the services' users.
let server: RedisServer;
let admin: Redis;
const user: AclUser = { name: 'wptest-acl-restart', password: 'a-long-random-password', keys: ['wptest-acl:*'], mayScan: false };

before(async () => {
  server = await RedisServer.start();
  admin = new Redis(server.url);
});

after(async () => {
  admin?.disconnect();
  await server?.close();
});

async function pingAs(url: string): Promise<string> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.ping();
  } finally {
    client.disconnect();
  }
}

test('users applied survive a Redis restart; removed ones stay removed', async () => {
  const url = redisUrlAs(server.url, user);
  await applyAclUsers(admin, [user]);
  await server.restart();
  assert.equal(await pingAs(url), 'PONG', 'the user is there after the restart');

  admin.disconnect();
  admin = new Redis(server.url);
  await removeAclUsers(admin, [user.name]);
  await server.restart();
  const fresh = new Redis(server.url);
  try {
    assert.equal(await fresh.call('ACL', 'GETUSER', user.name), null, 'the removed user stays removed');
  } finally {
    fresh.disconnect();
  }
  await assert.rejects(pingAs(url));
});
