--[[
  Creates a pin. The same reference pinned again at the same digest returns
  the active pin; at a new digest, the new pin becomes active and the old
  one superseded. Each pin changed is announced on pins:changed. A pin
  made at the door is charged to the tenant's pin quotas (the pin it
  supersedes no longer counts): over one, nothing is written.

  KEYS[1] pin           the new pin's hash
  KEYS[2] tenantPins
  KEYS[3] activePins    `tenant reference` -> active pin id
  KEYS[4] supersededPins
  ARGV[1] id
  ARGV[2] json          the pin's definition
  ARGV[3] createdMs
  ARGV[4] refField      `tenant reference`
  ARGV[5] digest
  ARGV[6] pinStem       a pin's hash is pinStem .. id
  ARGV[7] channel       pins:changed
  ARGV[8] quota         `pinsLimit pinBytesLimit bytes`, or '' for a pin charged elsewhere (a pool's)

  Returns {'existing', activeId}, {'created', supersededId or ''} or {'over-quota', name, limit, used, requested}.
]]
--- @include "tenantUse"
local current = redis.call('HGET', KEYS[3], ARGV[4])
if current then
  local old = ARGV[6] .. current
  if redis.call('HGET', old, 'digest') == ARGV[5] then return {'existing', current} end
end
local quota = words(ARGV[8])
if #quota > 0 then
  local over = overQuota({'pins', 'pinBytes'}, pinUse(KEYS[2], ARGV[6], current or ''), quota, {1, quota[3]})
  if over then return over end
end
if current then
  local old = ARGV[6] .. current
  redis.call('HSET', old, 'state', 'superseded', 'supersededBy', ARGV[1])
  redis.call('SADD', KEYS[4], current)
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'digest', ARGV[5], 'state', 'active')
if #quota > 0 then redis.call('HSET', KEYS[1], 'quotaBytes', quota[3]) end
if current then redis.call('HSET', KEYS[1], 'supersedes', current) end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', ARGV[7], ARGV[1])
if current then redis.call('PUBLISH', ARGV[7], current) end
return {'created', current or ''}
