--[[
  Records that a node holds a fetched copy of a checkpoint, so a delete
  reaches it; only while the checkpoint is restorable.

  KEYS[1] record
  KEYS[2] copies
  ARGV[1] node

  Returns 1 when recorded, 0 when the checkpoint is gone or not restorable.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'available' and state ~= 'restore_failed' then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
