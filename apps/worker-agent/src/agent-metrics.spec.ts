import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgentMetrics } from './agent-metrics';

test('the pull-bytes metric says which bytes it counts: compressed blobs, from peers and the registry alike', async () => {
  const m = new AgentMetrics();
  m.pulled('prepull', Date.now(), 'success', 1234);
  const text = await m.metrics.registry.getSingleMetricAsString('warmpod_image_pull_bytes');
  const help = text.split('\n').find((l) => l.startsWith('# HELP warmpod_image_pull_bytes '));
  assert.ok(help, text);
  assert.match(help, /Compressed blob bytes/);
  assert.match(help, /from peer nodes and the registry alike/);
  assert.match(help, /warmpod_peer_blob_fetched_bytes_total/);
  assert.match(text, /warmpod_image_pull_bytes_sum\{service="worker-agent",trigger="prepull"\} 1234/);
});
