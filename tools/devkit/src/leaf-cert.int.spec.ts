import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ClusterPki } from './cluster-pki';
import { signLeaf } from './leaf-cert';
import { runTool } from './run-tool';

test('an in-process leaf verifies against the openssl-made cluster CA, with the same purposes as its own leaves', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'warmpod-leaf-'));
  try {
    const pki = await ClusterPki.open(dir);
    const ca = { cert: new X509Certificate(await readFile(pki.caFile)), key: createPrivateKey(await readFile(join(dir, 'ca.key'))) };
    const leaf = signLeaf('node:bench-7', ca);
    const cert = new X509Certificate(leaf.cert);
    assert.match(cert.subject, /^CN=node:bench-7$/m);
    assert.ok(cert.checkIssued(ca.cert) && cert.verify(ca.cert.publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(leaf.key)));
    await writeFile(join(dir, 'leaf.crt'), leaf.cert);
    for (const purpose of ['sslclient', 'sslserver']) {
      assert.match(await runTool('openssl', ['verify', '-purpose', purpose, '-CAfile', pki.caFile, join(dir, 'leaf.crt')]), /: OK/);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
