import type { RuncRuntime } from '@warmpod/node-runtime';
import { messageOf, type Logger } from '@warmpod/observability';
import type { NodeReservations, PodRepository } from '@warmpod/store';
import { decideAdoption, exitMayFollow, type Adoption, type FoundPod } from './pod-adoption';
import type { PodExitWatcher } from './pod-exit-watcher';
import type { PodLocks } from './pod-locks';
import type { PodSandboxes } from './pod-sandbox';
import type { PodTransitions } from './pod-transitions';

/** How long a container runc saw end may take for its shim to record the exit code. */
const EXIT_RECORD_WAIT_MS = 2_000;

export interface PodAdopterDeps {
  nodeId: string;
  pods: Pick<PodRepository, 'get'>;
  reservations: Pick<NodeReservations, 'list' | 'release'>;
  runc: Pick<RuncRuntime, 'list' | 'listShims' | 'listPodCgroups' | 'removePodCgroup' | 'resume' | 'waitExit'>;
  sandboxes: Pick<PodSandboxes, 'teardown' | 'reexpose' | 'listOnNode'>;
  locks: PodLocks;
  transitions: Pick<PodTransitions, 'finish'>;
  exits: Pick<PodExitWatcher, 'watch' | 'recordExit'>;
  logger: Logger;
}

/** What one adoption pass did, by decision. */
export type AdoptionCounts = Record<Adoption['kind'] | 'failed', number>;

/**
 * At agent start, before jobs are consumed and before the node registers:
 * re-lists what runs on this node and carries out `decideAdoption` for each
 * pod, so an agent restart (an upgrade, a crash) loses no pod. The
 * containers themselves never noticed: their shims are detached and keep
 * appending to the pod logs.
 */
export class PodAdopter {
  constructor(private readonly deps: PodAdopterDeps) {}

  async adoptAll(): Promise<AdoptionCounts> {
    const { nodeId, pods, locks, logger } = this.deps;
    const counts: AdoptionCounts = { adopt: 0, ended: 0, vanished: 0, 'restart-start': 0, remove: 0, failed: 0 };
    for (const found of await this.findAll()) {
      await locks.with(found.podId, async () => {
        const pod = await pods.get(found.podId);
        const decision = decideAdoption(pod, await this.settled(found), nodeId);
        try {
          await this.carryOut(found, decision);
          counts[decision.kind]++;
        } catch (error) {
          counts.failed++;
          logger.error({ podId: found.podId, decision: decision.kind, err: messageOf(error) }, 'adoption step failed');
        }
      });
    }
    logger.info(counts, 'pods on this node reconciled with the store');
    return counts;
  }

  /** Everything this node holds, by pod, plus the pods the store placed here (a Running one with nothing left has vanished). */
  private async findAll(): Promise<FoundPod[]> {
    const { nodeId, reservations, runc, sandboxes } = this.deps;
    const [containers, shims, local, cgroups, reserved] = await Promise.all([
      runc.list(),
      runc.listShims(),
      sandboxes.listOnNode(),
      runc.listPodCgroups(),
      reservations.list(nodeId),
    ]);
    const byId = new Map<string, FoundPod>();
    const at = (podId: string): FoundPod => byId.get(podId) ?? byId.set(podId, { podId }).get(podId)!;
    for (const c of containers) at(c.id).runcStatus = c.status;
    for (const s of shims) if (s.exitCode !== undefined) at(s.podId).exitCode = s.exitCode;
    for (const s of shims) at(s.podId);
    for (const p of local) if (p.ip) at(p.podId).ip = p.ip;
    for (const p of [...local.map((l) => l.podId), ...cgroups, ...reserved]) at(p);
    return [...byId.values()];
  }

  /** A container runc saw end gets a moment for its shim to record the exit code. */
  private async settled(found: FoundPod): Promise<FoundPod> {
    if (!exitMayFollow(found)) return found;
    const exitCode = await this.deps.runc.waitExit(found.podId, { timeoutMs: EXIT_RECORD_WAIT_MS }).catch(() => undefined);
    return exitCode === undefined ? found : { ...found, exitCode };
  }

  private async carryOut(found: FoundPod, decision: Adoption): Promise<void> {
    const { nodeId, pods, reservations, runc, sandboxes, transitions, exits, logger } = this.deps;
    const podId = found.podId;
    switch (decision.kind) {
      case 'adopt': {
        const pod = await pods.get(podId);
        if (!pod) return;
        try {
          // Paused by a checkpoint the dead agent was taking: that checkpoint is abandoned, the pod runs on.
          if (decision.resume) await runc.resume(podId);
          if (pod.spec.ports.length > 0) {
            if (!found.ip) throw new Error('its address is not in the node network state');
            await sandboxes.reexpose(pod, found.ip);
          }
        } catch (error) {
          // Its endpoints cannot answer again: ended for good, the reservation released, nothing left behind.
          await sandboxes.teardown(podId);
          await transitions.finish(pod, 'Failed', { error: `not adopted after an agent restart: ${messageOf(error)}` });
          throw error;
        }
        exits.watch(podId);
        logger.info({ podId, endpoints: pod.endpoints }, 'pod adopted after an agent restart');
        return;
      }
      case 'ended':
        await exits.recordExit(podId, decision.exitCode);
        return;
      case 'vanished': {
        const pod = await pods.get(podId);
        await sandboxes.teardown(podId);
        if (pod)
          await transitions.finish(pod, 'Failed', {
            error: 'its container was gone when the node agent restarted; no exit code was recorded',
          });
        return;
      }
      case 'restart-start':
        await this.removeArtifacts(podId);
        logger.info({ podId }, 'start interrupted by the agent restart: its leftovers removed, its start job runs it again');
        return;
      case 'remove':
        await this.removeArtifacts(podId);
        if (decision.release) await reservations.release(nodeId, podId);
        logger.info({ podId, reason: decision.reason }, 'removed what nobody owns on this node');
        return;
    }
  }

  /** Container (killed), ports, netns, overlay, pod dir, then its cgroup (empty once the container is gone). */
  private async removeArtifacts(podId: string): Promise<void> {
    await this.deps.sandboxes.teardown(podId);
    await this.deps.runc.removePodCgroup(podId);
  }
}
