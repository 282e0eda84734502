import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

const podJson = z
  .object({
    id: z.string(),
    phase: z.string(),
    node: z.string().optional(),
    exitCode: z.number().optional(),
    message: z.string().optional(),
  })
  .passthrough();
export type SmokePod = z.infer<typeof podJson>;

/**
 * The smoke test through the chart's gateway: a pod posted with a tenant's
 * token, followed until it ends; its phase, node and logs are returned for
 * the caller to judge.
 */
export async function smokePod(
  gatewayUrl: string,
  token: string,
  body: unknown,
  timeoutMs = 120_000,
): Promise<{ pod: SmokePod; logs: string }> {
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const created = await fetch(`${gatewayUrl}/v1/pods`, { method: 'POST', headers, body: JSON.stringify(body) });
  const json: unknown = await created.json();
  if (created.status !== 202 && created.status !== 200)
    throw new Error(`POST /v1/pods answered ${created.status}: ${JSON.stringify(json)}`);
  const { id } = podJson.parse(json);
  const deadline = Date.now() + timeoutMs;
  let pod = podJson.parse(json);
  while (!['Succeeded', 'Failed', 'Stopped', 'Lost'].includes(pod.phase)) {
    if (Date.now() > deadline) throw new Error(`pod ${id} did not end within ${timeoutMs / 1000} s; last seen: ${JSON.stringify(pod)}`);
    await sleep(200);
    pod = podJson.parse(await (await fetch(`${gatewayUrl}/v1/pods/${id}`, { headers })).json());
  }
  const logs = await (await fetch(`${gatewayUrl}/v1/pods/${id}/logs`, { headers })).text();
  return { pod, logs };
}
