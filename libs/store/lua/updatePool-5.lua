--[[
  Resizes and/or moves an active pool to a new image; a new digest starts a
  rotation (generation + 1, the old digest remembered). In the same step,
  every pod of an older digest that is not Running yet is retired (as
  retireMember-4's superseded case) and marked stop-requested, so an agent
  that has not begun starting it never will: no pod starts on the old
  digest after the move. A pool grown past the tenant's pool-pods quota is
  refused and nothing changes. Announced on pools:changed.

  KEYS[1] pool
  KEYS[2] members
  KEYS[3] retiring
  KEYS[4] stats
  KEYS[5] tenantPools
  ARGV[1] size          '' keeps it
  ARGV[2] imageJson     '' keeps it
  ARGV[3] digest        '' keeps it
  ARGV[4] nowIso
  ARGV[5] channel       pools:changed
  ARGV[6] id
  ARGV[7] statusStem    a member's pod status hash is statusStem .. podId
  ARGV[8] message       set on each pod retired here
  ARGV[9] nowMs
  ARGV[10] poolStem     a pool's hash is poolStem .. id
  ARGV[11] poolPodsLimit  '' for no check

  Returns -1 when the pool is not active, 1 when the digest changed, else 0,
  or {'over-quota', name, limit, used, requested}.
]]
--- @include "tenantUse"
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return -1 end
if ARGV[1] ~= '' and ARGV[11] ~= '' and tonumber(ARGV[1]) > tonumber(redis.call('HGET', KEYS[1], 'size') or '0') then
  local over = overQuota({'poolPods'}, poolUse(KEYS[5], ARGV[10], ARGV[6]), {ARGV[11]}, {ARGV[1]})
  if over then return over end
end
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'size', ARGV[1]) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'image', ARGV[2]) end
local rotated = 0
local old = redis.call('HGET', KEYS[1], 'digest')
if ARGV[3] ~= '' and old ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'digest', ARGV[3], 'previousDigest', old, 'pinnedAt', ARGV[4], 'failStreak', 0, 'backoffUntil', 0)
  redis.call('HINCRBY', KEYS[1], 'generation', 1)
  rotated = 1
  local all = redis.call('HGETALL', KEYS[2])
  for i = 1, #all, 2 do
    if string.match(all[i + 1], '^(%S+) ') ~= ARGV[3] then
      local status = ARGV[7] .. all[i]
      local phase = redis.call('HGET', status, 'phase')
      if phase and phase ~= 'Running' and not TERMINAL[phase] then
        redis.call('HDEL', KEYS[2], all[i])
        redis.call('ZADD', KEYS[3], ARGV[9], all[i])
        redis.call('HSET', status, 'stopRequested', 'true', 'message', ARGV[8])
        redis.call('HINCRBY', KEYS[4], 'retired:' .. string.match(all[i + 1], '^(%S+) '), 1)
      end
    end
  end
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return rotated
