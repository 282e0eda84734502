--[[
  Takes a budget slot and marks the pull queued, in one step, so several
  prepuller replicas can never exceed the cluster-wide or per-node budget.
  Announced on pulls:changed.

  KEYS[1] status        the pull's hash
  KEYS[2] inflight      `total` and one count per node
  ARGV[1] node
  ARGV[2] pinned
  ARGV[3] clusterBudget
  ARGV[4] nodeBudget
  ARGV[5] nowIso
  ARGV[6] channel       pulls:changed
  ARGV[7] message       `node digest`

  Returns 'claimed', 'exists' (queued, pulling or ready already) or 'busy' (budget full).
]]
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
