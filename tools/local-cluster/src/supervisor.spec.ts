import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ServiceProcess } from './service-process';
import { Supervisor, type RestartNotice } from './supervisor';

let dir: string;
let script: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'warmpod-supervisor-'));
  script = join(dir, 'service.js');
  await writeFile(script, 'setInterval(() => undefined, 1000);\n');
});
after(() => rm(dir, { recursive: true, force: true }));

const until = async (what: string, holds: () => boolean, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!holds()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('Supervisor: a service that dies is started again, like a DaemonSet pod', () => {
  test('a crash restarts it with growing backoff; a held service stays down; stop ends restarts', async () => {
    const supervisor = new Supervisor({ initialDelayMs: 50, maxDelayMs: 200 });
    const notices: RestartNotice[] = [];
    supervisor.onRestart((n) => notices.push(n));
    const first = ServiceProcess.spawn('svc', script, {}, join(dir, 'svc.log'));
    supervisor.watch(first);
    try {
      await first.kill();
      await until('a restart', () => supervisor.get('svc') !== first && supervisor.get('svc')!.running);
      const second = supervisor.get('svc')!;
      await second.kill();
      await until('a second restart', () => supervisor.get('svc') !== second && supervisor.get('svc')!.running);
      assert.deepEqual(
        notices.map((n) => [n.name, n.attempt, n.delayMs]),
        [
          ['svc', 1, 50],
          ['svc', 2, 100],
        ],
      );

      const third = supervisor.get('svc')!;
      supervisor.hold('svc');
      await third.kill();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(supervisor.get('svc'), third, 'held down: not restarted');

      supervisor.release('svc');
      supervisor.watch(third.respawn());
      supervisor.stop();
      const fourth = supervisor.get('svc')!;
      await fourth.kill();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(supervisor.get('svc'), fourth, 'stopping: not restarted');
    } finally {
      for (const s of supervisor.services()) await s.kill();
    }
  });

  test('a service that ends with code 0 on its own finished on purpose (a node that left): not restarted', async () => {
    // The restart is announced when it is scheduled; a long delay keeps the restarted copy (which exits with 3
    // again) from adding a second notice before the other service's exit is seen on a loaded machine.
    const supervisor = new Supervisor({ initialDelayMs: 60_000, maxDelayMs: 60_000 });
    const notices: RestartNotice[] = [];
    supervisor.onRestart((n) => notices.push(n));
    const exiting = join(dir, 'exit.js');
    await writeFile(exiting, 'process.exit(Number(process.env.CODE));\n');
    const left = ServiceProcess.spawn('left', exiting, { CODE: '0' }, join(dir, 'left.log'));
    const failed = ServiceProcess.spawn('failed', exiting, { CODE: '3' }, join(dir, 'failed.log'));
    supervisor.watch(left);
    supervisor.watch(failed);
    try {
      // The supervisor hears of an exit before this later listener does.
      await Promise.all([left, failed].map((s) => new Promise((resolve) => s.onExit(resolve))));
      assert.deepEqual(
        notices.map((n) => [n.name, n.code]),
        [['failed', 3]],
      );
      assert.equal(supervisor.get('left'), left);
    } finally {
      supervisor.stop();
      for (const s of supervisor.services()) await s.kill();
    }
  });
});
