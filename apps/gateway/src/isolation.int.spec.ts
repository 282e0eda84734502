import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { z } from 'zod';
import { hashToken } from './auth/tokens';
import { REQUIRED_ROLE_EXTENSION } from './auth/operator.guard';
import { call } from './testing/harness';
import { IsolationWorld, NODE, type TenantWorld } from './testing/isolation';

/**
 * The isolation matrix: every operation of the gateway's own OpenAPI
 * document (read at run time, so a new endpoint is covered or fails here),
 * called as no one, tenant A, tenant B and an operator, on A's and on B's
 * resource where the path names one. Each call must get its expected status,
 * and no response to one tenant may contain anything the other owns —
 * collected from the owner's own listings afterwards, then scanned for.
 */
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;
const operationSchema = z.object({
  security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
  responses: z.record(z.string(), z.unknown()),
  requestBody: z.unknown().optional(),
  [REQUIRED_ROLE_EXTENSION]: z.literal('operator').optional(),
});
const documentSchema = z.object({ paths: z.record(z.string(), z.partialRecord(z.enum(METHODS), operationSchema)) });

interface Operation {
  method: Uppercase<(typeof METHODS)[number]>;
  path: string;
  public: boolean;
  operatorOnly: boolean;
  successes: number[];
  documented: string[];
}

/** Which tenant resource a path parameter names; the node is shared (operators only change it). */
const OWNED_PATHS: Array<[string, keyof Pick<TenantWorld, 'pod' | 'pin' | 'pool' | 'checkpoint'>]> = [
  ['/v1/pods/{id}', 'pod'],
  ['/v1/images/{id}', 'pin'],
  ['/v1/pools/{name}', 'pool'],
  ['/v1/checkpoints/{id}', 'checkpoint'],
];
const NODE_PATH = '/v1/nodes/{id}';

type CallerName = 'no one' | 'A' | 'B' | 'operator';
let bodies = 0;
/** A valid body for each operation that takes one, in the caller's own terms (its image, a fresh pool name). */
const BODIES: Record<string, (caller: TenantWorld) => unknown> = {
  'POST /v1/pods': (c) => ({ image: c.image }),
  'POST /v1/images': (c) => ({ image: c.image }),
  'POST /v1/pools': (c) => ({ name: `${c.tenant}-m${++bodies}`, image: c.image, size: 0, podTemplate: {} }),
  'PATCH /v1/pools/{name}': () => ({ size: 2 }),
};

let world: IsolationWorld;
before(async () => {
  world = await IsolationWorld.start();
});
after(async () => world?.close());

function operationsOf(doc: unknown): Operation[] {
  const parsed = documentSchema.parse(doc);
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(parsed.paths)) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      ops.push({
        method: method.toUpperCase() as Operation['method'],
        path,
        public: !(op.security ?? []).some((s) => 'bearer' in s),
        operatorOnly: op[REQUIRED_ROLE_EXTENSION] === 'operator',
        successes: Object.keys(op.responses)
          .filter((s) => /^2\d\d$/.test(s))
          .map(Number),
        documented: Object.keys(op.responses),
      });
    }
  }
  // Destructive calls last, so every other call still finds its resource.
  return ops.sort((x, y) => Number(x.method === 'DELETE') - Number(y.method === 'DELETE'));
}

interface Case {
  op: Operation;
  caller: CallerName;
  owner?: 'A' | 'B';
}

function casesOf(op: Operation): Case[] {
  const owned = OWNED_PATHS.find(([prefix]) => op.path.startsWith(prefix));
  if (op.path.includes('{') && !owned && !op.path.startsWith(NODE_PATH)) {
    throw new Error(`${op.method} ${op.path}: the isolation matrix does not know whose resource this path names; add it to OWNED_PATHS`);
  }
  if (!owned) return (['no one', 'A', 'B', 'operator'] as const).map((caller) => ({ op, caller }));
  // The owner calls last: a DELETE by the owner must not hide what the others would have got.
  return [
    ...(['no one', 'B', 'operator', 'A'] as const).map((caller) => ({ op, caller, owner: 'A' as const })),
    ...(['no one', 'A', 'operator', 'B'] as const).map((caller) => ({ op, caller, owner: 'B' as const })),
  ];
}

function expected({ op, caller, owner }: Case): number[] {
  if (op.public) return op.successes;
  if (caller === 'no one') return [401];
  if (op.operatorOnly) return caller === 'operator' ? op.successes : [403];
  // An operator reads every tenant's resources; its changes act as its own tenant.
  if (owner && owner !== caller) return caller === 'operator' && op.method === 'GET' ? op.successes : [404];
  return op.successes;
}

function concretePath(op: Operation, owner: TenantWorld | undefined): string {
  if (op.path.startsWith(NODE_PATH)) return op.path.replace('{id}', NODE);
  const owned = OWNED_PATHS.find(([prefix]) => op.path.startsWith(prefix));
  if (!owned || !owner) return op.path;
  return op.path.replace(/\{(id|name)\}/, owner[owned[1]]);
}

/** Every id, key and name a tenant owns, as its own listings show them. */
async function ownedBy(t: TenantWorld): Promise<Set<string>> {
  const owned = new Set([t.tenant, t.token, hashToken(t.token).slice('sha256:'.length), t.image]);
  const items = async (path: string): Promise<Array<Record<string, unknown>>> => {
    const res = await call(world.gateway.url, 'GET', path, { token: t.token });
    assert.equal(res.status, 200, path);
    return z.object({ items: z.array(z.record(z.string(), z.unknown())) }).parse(res.body).items;
  };
  const add = (value: unknown): void => {
    if (typeof value === 'string' && value !== '') owned.add(value);
  };
  for (const pod of await items('/v1/pods?limit=500')) add(pod['id']);
  for (const pin of await items('/v1/images')) add(pin['id']);
  for (const pool of await items('/v1/pools')) [pool['id'], pool['name']].forEach(add);
  for (const ckpt of await items('/v1/checkpoints?limit=500')) [ckpt['id'], ckpt['key'], ckpt['specKey']].forEach(add);
  return owned;
}

// Before the matrix, whose DELETEs remove what it reads.
test("an operator lists and reads every tenant's pods, pins, pools, checkpoints and quota", async () => {
  const op = world.operatorToken;
  const ids = async (path: string, field = 'id'): Promise<string[]> => {
    const res = await call(world.gateway.url, 'GET', path, { token: op });
    assert.equal(res.status, 200, path);
    return z
      .object({ items: z.array(z.record(z.string(), z.unknown())) })
      .parse(res.body)
      .items.map((item) => String(item[field]));
  };
  for (const t of [world.a, world.b]) {
    assert.ok((await ids('/v1/pods?limit=500')).includes(t.pod));
    assert.ok((await ids('/v1/images')).includes(t.pin));
    assert.ok((await ids('/v1/pools', 'name')).includes(t.pool));
    assert.ok((await ids('/v1/checkpoints?limit=500')).includes(t.checkpoint));
    for (const path of [`/v1/pods/${t.pod}`, `/v1/images/${t.pin}`, `/v1/pools/${t.pool}`, `/v1/checkpoints/${t.checkpoint}`]) {
      assert.equal((await call(world.gateway.url, 'GET', path, { token: op })).status, 200, path);
    }
    const quota = await call(world.gateway.url, 'GET', `/v1/quota?tenant=${t.tenant}`, { token: op });
    assert.equal(z.object({ tenant: z.string() }).parse(quota.body).tenant, t.tenant);
  }
  // A tenant still does not see the other's.
  const aPods = await call(world.gateway.url, 'GET', '/v1/pods?limit=500', { token: world.a.token });
  assert.equal(JSON.stringify(aPods.body).includes(world.b.pod), false);
});

test('isolation matrix: every OpenAPI operation x {no one, A, B, operator} x {A, B resources}', async (t) => {
  const doc = await call(world.gateway.url, 'GET', '/docs/json', { token: null });
  assert.equal(doc.status, 200);
  const ops = operationsOf(doc.body);
  assert.ok(ops.length >= 20, `only ${ops.length} operations in the document`);
  const undocumented = ops.flatMap((op) =>
    (op.public ? [] : ['401', '429', ...(op.operatorOnly ? ['403'] : [])])
      .filter((status) => !op.documented.includes(status))
      .map((status) => `${op.method} ${op.path} does not document ${status}`),
  );
  assert.deepEqual(undocumented, []);
  const tenants: Record<'A' | 'B', TenantWorld> = { A: world.a, B: world.b };
  const tokenOf: Record<CallerName, string | null> = {
    'no one': null,
    A: world.a.token,
    B: world.b.token,
    operator: world.operatorToken,
  };
  const seen: Record<CallerName, string[]> = { 'no one': [], A: [], B: [], operator: [] };
  const wrong: string[] = [];
  const cases = ops.flatMap(casesOf);
  for (const c of cases) {
    const path = concretePath(c.op, c.owner ? tenants[c.owner] : undefined);
    const bodyOf = BODIES[`${c.op.method} ${c.op.path}`];
    const self = c.caller === 'B' ? world.b : world.a;
    const res = await call(world.gateway.url, c.op.method, path, {
      token: tokenOf[c.caller],
      ...(bodyOf ? { body: bodyOf(self) } : {}),
    });
    const text = typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
    seen[c.caller].push(text);
    const want = expected(c);
    if (!want.includes(res.status)) {
      wrong.push(
        `${c.op.method} ${c.op.path} as ${c.caller}${c.owner ? ` on ${c.owner}'s` : ''}: ${res.status}, want ${want.join('|')}: ${text}`,
      );
    }
    if (res.status >= 400) {
      const shape = z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.array(z.unknown()) }) });
      if (!shape.safeParse(res.body).success) wrong.push(`${c.op.method} ${path}: ${res.status} without the error shape: ${text}`);
    }
  }
  t.diagnostic(
    `isolation matrix: ${ops.length} operations x 4 callers (x 2 owners where the path names a resource) = ${cases.length} calls`,
  );
  assert.deepEqual(wrong, []);

  // Scanned, not assumed: what each tenant owns now, against everything the other was sent.
  const [ownedA, ownedB] = [await ownedBy(world.a), await ownedBy(world.b)];
  assert.ok(ownedB.size >= 10, `B owns only ${ownedB.size} things: ${[...ownedB].join(' ')}`);
  const leaks = (to: CallerName, owned: Set<string>): string[] =>
    seen[to].flatMap((text) => [...owned].filter((s) => text.includes(s)).map((s) => `${to} was sent "${s}" in ${text.slice(0, 300)}`));
  assert.deepEqual([...leaks('A', ownedB), ...leaks('B', ownedA)], []);
  t.diagnostic(`scanned ${seen.A.length + seen.B.length} tenant responses for ${ownedA.size + ownedB.size} owned strings: no leak`);
});

test('the node view: each tenant sees its own pod and checkpoint on the shared node, the operator sees both', async () => {
  const nodeFor = async (token: string) => {
    const res = await call(world.gateway.url, 'GET', '/v1/nodes', { token });
    const items = z
      .object({ items: z.array(z.object({ id: z.string(), runningPods: z.array(z.string()) }).passthrough()) })
      .parse(res.body).items;
    return items.find((n) => n.id === NODE);
  };
  assert.deepEqual((await nodeFor(world.a.token))?.runningPods, [world.a.pod]);
  assert.deepEqual((await nodeFor(world.b.token))?.runningPods, [world.b.pod]);
  assert.deepEqual(new Set((await nodeFor(world.operatorToken))?.runningPods), new Set([world.a.pod, world.b.pod]));
});

test('tokens never reach logs or responses, even a wrong one', async () => {
  const bogus = `${world.a.token}x`;
  const res = await call(world.gateway.url, 'GET', '/v1/pods', { token: bogus });
  assert.equal(res.status, 401);
  assert.equal(JSON.stringify(res.body).includes(bogus), false);
  const logs = world.gateway.logLines.join('\n');
  assert.ok(world.gateway.logLines.length > 100, 'the run logged its requests');
  for (const token of [world.a.token, world.b.token, world.operatorToken, bogus]) {
    assert.equal(logs.includes(token), false, 'a token is in the logs');
    assert.equal(logs.includes(hashToken(token).slice('sha256:'.length)), false, "a token's hash is in the logs");
  }
});
