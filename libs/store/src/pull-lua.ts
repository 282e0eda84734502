/**
 * Pull bookkeeping, one atomic script per step, so several prepuller
 * replicas can never exceed the cluster-wide or per-node pull budget.
 * Keys: status hash per (node, digest); an in-flight hash with a `total`
 * field and one field per node.
 */

/**
 * KEYS: status, inflight. ARGV: node, pinned, clusterBudget, nodeBudget, nowIso, channel, message.
 * Returns 'claimed', 'exists' (queued, pulling or ready already) or 'busy' (budget full).
 */
export const CLAIM_PULL = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'pulling' or state == 'ready' then return 'exists' end
local total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
local onNode = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if total >= tonumber(ARGV[3]) or onNode >= tonumber(ARGV[4]) then return 'busy' end
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[1], 'state', 'queued', 'pinned', ARGV[2], 'bytesDone', 0, 'bytesTotal', 0, 'layersDone', 0, 'layersTotal', 0, 'attempts', 0, 'reason', '', 'updatedAt', ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[7])
return 'claimed'
`;

/**
 * Ends a pull: ready or failed. Gives the budget slot back only when the
 * pull held one, so finishing twice is harmless.
 * KEYS: status, inflight. ARGV: node, state, reason, nowIso, channel, message.
 */
export const FINISH_PULL = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'pulling' then
  redis.call('HINCRBY', KEYS[2], 'total', -1)
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[3], 'updatedAt', ARGV[4])
if ARGV[2] == 'ready' then
  local total = redis.call('HGET', KEYS[1], 'bytesTotal')
  if total then redis.call('HSET', KEYS[1], 'bytesDone', total) end
  local layers = redis.call('HGET', KEYS[1], 'layersTotal')
  if layers then redis.call('HSET', KEYS[1], 'layersDone', layers) end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

/** Progress of a pull in flight; ignored once the pull ended. KEYS: status. ARGV: bytesDone, bytesTotal, layersDone, layersTotal, attempt, nowIso. */
export const PULL_PROGRESS = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'pulling' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pulling', 'bytesDone', ARGV[1], 'bytesTotal', ARGV[2], 'layersDone', ARGV[3], 'layersTotal', ARGV[4], 'attempts', ARGV[5], 'updatedAt', ARGV[6])
return 1
`;
