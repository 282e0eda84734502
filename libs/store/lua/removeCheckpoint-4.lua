--[[
  Removes a checkpoint record and every index entry of it.

  KEYS[1] record
  KEYS[2] tenantCheckpoints
  KEYS[3] nodeCheckpoints
  KEYS[4] restorable
  ARGV[1] id

  Returns 1, or 0 when there was no such record.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
