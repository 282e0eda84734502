--[[
  Reserves capacity for a pod on a node, or refuses. Idempotent per pod. A
  new reservation is announced like a release, so other replicas' views
  learn of it without a read.

  KEYS[1] node          the node hash (capCpuMilli, capMemoryMiB, capGpu, drainingAt)
  KEYS[2] usage         reserved totals and their rev
  KEYS[3] reservations  pod id -> `cpuMilli memoryMiB gpu`
  ARGV[1] podId
  ARGV[2] cpuMilli
  ARGV[3] memoryMiB
  ARGV[4] gpu
  ARGV[5] channel       capacity:reserved
  ARGV[6] nodeId

  Returns {outcome (1 reserved, 0 no room, -1 unknown or draining node), cpuMilli,
  memoryMiB, gpu, rev}: the node's usage after the call, so a caller can
  correct its view.
]]
local used = redis.call('HMGET', KEYS[2], 'cpuMilli', 'memoryMiB', 'gpu', 'rev')
local cpu0, mem0, gpu0, rev0 = tonumber(used[1] or '0'), tonumber(used[2] or '0'), tonumber(used[3] or '0'), tonumber(used[4] or '0')
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return {1, cpu0, mem0, gpu0, rev0} end
local cap = redis.call('HMGET', KEYS[1], 'capCpuMilli', 'capMemoryMiB', 'capGpu', 'drainingAt')
-- A draining node takes nothing new: it is leaving the cluster.
if not cap[1] or cap[4] then return {-1, cpu0, mem0, gpu0, rev0} end
local cpu, mem, gpu = cpu0 + tonumber(ARGV[2]), mem0 + tonumber(ARGV[3]), gpu0 + tonumber(ARGV[4])
if cpu > tonumber(cap[1]) or mem > tonumber(cap[2]) or gpu > tonumber(cap[3]) then return {0, cpu0, mem0, gpu0, rev0} end
redis.call('HSET', KEYS[2], 'cpuMilli', cpu, 'memoryMiB', mem, 'gpu', gpu, 'rev', rev0 + 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ' ' .. ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6] .. ' ' .. cpu .. ' ' .. mem .. ' ' .. gpu .. ' ' .. (rev0 + 1))
return {1, cpu, mem, gpu, rev0 + 1}
