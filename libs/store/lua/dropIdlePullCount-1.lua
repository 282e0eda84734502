--[[
  Removes a node's in-flight counter when it is zero or below (nothing of
  the node is in flight any more: a counter that drifted goes).

  KEYS[1] inflight
  ARGV[1] node

  Returns the count that was there.
]]
local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n
