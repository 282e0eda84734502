import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDownloadMessage } from './blob-download-thread';

test("the download worker's messages are taken only in their known shapes", () => {
  assert.deepEqual(parseDownloadMessage({ bytes: 1 << 20 }), { bytes: 1 << 20 });
  assert.deepEqual(parseDownloadMessage({ ok: true }), { ok: true });
  assert.deepEqual(parseDownloadMessage({ ok: false, message: 'blob x not found in registry r', kind: 'not-found' }), {
    ok: false,
    message: 'blob x not found in registry r',
    kind: 'not-found',
  });
  for (const bad of [
    null,
    'ok',
    {},
    { bytes: 1.5 },
    { ok: 'yes' },
    { ok: false, message: 'm', kind: 'teapot' },
    { ok: false, kind: 'invalid' },
  ]) {
    assert.equal(parseDownloadMessage(bad), undefined, JSON.stringify(bad));
  }
});
