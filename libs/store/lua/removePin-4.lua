--[[
  Removes a pin and every index entry of it. Announced on pins:changed.

  KEYS[1] pin
  KEYS[2] tenantPins
  KEYS[3] activePins
  KEYS[4] supersededPins
  ARGV[1] id
  ARGV[2] refField      `tenant reference`
  ARGV[3] channel       pins:changed

  Returns 1, or 0 when there was no such pin.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
