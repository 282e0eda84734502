--[[
  Stores a new active pool unless the tenant already has an active pool of
  that name, or when its size would take the tenant's active pools past
  their pool-pods quota. Announced on pools:changed.

  KEYS[1] pool
  KEYS[2] names         `tenant name` -> active pool id
  KEYS[3] pools         every pool id
  KEYS[4] tenantPools
  ARGV[1] id
  ARGV[2] nameField     `tenant name`
  ARGV[3] defJson
  ARGV[4] imageJson
  ARGV[5] digest
  ARGV[6] size
  ARGV[7] nowIso
  ARGV[8] channel       pools:changed
  ARGV[9] poolStem      a pool's hash is poolStem .. id
  ARGV[10] poolPodsLimit  '' for no check

  Returns {'created', id}, {'exists', idOfTheOther} or {'over-quota', name, limit, used, requested}.
]]
--- @include "tenantUse"
local other = redis.call('HGET', KEYS[2], ARGV[2])
if other then return {'exists', other} end
if ARGV[10] ~= '' then
  local over = overQuota({'poolPods'}, poolUse(KEYS[4], ARGV[9], ''), {ARGV[10]}, {ARGV[6]})
  if over then return over end
end
redis.call('HSET', KEYS[1], 'def', ARGV[3], 'image', ARGV[4], 'digest', ARGV[5], 'size', ARGV[6], 'state', 'active',
  'generation', 1, 'pinnedAt', ARGV[7], 'updatedAt', ARGV[7], 'failStreak', 0, 'backoffUntil', 0)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('SADD', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[8], ARGV[1])
return {'created', ARGV[1]}
