import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createLogger } from '@warmpod/observability';
import { ImageLastUse } from './image-last-use';

const logger = createLogger({ service: 'last-use-spec', level: 'silent' });
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;

describe('ImageLastUse', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'warmpod-last-use-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  test('touches survive a restart; forgotten digests do not', async () => {
    let now = 1_000;
    const path = join(dir, 'uses.json');
    const first = new ImageLastUse(path, logger, () => now);
    await first.load();
    assert.equal(first.get(A), 0, 'never used');
    first.touch(A);
    now = 2_000;
    first.touch(B);
    first.forget(A);
    now = 3_000;
    first.touch(B);
    await first.flush();
    const second = new ImageLastUse(path, logger);
    await second.load();
    assert.equal(second.get(A), 0);
    assert.equal(second.get(B), 3_000);
  });

  test('an unreadable file starts empty instead of failing the agent', async () => {
    const path = join(dir, 'broken.json');
    await writeFile(path, '{not json');
    const uses = new ImageLastUse(path, logger);
    await uses.load();
    assert.equal(uses.get(A), 0);
    uses.touch(A);
    await uses.flush();
    assert.deepEqual(Object.keys(JSON.parse(await readFile(path, 'utf8')) as object), [A]);
  });
});
