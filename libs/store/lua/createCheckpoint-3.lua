--[[
  Records a pending checkpoint and indexes it by tenant and node. Creating
  an existing id (a job run twice) changes nothing.

  KEYS[1] record
  KEYS[2] tenantCheckpoints
  KEYS[3] nodeCheckpoints
  ARGV[1] id
  ARGV[2] createdMs
  ARGV[3...] fields  field, value, ...: the record

  Returns 1 when created, 0 when it existed.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
