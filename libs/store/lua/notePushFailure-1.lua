--[[
  Writes why the last push of a checkpoint to the registry failed; the
  checkpoint stays restorable on its node and the push is retried.

  KEYS[1] record
  ARGV[1] reason

  Returns 1, or 0 when there is no such record (never recreates one).
]]
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'pushError', ARGV[1])
return 1
