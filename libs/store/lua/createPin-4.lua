--[[
  Creates a pin. The same reference pinned again at the same digest returns
  the active pin; at a new digest, the new pin becomes active and the old
  one superseded. Each pin changed is announced on pins:changed.

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

  Returns {'existing', activeId} or {'created', supersededId or ''}.
]]
local current = redis.call('HGET', KEYS[3], ARGV[4])
if current then
  local old = ARGV[6] .. current
  if redis.call('HGET', old, 'digest') == ARGV[5] then return {'existing', current} end
  redis.call('HSET', old, 'state', 'superseded', 'supersededBy', ARGV[1])
  redis.call('SADD', KEYS[4], current)
end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'digest', ARGV[5], 'state', 'active')
if current then redis.call('HSET', KEYS[1], 'supersedes', current) end
redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('PUBLISH', ARGV[7], ARGV[1])
if current then redis.call('PUBLISH', ARGV[7], current) end
return {'created', current or ''}
