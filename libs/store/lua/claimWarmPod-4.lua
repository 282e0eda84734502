--[[
  Hands one Running warm pod to a caller: one of the current digest when
  any is free, an older one only when none is. The pod leaves the pool in
  the same step, so two claims never get the same pod; the pool is told to
  refill. Honours an idempotency key like pod creation does, and the
  tenant's pod quotas: the claimed pod leaves the pool's charge for the
  tenant's pod ledger, in the same step.

  KEYS[1] pool
  KEYS[2] members
  KEYS[3] stats
  KEYS[4] quotaPods     the tenant's charged pods (see tenantUse.lua)
  KEYS[5...] idempotency  only when the request has a key
  ARGV[1] statusStem
  ARGV[2] bodyHash
  ARGV[3] idemTtlSec
  ARGV[4] message       set on the claimed pod
  ARGV[5] channel       pools:changed
  ARGV[6] poolId
  ARGV[7] charge        `cpuMilli memoryMiB gpu restarts(0|1)` of the pool's pods
  ARGV[8] limits        `pods cpuMilli memoryMiB gpu`, or '' for no check (the pod is charged either way)
  ARGV[9] lostBeforeIso  a restarting pod Lost before this no longer counts

  Returns {'claimed', podId, digest}, {'none'}, {'inactive'}, {'exists', 'bodyHash podId'}
  or {'over-quota', name, limit, used, requested}.
]]
--- @include "tenantUse"
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'exists', existing} end
end
local p = redis.call('HMGET', KEYS[1], 'state', 'digest')
if p[1] ~= 'active' then return {'inactive'} end
if ARGV[8] ~= '' then
  local want = words(ARGV[7])
  local over = overQuota({'pods', 'cpuMilli', 'memoryMiB', 'gpu'}, podUse(KEYS[4], ARGV[1], ARGV[9]), words(ARGV[8]),
    {1, want[1], want[2], want[3]})
  if over then return over end
end
local all = redis.call('HGETALL', KEYS[2])
local best = {}
for i = 1, #all, 2 do
  local digest, at = string.match(all[i + 1], '^(%S+) (%d+)$')
  local s = redis.call('HMGET', ARGV[1] .. all[i], 'phase', 'stopRequested')
  if s[1] == 'Running' and s[2] ~= 'true' then
    local tier = digest == p[2] and 1 or 2
    local at_n = tonumber(at)
    if not best[tier] or at_n < best[tier].at then best[tier] = {pod = all[i], digest = digest, at = at_n} end
  end
end
local pick = best[1] or best[2]
if not pick then return {'none'} end
redis.call('HDEL', KEYS[2], pick.pod)
redis.call('HSET', ARGV[1] .. pick.pod, 'startMode', 'warm-pool', 'message', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'claimed:' .. pick.digest, 1)
redis.call('HSET', KEYS[4], pick.pod, ARGV[7])
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[2] .. ' ' .. pick.pod, 'EX', ARGV[3]) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return {'claimed', pick.pod, pick.digest}
