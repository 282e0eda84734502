import { execFile } from 'node:child_process';
import { z } from 'zod';

const sweepReportSchema = z.object({ node: z.string(), failures: z.array(z.string()), leftovers: z.array(z.string()) });

/**
 * Runs the node's agent in sweep mode (`main.js --sweep`, the node's own
 * environment): it removes whatever the node still holds (what an agent that
 * died left: containers, shims, mounts, netns, bridge, veths, cgroups) and
 * reports what is still there. Resolves to that list, each entry prefixed by
 * the node id; empty when the node is clean.
 */
export function sweepHostNode(nodeId: string, agentScript: string, env: Record<string, string>, timeoutMs = 120_000): Promise<string[]> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [agentScript, '--sweep'],
      { env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, timeout: timeoutMs, maxBuffer: 4 * 2 ** 20 },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop() ?? '';
        let parsed: z.infer<typeof sweepReportSchema> | undefined;
        try {
          parsed = sweepReportSchema.parse(JSON.parse(line));
        } catch {
          parsed = undefined;
        }
        if (!parsed) {
          const why = error ? error.message : 'no report';
          resolve([`${nodeId}: sweep failed (${why}): ${stderr.trim().slice(-1000)}`]);
          return;
        }
        resolve([...parsed.leftovers, ...parsed.failures.map((f) => `could not remove ${f}`)].map((l) => `${nodeId}: ${l}`));
      },
    );
  });
}
