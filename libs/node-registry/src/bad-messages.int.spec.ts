import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { status as Status, type Client, type ServiceError } from '@grpc/grpc-js';
import fc from 'fast-check';
import { FuzzTally, fuzzRuns, keyContents } from '@warmpod/devkit';
import type { NodeReportOut } from './messages';
import { registerMethod } from './proto';
import { badInventory, badRegistration, emptyInventory, malformedField, unknownField } from './testing/bad-messages';
import { connect, register, registration, RegistryFixture, type Scope } from './testing/int-fixture';

/**
 * Bad node registry messages, generated (issue #12, item 6), through the real
 * gRPC server on real Redis: malformed registrations (oversized labels, bad
 * capacity, capabilities, URLs), random bytes, unknown protobuf fields, and
 * bad inventories and deltas on a registered node's stream. Each is refused
 * with INVALID_ARGUMENT naming the field, leaves every key of the registry's
 * prefix as it was, and the server keeps serving.
 */
const RUNS = fuzzRuns(40);
const tally = new FuzzTally();
let fx: RegistryFixture;
let s: Scope;
let client: Client;

before(async () => {
  fx = new RegistryFixture();
  s = await fx.scope();
  client = fx.client(s.target);
});

after(async () => {
  for (const line of tally.lines()) process.stdout.write(`${line}\n`);
  await fx.cleanup();
});

const state = () => keyContents(fx.redis, s.prefix);

function invalidArgument(error: unknown, path: string | RegExp): void {
  const e = error as ServiceError;
  assert.equal(e.code, Status.INVALID_ARGUMENT, `${e.code} ${e.details}`);
  if (typeof path === 'string') assert.ok(e.details.includes(path), `"${e.details}" names ${path}`);
  else assert.match(e.details, path);
}

/** Runs `check` on each generated input; unless `own` (the check compares itself), Redis must be as before. */
async function property<T>(
  t: TestContext,
  surface: string,
  arb: fc.Arbitrary<T>,
  check: (input: T) => Promise<void>,
  own = false,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arb, async (input) => {
      const was = own ? undefined : await state();
      await check(input);
      if (was) assert.deepEqual(await state(), was, 'a refused message changed nothing in Redis');
      tally.add(surface);
    }),
    { numRuns: RUNS },
  );
  t.diagnostic(`${surface}: ${tally.get(surface)} generated inputs refused, nothing stored`);
}

const serialize = (value: unknown): Buffer => registerMethod().requestSerialize(value) as Buffer;

describe('Register: generated bad registrations are refused naming the field, nothing stored', () => {
  test('one bad field (oversized or malformed labels, capacity, GPUs, capabilities, URL)', (t) =>
    property(t, 'Register: bad field', badRegistration('node-fuzz'), async (bad) => {
      await assert.rejects(register(client, bad.message), (e) => (invalidArgument(e, bad.path), true));
    }));

  test('random bytes', (t) =>
    property(t, 'Register: random bytes', fc.uint8Array({ maxLength: 200 }), async (bytes) => {
      await assert.rejects(
        register(client, null, () => Buffer.from(bytes)),
        (e) => (invalidArgument(e, /^(malformed|invalid) registration: /), true),
      );
    }));

  test('unknown fields, well-formed or not, on a bad registration', (t) =>
    property(
      t,
      'Register: unknown fields',
      // A malformed field goes last: one whose length runs on would swallow the next and make it part of a known field.
      fc.tuple(badRegistration('node-fuzz'), fc.array(unknownField, { maxLength: 3 }), fc.option(malformedField)),
      async ([bad, extra, broken]) => {
        const bytes = Buffer.concat([serialize(bad.message), ...extra, ...(broken ? [broken] : [])]);
        await assert.rejects(
          register(client, null, () => bytes),
          (e) => (invalidArgument(e, /registration: /), true),
        );
      },
    ));

  test('well-formed unknown fields on a good registration are skipped (proto3): the node is stored as without them', async (t) => {
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(unknownField, { minLength: 1, maxLength: 4 }), async (extra) => {
        const plain = registration('node-compat', { labels: { zone: `z${tried}` } });
        await register(client, null, () => Buffer.concat([serialize(plain), ...extra]));
        const node = await s.nodes.get('node-compat');
        assert.deepEqual(node?.labels, plain.labels);
        assert.deepEqual(node?.capacity, { cpu: 4, memoryMiB: 8192, gpu: 2 });
        assert.equal(node?.agentUrl, plain.agentUrl);
        tried++;
      }),
      { numRuns: Math.ceil(RUNS / 4) },
    );
    tally.add('Register: unknown fields on a good message (accepted)', tried);
    t.diagnostic(`${tried} good registrations with unknown fields stored as without them`);
  });
});

describe('Connect: generated bad reports end their own stream, nothing applied', () => {
  let sessionId: string;

  before(async () => {
    ({ sessionId } = await register(client, registration('node-a')));
  });

  test('a bad first inventory', (t) =>
    property(t, 'Connect: bad inventory', badInventory, async (bad) => {
      const stream = connect(client);
      stream.call.write({ nodeId: 'node-a', sessionId, inventory: bad.message } satisfies NodeReportOut);
      const status = await stream.status;
      invalidArgument(status, bad.path);
    }));

  test('a bad delta, or a bad heartbeat, after a good inventory', (t) =>
    property(
      t,
      'Connect: bad delta or heartbeat',
      fc.oneof(
        badInventory.map((bad) => ({
          report: {
            delta: {
              addedImages: bad.message.images,
              removedImages: [],
              runningPods: bad.message.runningPods,
              checkpoints: bad.message.checkpoints,
              usage: bad.message.usage ?? null,
            },
          },
          path: bad.path.replace('inventory.images', 'delta.addedImages').replace('inventory.', 'delta.'),
        })),
        fc.integer({ min: -(2 ** 40), max: -1 }).map((sentAtMs) => ({ report: { heartbeat: { sentAtMs } }, path: 'heartbeat.sentAtMs' })),
      ),
      async (bad) => {
        const stream = connect(client);
        stream.call.write({ nodeId: 'node-a', sessionId, inventory: emptyInventory } satisfies NodeReportOut);
        await stream.received(1);
        const was = await state();
        stream.call.write({ nodeId: 'node-a', sessionId, ...bad.report });
        invalidArgument(await stream.status, bad.path);
        assert.deepEqual(await state(), was, 'the bad delta changed nothing');
      },
      true,
    ));

  test('random bytes as a report', (t) =>
    property(t, 'Connect: random bytes', fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
      const stream = connect(client, (b) => b as Buffer);
      stream.call.write(Buffer.from(bytes));
      const status = await stream.status;
      assert.ok(
        [Status.INVALID_ARGUMENT, Status.NOT_FOUND, Status.FAILED_PRECONDITION].includes(status.code),
        `${status.code} ${status.details}`,
      );
    }));

  test('the server still serves: a good inventory is acknowledged', async () => {
    const stream = connect(client);
    stream.call.write({ nodeId: 'node-a', sessionId, inventory: emptyInventory } satisfies NodeReportOut);
    assert.equal((await stream.received(1))[0]?.body, 'ack');
    stream.call.end();
    assert.equal((await stream.status).code, Status.OK);
  });
});
