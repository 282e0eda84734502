import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createPod, startCluster, stopClusterLeavingNothing, waitForPod, type E2eCluster } from './support';

/** Screenshots are test artefacts, next to the TAP reports. */
const REPORTS = resolve(__dirname, '..', '..', '.warmpod', 'test-reports');

/** Debian's chromium, headless, with nothing but loopback to talk to. */
async function launch(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // No name resolves: only the gateway's loopback address is reachable.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    ],
  });
}

describe('the cluster page in headless Chromium against a local cluster', () => {
  let e: E2eCluster;
  let profile: string;
  let browser: BrowserContext;
  let page: Page;
  /** Requests the page made anywhere but the gateway: none expected. */
  const elsewhere: string[] = [];

  before(async () => {
    mkdirSync(REPORTS, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'warmpod-chromium-'));
    e = await startCluster();
    browser = await launch(profile);
    browser.on('request', (request) => {
      const { hostname } = new URL(request.url());
      if (hostname !== '127.0.0.1') elsewhere.push(request.url());
    });
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await stopClusterLeavingNothing(e);
  });

  const message = () => page.locator('#message').textContent();

  test('without a token, and with a bad one, the page says so and shows nothing', async () => {
    const res = await page.goto(`${e.cluster.gatewayUrl}/`);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/ui/');
    await page.waitForSelector('#login:not([hidden])');
    assert.match((await message()) ?? '', /needs a bearer token/);
    await page.fill('#token', 'not-a-token');
    await page.click('#login button');
    await page.waitForFunction("/refused this token/.test(document.getElementById('message').textContent)");
    assert.match((await message()) ?? '', /refused this token \(401/);
    assert.equal(await page.isHidden('#cluster'), true);
    assert.equal(await page.evaluate("sessionStorage.getItem('warmpod.token')"), null);
    await page.screenshot({ path: join(REPORTS, 'page-bad-token.png') });
  });

  test('nodes show up; a pin goes ready on every node; a pod posted over REST appears and turns Running', async () => {
    await page.fill('#token', e.token);
    await page.click('#login button');
    await page.waitForSelector('#live.on', { timeout: 15_000 });
    await page.waitForFunction(`document.querySelectorAll('tr[data-node][data-health="Ready"]').length === 2`, undefined, {
      timeout: 15_000,
    });

    const pinRes = await e.api('/v1/images', { method: 'POST', body: JSON.stringify({ image: 'warmpod/sleeper:latest' }) });
    assert.ok(pinRes.status >= 200 && pinRes.status < 300, `POST /v1/images answered ${pinRes.status}`);
    const pin = (await pinRes.json()) as { id: string };
    const row = page.locator(`tr[data-pin="${pin.id}"]`);
    // Every per-node state the page showed, in order, until all are ready.
    const seen: string[] = [];
    const deadline = Date.now() + 60_000;
    for (;;) {
      const states = await row.locator('[data-pin-node]').evaluateAll((els) => els.map((el) => el.getAttribute('data-state') ?? ''));
      const percents = await row.locator('.bar').evaluateAll((els) => els.map((el) => el.getAttribute('data-percent') ?? ''));
      const shot = `${states.join(',')}|${percents.join(',')}`;
      if (seen.at(-1) !== shot) seen.push(shot);
      if (states.length === 2 && states.every((s) => s === 'ready')) {
        assert.deepEqual(percents, ['100', '100']);
        break;
      }
      assert.ok(Date.now() < deadline, `pin not ready on the page; seen ${JSON.stringify(seen)}`);
      await page.waitForTimeout(100);
    }
    process.stdout.write(`# pin states the page showed (per node states | bar percents): ${seen.join(' -> ')}\n`);
    // The nodes' cached images follow the pin.
    await page.waitForFunction(
      "[...document.querySelectorAll('tr[data-node]')].every((r) => r.querySelectorAll('code').length > 0)",
      undefined,
      { timeout: 15_000 },
    );

    // A warm pool of one: its row fills up.
    const poolRes = await e.api('/v1/pools', {
      method: 'POST',
      body: JSON.stringify({
        name: 'page',
        image: 'warmpod/sleeper:latest',
        size: 1,
        podTemplate: { resources: { cpu: 0.1, memoryMiB: 32 } },
      }),
    });
    assert.equal(poolRes.status, 201, await poolRes.clone().text());
    await page.waitForSelector('tr[data-pool="page"][data-ready="1"][data-size="1"]', { timeout: 60_000 });

    const pod = await createPod(e, { image: 'warmpod/sleeper:latest' });
    await page.waitForSelector(`tr[data-pod="${pod.id}"]`, { timeout: 15_000 });
    await page.waitForSelector(`tr[data-pod="${pod.id}"][data-phase="Running"]`, { timeout: 60_000 });
    const running = await waitForPod(e, pod.id, (p) => p.phase === 'Running');
    const podRow = page.locator(`tr[data-pod="${pod.id}"]`);
    assert.match((await podRow.textContent()) ?? '', new RegExp(`${running.node}`));
    // The waterfall: one coloured part per start segment, in the pod's start mode.
    const parts = await podRow.locator('.waterfall > span').evaluateAll((els) => els.map((el) => el.className));
    assert.ok(parts.length >= 2, `waterfall parts: ${JSON.stringify(parts)}`);
    assert.ok(
      parts.every((c) => c === running.startMode),
      `coloured by ${running.startMode}: ${JSON.stringify(parts)}`,
    );
    // The body only: as tall as what it shows.
    await page.locator('body').screenshot({ path: join(REPORTS, 'page-cluster.png') });

    const del = await e.api(`/v1/pods/${pod.id}`, { method: 'DELETE' });
    assert.ok(del.status < 300, `DELETE answered ${del.status}`);
    await page.waitForSelector(`tr[data-pod="${pod.id}"]:not([data-phase="Running"])`, { timeout: 30_000 });
    await waitForPod(e, pod.id, (p) => !['Running', 'Stopping'].includes(p.phase), 30_000);
    assert.deepEqual(elsewhere, []);
  });
});
