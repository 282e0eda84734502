import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../files';

/**
 * How CRIU keeps a pod's network still while it dumps or restores its
 * sockets. CRIU's default, iptables, spawns iptables-restore and
 * ip6tables-restore in the pod's netns on every lock and unlock (~40 ms of
 * every restore on the local nodes, and the agent image has no iptables);
 * nftables does the same in-process through libnftables. A dump records its
 * method in the images and a restore always uses that one, so the method is
 * part of the node's runtime fingerprint. A node measures whether nftables
 * works (CriuCapability) and uses it for every checkpoint when it does.
 */
export const CRIU_NETWORK_LOCKS = ['nftables', 'iptables'] as const;
export type CriuNetworkLock = (typeof CRIU_NETWORK_LOCKS)[number];

/** CRIU's own default: what every checkpoint taken without a config file used. */
export const DEFAULT_CRIU_NETWORK_LOCK: CriuNetworkLock = 'iptables';

export function isCriuNetworkLock(value: unknown): value is CriuNetworkLock {
  return typeof value === 'string' && (CRIU_NETWORK_LOCKS as readonly string[]).includes(value);
}

/**
 * The runtime-spec annotation naming the CRIU configuration file runc hands
 * to CRIU (its RPC `config_file`) on checkpoint and restore. runc talks to
 * CRIU over RPC, where neither command-line options nor CRIU_CONFIG_FILE
 * reach it; without the annotation runc falls back to /etc/criu/runc.conf.
 */
export const CRIU_CONFIG_ANNOTATION = 'org.criu.config';

/** The configuration file's text: CRIU reads one long option per line, without its dashes. */
export function criuRuncConfigText(lock: CriuNetworkLock): string {
  return `network-lock ${lock}\n`;
}

/**
 * Writes the node's CRIU configuration for runc into `dir` and returns its
 * absolute path, for the pods' runtime specs. Rewritten at every agent start:
 * the measured lock may change with a new kernel or CRIU.
 */
export async function writeCriuRuncConfig(dir: string, lock: CriuNetworkLock): Promise<string> {
  const path = join(resolve(dir), 'criu-runc.conf');
  await mkdir(resolve(dir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, criuRuncConfigText(lock), 0o644);
  return path;
}
