--[[
  Removes a drained pool once it has no member and nothing left retiring.

  KEYS[1] pool
  KEYS[2] members
  KEYS[3] retiring
  KEYS[4] stats
  KEYS[5] pools
  KEYS[6] tenantPools
  KEYS[7] oldPins
  ARGV[1] id

  Returns 1 when removed, else 0.
]]
if redis.call('HGET', KEYS[1], 'state') ~= 'draining' then return 0 end
if redis.call('HLEN', KEYS[2]) > 0 or redis.call('ZCARD', KEYS[3]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[7])
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
return 1
