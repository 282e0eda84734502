import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { startCluster, stopClusterLeavingNothing, waitForPod, type E2eCluster } from './support';

/** The workspace's `warmpod` bin, as a user runs it. */
const WARMPOD = resolve(__dirname, '..', '..', 'tools', 'cli', 'bin', 'warmpod');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function env(e: E2eCluster, token = e.token): NodeJS.ProcessEnv {
  return { ...process.env, WARMPOD_URL: e.cluster.gatewayUrl, WARMPOD_TOKEN: token };
}

function warmpod(e: E2eCluster, args: string[], token?: string): Promise<Ran> {
  return new Promise((done) => {
    execFile(WARMPOD, args, { env: env(e, token), timeout: 180_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

/** A long-running `warmpod events ... --output json`: its lines as they come, until stopped (a dropped connection). */
class Follower {
  readonly lines: Array<{ id: string; event: string; data: Record<string, unknown> }> = [];
  private readonly child: ChildProcess;
  private wake?: () => void;
  private exit?: string;

  constructor(e: E2eCluster, args: string[]) {
    this.child = spawn(WARMPOD, ['events', ...args, '--output', 'json'], { env: env(e), stdio: ['ignore', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      this.lines.push(JSON.parse(line) as Follower['lines'][number]);
      this.wake?.();
    });
    this.child.once('exit', (code, signal) => {
      this.exit = `exited with ${code ?? signal}`;
      this.wake?.();
    });
  }

  async until(what: string, check: (f: Follower) => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      if (this.exit) assert.fail(`events: ${this.exit} before ${what}`);
      if (Date.now() > deadline) assert.fail(`events: timed out waiting for ${what}; got ${JSON.stringify(this.lines)}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 500);
      });
    }
  }

  phasesOf(podId: string): unknown[] {
    return this.lines.filter((l) => l.event === 'pod' && l.data['resource'] === podId).map((l) => l.data['phase']);
  }

  stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    return exited.then(() => undefined);
  }
}

describe('the warmpod CLI and live events against a local cluster', () => {
  let e: E2eCluster;
  const followers: Follower[] = [];

  before(async () => {
    e = await startCluster();
  });

  after(async () => {
    await Promise.all(followers.map((f) => f.stop()));
    await stopClusterLeavingNothing(e);
  });

  test('images warm: per-node progress until every node has it', async () => {
    const warm = await warmpod(e, ['images', 'warm', 'warmpod/sleeper:latest']);
    assert.equal(warm.code, 0, warm.stderr);
    const last = warm.stdout.trim().split('\n').slice(-2);
    assert.equal(last.length, 2);
    for (const line of last) assert.match(line, /^\S+\s+\[#{20}\] ready$/);
    const json = await warmpod(e, ['images', 'warm', 'warmpod/sleeper:latest', '--output', 'json']);
    const pin = JSON.parse(json.stdout) as { nodes: Array<{ state: string }> };
    assert.deepEqual(
      pin.nodes.map((n) => n.state),
      ['ready', 'ready'],
    );
  });

  test('run --wait, ps, get, nodes, rm; the tenant stream and the pod stream follow it; --since resumes', async () => {
    // From the oldest kept event (it says `gap`: nothing before 0-0 is kept), so the pin above proves the stream is open.
    const tenant = new Follower(e, ['--since', '0-0']);
    followers.push(tenant);
    await tenant.until('the pin event', (f) => f.lines.some((l) => l.event === 'pin'));

    const run = await warmpod(e, ['run', 'warmpod/sleeper:latest', '--wait', '--output', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const pod = JSON.parse(run.stdout) as { id: string; phase: string; startMode: string };
    assert.equal(pod.phase, 'Running');
    assert.equal(pod.startMode, 'warm-cache', 'warmed above');
    await tenant.until('Running', (f) => f.phasesOf(pod.id).includes('Running'));
    assert.deepEqual(tenant.phasesOf(pod.id), ['Pending', 'Scheduled', 'Starting', 'Running']);

    const ps = await warmpod(e, ['ps']);
    assert.match(ps.stdout, new RegExp(`^${pod.id}\\s+Running\\s+warm-cache`, 'm'));
    const get = await warmpod(e, ['get', pod.id, '--output', 'json']);
    assert.equal((JSON.parse(get.stdout) as { id: string }).id, pod.id);
    const nodes = await warmpod(e, ['nodes']);
    assert.equal(nodes.code, 0);
    assert.equal(nodes.stdout.trim().split('\n').length, 3, 'a header and two nodes');
    for (const cmd of ['pools', 'checkpoints']) assert.equal((await warmpod(e, [cmd])).code, 0, cmd);

    // The pod's own stream from its start; then, as after a dropped connection, from the Scheduled event on.
    const own = new Follower(e, [pod.id]);
    followers.push(own);
    await own.until('Running', (f) => f.phasesOf(pod.id).includes('Running'));
    await own.stop();
    const scheduled = own.lines.find((l) => l.data['phase'] === 'Scheduled')!;
    const rm = await warmpod(e, ['rm', pod.id]);
    assert.equal(rm.code, 0, rm.stderr);
    const resumed = new Follower(e, [pod.id, '--since', scheduled.id]);
    followers.push(resumed);
    await resumed.until('Stopped', (f) => f.phasesOf(pod.id).includes('Stopped'));
    assert.deepEqual(resumed.phasesOf(pod.id), ['Starting', 'Running', 'Stopped'], 'exactly what came after the resume point');
    await waitForPod(e, pod.id, (p) => p.phase === 'Stopped');
  });

  test('logs of a pod that printed and ended; -f returns once it has ended', async () => {
    const run = await warmpod(e, ['run', 'warmpod/hello:latest', '--output', 'json']);
    const { id } = JSON.parse(run.stdout) as { id: string };
    await waitForPod(e, id, (p) => p.phase === 'Succeeded');
    for (const args of [
      ['logs', id],
      ['logs', id, '-f'],
    ]) {
      const logs = await warmpod(e, args);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /hello from warmpod/);
    }
  });

  test('errors: one line and an exit code scripts can rely on', async () => {
    const missing = await warmpod(e, ['get', 'pod-00000000000000000000']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr.trim(), 'warmpod: not_found: pod not found (HTTP 404)');
    const badToken = await warmpod(e, ['ps'], 'not-a-token');
    assert.equal(badToken.code, 3);
    assert.equal(badToken.stderr.trim().split('\n').length, 1);
    const badResume = await warmpod(e, ['events', '--since', 'yesterday']);
    assert.equal(badResume.code, 1);
    assert.match(badResume.stderr, /invalid_last_event_id: Last-Event-ID "yesterday" is not an event id/);
  });
});
