import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ClusterPki, freePort, RedisServer } from '@warmpod/devkit';
import { connectRedis } from './connection';

/** A Redis of this test's own serving TLS (its certificate names localhost), as an operator turns it on. */
describe('TLS to Redis: rediss:// with the CA that signed its certificate', () => {
  let dir: string;
  let server: RedisServer | undefined;
  let tlsPort: number;
  let caFile: string;
  let otherCaFile: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wp-redis-tls-'));
    const pki = await ClusterPki.open(join(dir, 'pki'), 'redis test CA');
    const cert = await pki.issue('localhost');
    caFile = cert.caFile;
    otherCaFile = (await ClusterPki.open(join(dir, 'other-pki'), 'another CA')).caFile;
    tlsPort = await freePort();
    server = await RedisServer.start({
      dir,
      settings: {
        bind: '127.0.0.1 -::1',
        'tls-port': String(tlsPort),
        'tls-cert-file': cert.certFile,
        'tls-key-file': cert.keyFile,
        'tls-ca-cert-file': cert.caFile,
        'tls-auth-clients': 'no',
        appendonly: 'no',
      },
    });
  });

  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("answers over TLS with the operator's CA; a connection trusting another CA is refused", async () => {
    const url = `rediss://localhost:${tlsPort}`;
    const trusted = connectRedis(url, 'tls-test', 'producer', { tlsCaFile: caFile });
    try {
      assert.equal(await trusted.ping(), 'PONG');
    } finally {
      trusted.disconnect();
    }
    assert.throws(
      () => connectRedis(url, 'tls-test-missing', 'producer', { tlsCaFile: join(dir, 'missing.crt') }),
      /CA file .* cannot be read/,
    );
    const untrusted = connectRedis(url, 'tls-test-untrusted', 'producer', { tlsCaFile: otherCaFile });
    const refusal = new Promise<Error>((resolve) => untrusted.once('error', resolve));
    try {
      const error = await refusal;
      assert.match(error.message, /certificate/i);
    } finally {
      untrusted.disconnect();
    }
  });
});
