import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildImage, buildSlowHttpImage, SLOW_HTTP_BODY } from '@warmpod/devkit';
import { join } from 'node:path';
import { clusterLeftovers, createPod, leftoverKeys, podLeftovers, startCluster, waitFor, waitForPod, type E2eCluster } from './support';

const ended = (p: { phase: string }) => ['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(p.phase);

describe('pods end to end on a local cluster', () => {
  let e: E2eCluster;

  before(async () => {
    e = await startCluster();
  });

  after(async () => {
    if (!e) return;
    await e.cleanup();
    assert.deepEqual(clusterLeftovers(e), [], 'stopping the cluster leaves no bridge, mount or cgroup behind');
    assert.deepEqual(await leftoverKeys(e.prefix), []);
  });

  test('a pod that prints and exits: logs and exit code visible', async () => {
    const created = await createPod(e, { image: 'warmpod/hello:latest', env: { GREETING: 'e2e says hi' } });
    assert.equal(created.phase, 'Pending');
    assert.match(created.image.pinned, /^127\.0\.0\.1:\d+\/warmpod\/hello@sha256:[a-f0-9]{64}$/);
    assert.equal(created.image.digest, e.cluster.images!.hello);

    const done = await waitForPod(e, created.id, ended);
    assert.equal(done.phase, 'Succeeded', JSON.stringify(done));
    assert.equal(done.exitCode, 0);
    for (const phase of ['Pending', 'Scheduled', 'Starting', 'Running', 'Succeeded'])
      assert.ok(done.timeline[phase], `timeline has ${phase}`);
    const logs = await (await e.api(`/v1/pods/${created.id}/logs`)).text();
    assert.match(logs, /hello from warmpod/);
    assert.match(logs, /e2e says hi/);
    assert.deepEqual(podLeftovers(e, done.node!, created.id), []);
  });

  test('a second pod of the same digest lands on the warm node and skips the pull', async () => {
    const first = await waitForPod(e, (await createPod(e, { image: 'warmpod/hello:latest' })).id, ended);
    const second = await waitForPod(e, (await createPod(e, { image: 'warmpod/hello:latest' })).id, ended);
    assert.equal(second.node, first.node);
    assert.match(second.placement!.why, /cache/);
    assert.equal(second.startMode, 'warm-cache');
    assert.equal(second.timeline['Pulling'], undefined);
  });

  test('a failing command ends Failed with its exit code', async () => {
    const pod = await createPod(e, { image: 'warmpod/hello:latest', command: ['sh', '-c', 'echo failing on purpose; exit 3'] });
    const done = await waitForPod(e, pod.id, ended);
    assert.equal(done.phase, 'Failed');
    assert.equal(done.exitCode, 3);
    assert.match(await (await e.api(`/v1/pods/${pod.id}/logs`)).text(), /failing on purpose/);
  });

  test('an HTTP pod is reachable at its endpoint', async () => {
    const pod = await createPod(e, { image: 'warmpod/http:latest', ports: [8080] });
    const running = await waitForPod(e, pod.id, (p) => p.phase === 'Running' || ended(p));
    assert.equal(running.phase, 'Running', JSON.stringify(running));
    assert.equal(running.endpoints.length, 1);
    assert.equal(running.endpoints[0]!.containerPort, 8080);
    // Without a readiness condition, Running means the process started, not that it listens yet (as a Kubernetes
    // pod without a readiness probe): until it does, a connection to the endpoint is closed at once.
    const answered = await waitFor('the endpoint to answer', () =>
      fetch(`http://${running.endpoints[0]!.address}/`, { signal: AbortSignal.timeout(5000) }).then(
        async (res) => ({ status: res.status, body: await res.text() }),
        () => undefined,
      ),
    );
    assert.equal(answered.status, 200);
    assert.match(answered.body, /warmpod http sample/);
    await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    await waitForPod(e, pod.id, ended);
  });

  test('a pod whose port opens late is exposed only once it is ready: wait=Ready answers then, and so does its endpoint', async () => {
    const INIT_S = 3;
    await buildSlowHttpImage({
      registryHost: e.cluster.registryHost,
      name: 'e2e/slow-http',
      workDir: join(e.workDir, 'slow-http'),
      initSeconds: INIT_S,
    });
    const pod = await createPod(e, {
      image: 'e2e/slow-http:latest',
      ports: [8080],
      readiness: { condition: { type: 'http', port: 8080, path: '/' }, intervalMs: 50, timeoutSeconds: 60 },
    });
    const waited = e.api(`/v1/pods/${pod.id}?wait=Ready&timeoutSeconds=60`);
    // Every record seen on the way: no endpoint while the pod initialises.
    const seen: Array<{ phase: string; endpoints: number }> = [];
    await waitForPod(
      e,
      pod.id,
      (p) => {
        seen.push({ phase: p.phase, endpoints: p.endpoints.length });
        return p.phase === 'Running' || ended(p);
      },
      90_000,
    );
    const res = await waited;
    assert.equal(res.headers.get('warmpod-wait'), 'ready');
    const ready = (await res.json()) as typeof pod;
    // The first request after the wait answers: no retry, no connection refused.
    const answer = await fetch(`http://${ready.endpoints[0]!.address}/`, { signal: AbortSignal.timeout(5000) });
    assert.equal(answer.status, 200);
    assert.match(await answer.text(), new RegExp(SLOW_HTTP_BODY));

    assert.equal(ready.phase, 'Running', JSON.stringify(ready));
    assert.ok(
      seen.some((s) => s.phase === 'Starting'),
      `seen Starting while it initialised: ${JSON.stringify(seen)}`,
    );
    assert.deepEqual(
      seen.filter((s) => s.phase !== 'Running' && s.endpoints > 0),
      [],
      'no endpoint before the pod was ready',
    );
    assert.equal(ready.timeline['Ready'], ready.ready);
    // Its port opened INIT_S after the container started (which is after Starting): readiness cannot have held before.
    assert.ok(Date.parse(ready.ready!) - Date.parse(ready.timeline['Starting']!) >= INIT_S * 1000, JSON.stringify(ready.timeline));
    await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    await waitForPod(e, pod.id, ended);
  });

  test('a readiness that never holds fails the pod with the reason (restartPolicy Never)', async () => {
    const pod = await createPod(e, {
      image: 'warmpod/http:latest',
      ports: [8080],
      readiness: { condition: { type: 'http', port: 8080, path: '/missing' }, intervalMs: 100, timeoutSeconds: 2 },
    });
    const failed = await waitForPod(e, pod.id, ended, 60_000);
    assert.equal(failed.phase, 'Failed');
    assert.match(failed.error ?? '', /^readiness http :8080\/missing not met within 2 s: .*answered 404/);
    assert.equal(failed.ready, undefined);
    assert.deepEqual(podLeftovers(e, failed.node!, pod.id), []);
  });

  test('DELETE of a running pod stops it and cleans container, network, mounts and capacity', async () => {
    const pod = await createPod(e, { image: 'warmpod/sleeper:latest', resources: { cpu: 1, memoryMiB: 256 } });
    const running = await waitForPod(e, pod.id, (p) => p.phase === 'Running' || ended(p));
    assert.equal(running.phase, 'Running');
    assert.deepEqual(podLeftovers(e, running.node!, pod.id).sort(), ['container', 'mount', 'netns']);

    const del = await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    assert.equal(del.status, 202);
    const stopped = await waitForPod(e, pod.id, ended);
    assert.equal(stopped.phase, 'Stopped');
    assert.deepEqual(stopped.endpoints, []);
    assert.deepEqual(podLeftovers(e, running.node!, pod.id), []);
    const nodes = (await (await e.api('/v1/nodes')).json()) as { items: Array<{ id: string; allocated: { cpu: number } }> };
    const node = nodes.items.find((n) => n.id === running.node)!;
    assert.equal(node.allocated.cpu, 0, 'the reservation was released');
  });

  test('the same Idempotency-Key twice gives one pod; another body with it is a conflict', async () => {
    const key = `idem-${Date.now()}`;
    const body = { image: 'warmpod/hello:latest', labels: { run: key } };
    const a = await createPod(e, body, { 'idempotency-key': key });
    const b = await createPod(e, body, { 'idempotency-key': key });
    assert.equal(b.id, a.id);
    const list = (await (await e.api(`/v1/pods?label=run=${key}`)).json()) as { items: unknown[] };
    assert.equal(list.items.length, 1);
    const clash = await e.api('/v1/pods', {
      method: 'POST',
      body: JSON.stringify({ ...body, args: ['x'] }),
      headers: { 'idempotency-key': key },
    });
    assert.equal(clash.status, 409);
  });

  test('a rebuilt tag runs the new digest for new pods; the old pod keeps the old digest', async () => {
    const build = (version: string) =>
      buildImage({
        registryHost: e.cluster.registryHost,
        name: 'e2e/rebuilt',
        tag: 'latest',
        workDir: join(e.workDir, `img-${version}`),
        cmd: ['sh', '-c', `echo image ${version}`],
      });
    const v1 = await build('v1');
    const old = await waitForPod(e, (await createPod(e, { image: 'e2e/rebuilt:latest' })).id, ended);
    const v2 = await build('v2');
    assert.notEqual(v1, v2);
    const fresh = await waitForPod(e, (await createPod(e, { image: 'e2e/rebuilt:latest' })).id, ended);

    assert.equal(old.image.digest, v1);
    assert.equal(fresh.image.digest, v2);
    assert.match(await (await e.api(`/v1/pods/${old.id}/logs`)).text(), /image v1/);
    assert.match(await (await e.api(`/v1/pods/${fresh.id}/logs`)).text(), /image v2/);
    const again = (await (await e.api(`/v1/pods/${old.id}`)).json()) as { image: { digest: string } };
    assert.equal(again.image.digest, v1, 'the older record still names the digest it ran');
  });

  test('placement honours GPUs and selectors; an impossible pod stays Pending with the reason', async () => {
    const gpu = await waitForPod(
      e,
      (await createPod(e, { image: 'warmpod/hello:latest', resources: { cpu: 0.1, memoryMiB: 64, gpu: 2 } })).id,
      ended,
    );
    assert.equal(gpu.node, 'node-2');
    const zoned = await waitForPod(e, (await createPod(e, { image: 'warmpod/hello:latest', nodeSelector: { zone: 'a' } })).id, ended);
    assert.equal(zoned.node, 'node-1');
    const impossible = await createPod(e, { image: 'warmpod/hello:latest', resources: { cpu: 0.1, memoryMiB: 64, gpu: 4 } });
    const pending = await waitForPod(e, impossible.id, (p) => Boolean(p.message));
    assert.equal(pending.phase, 'Pending');
    assert.match(pending.message!, /insufficient gpu/);
    await e.api(`/v1/pods/${impossible.id}`, { method: 'DELETE' });
    assert.equal((await waitForPod(e, impossible.id, ended)).phase, 'Stopped');
  });

  test('bad input is refused with a clear error and leaves no pod behind', async () => {
    const before = ((await (await e.api('/v1/pods?limit=500')).json()) as { items: unknown[] }).items.length;
    const cases: Array<[string, string, number]> = [
      ['{"image":', 'invalid_json', 400],
      [JSON.stringify({ image: 'warmpod/hello:latest', bogus: 1 }), 'invalid_request', 400],
      [JSON.stringify({ image: 'Warmpod/Hello' }), 'invalid_image_reference', 400],
      [JSON.stringify({ image: 'warmpod/does-not-exist:latest' }), 'image_not_found', 422],
    ];
    for (const [body, code, status] of cases) {
      const res = await e.api('/v1/pods', { method: 'POST', body });
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, status, body);
      assert.equal(json.error.code, code, body);
      assert.ok(json.error.message.length > 0);
    }
    const unauth = await e.api('/v1/pods', { method: 'POST', body: '{}', token: '' });
    assert.equal(unauth.status, 401);
    const afterCount = ((await (await e.api('/v1/pods?limit=500')).json()) as { items: unknown[] }).items.length;
    assert.equal(afterCount, before);
  });

  test("a tenant never sees another tenant's pod", async () => {
    const pod = await createPod(e, { image: 'warmpod/hello:latest' });
    const res = await e.api(`/v1/pods/${pod.id}`, { token: e.otherToken });
    assert.equal(res.status, 404);
    await waitForPod(e, pod.id, ended);
  });
});
