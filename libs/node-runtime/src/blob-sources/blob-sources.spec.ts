import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { BlobSourceChain, BlobUnavailableError, BlobVerificationError, type BlobRequest, type BlobSource } from './blob-source';
import { streamVerified } from './verified-stream';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wp-blob-sources-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const BLOB = Buffer.from('layer bytes '.repeat(1000));
const DIGEST = `sha256:${createHash('sha256').update(BLOB).digest('hex')}`;

function counting(): { onBytes(n: number): void; total(): number } {
  let total = 0;
  return { onBytes: (n) => void (total += n), total: () => total };
}

const stream = (bytes: Buffer): Readable => Readable.from([bytes.subarray(0, 5000), bytes.subarray(5000)]);
const opts = (destination: string, onBytes: (n: number) => void) => ({
  digest: DIGEST,
  size: BLOB.length,
  destination,
  onBytes,
  stallMs: 60_000,
  from: 'test peer',
});

describe('streamVerified', () => {
  test('right bytes land at the destination, counted once', async () => {
    const c = counting();
    const dest = join(dir, 'ok');
    await streamVerified(stream(BLOB), opts(dest, c.onBytes));
    assert.deepEqual(await readFile(dest), BLOB);
    assert.equal(c.total(), BLOB.length);
  });

  test('wrong bytes of the right size: refused, nothing left, progress given back', async () => {
    const c = counting();
    const wrong = Buffer.from(BLOB);
    wrong[10] = 0;
    const dest = join(dir, 'wrong');
    await assert.rejects(streamVerified(stream(wrong), opts(dest, c.onBytes)), BlobVerificationError);
    assert.equal(c.total(), 0);
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('wrong')),
      [],
    );
  });

  test('too few or too many bytes are refused', async () => {
    for (const bytes of [BLOB.subarray(0, 100), Buffer.concat([BLOB, Buffer.from('x')])]) {
      const c = counting();
      await assert.rejects(streamVerified(stream(bytes), opts(join(dir, 'size'), c.onBytes)), BlobVerificationError);
      assert.equal(c.total(), 0);
    }
  });

  test('a stream that breaks is unavailable, not wrong', async () => {
    const broken = new Readable({
      read() {
        this.push(BLOB.subarray(0, 100));
        this.destroy(new Error('connection reset'));
      },
    });
    const c = counting();
    await assert.rejects(streamVerified(broken, opts(join(dir, 'broken'), c.onBytes)), BlobUnavailableError);
    assert.equal(c.total(), 0);
  });
});

describe('streamVerified judges the sender per window', () => {
  test('a sender that trickles bytes far below the floor is cut off as too slow', async () => {
    let sent = 0;
    const trickle = new Readable({
      read() {
        // One byte every 10 ms: a few hundred bytes a second, against a floor of 1 MB/s.
        setTimeout(() => this.push(sent < BLOB.length ? BLOB.subarray(sent, ++sent) : null), 10);
      },
    });
    const c = counting();
    await assert.rejects(
      streamVerified(trickle, { ...opts(join(dir, 'slow'), c.onBytes), stallMs: 100, minBytesPerSecond: 1_000_000 }),
      (error: unknown) => error instanceof BlobUnavailableError && /too slow/.test(error.message),
    );
    trickle.destroy();
    assert.equal(c.total(), 0);
  });
});

describe('BlobSourceChain', () => {
  const request = (): BlobRequest => ({
    registry: 'r',
    repository: 'x',
    image: DIGEST,
    digest: DIGEST,
    size: 1,
    destination: join(dir, 'never'),
    onBytes: () => undefined,
  });
  const source = (outcome: Error | undefined, calls: string[], name: string): BlobSource => ({
    fetch: async () => {
      calls.push(name);
      if (outcome) throw outcome;
    },
  });

  test('a pull about to start is announced to every source that prepares for one', () => {
    const prepared: string[] = [];
    const chain = new BlobSourceChain([
      { ...source(undefined, [], 'a'), prepare: (image) => void prepared.push(`a ${image}`) },
      source(undefined, [], 'b'),
      { ...source(undefined, [], 'c'), prepare: (image) => void prepared.push(`c ${image}`) },
    ]);
    chain.prepare(DIGEST);
    assert.deepEqual(prepared, [`a ${DIGEST}`, `c ${DIGEST}`]);
  });

  test('an unavailable or wrong source passes the blob on; the first that delivers wins', async () => {
    const calls: string[] = [];
    const chain = new BlobSourceChain([
      source(new BlobUnavailableError('gone'), calls, 'a'),
      source(new BlobVerificationError('wrong'), calls, 'b'),
      source(undefined, calls, 'c'),
      source(undefined, calls, 'd'),
    ]);
    await chain.fetch(request());
    assert.deepEqual(calls, ['a', 'b', 'c']);
  });

  test('any other error, or the last source failing, is the fetch error', async () => {
    const calls: string[] = [];
    const denied = new Error('registry refused');
    await assert.rejects(new BlobSourceChain([source(denied, calls, 'a'), source(undefined, calls, 'b')]).fetch(request()), denied);
    const last = new BlobUnavailableError('registry away');
    await assert.rejects(
      new BlobSourceChain([source(new BlobUnavailableError('x'), calls, 'c'), source(last, calls, 'd')]).fetch(request()),
      last,
    );
  });
});
