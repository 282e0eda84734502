--[[
  Rolls back a pod that was created but could not be enqueued. The
  idempotency key goes only while it still points at this pod. Its events
  go too (from its own stream, and by id from the tenant's and the
  all-events streams), so a rejected request leaves nothing.

  KEYS[1] spec
  KEYS[2] status
  KEYS[3] tenantPods
  KEYS[4...] idempotency  only when the request had a key
  ARGV[1] podId
  ARGV[2] allEvents     (stream keys as ARGV: KEYS[4...] is the optional tail)
  ARGV[3] tenantEvents
  ARGV[4] podEvents

  Returns 1.
]]
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if KEYS[4] then
  local v = redis.call('GET', KEYS[4])
  if v and string.sub(v, -string.len(ARGV[1])) == ARGV[1] then redis.call('DEL', KEYS[4]) end
end
for _, entry in ipairs(redis.call('XRANGE', ARGV[4], '-', '+')) do
  redis.call('XDEL', ARGV[2], entry[1])
  redis.call('XDEL', ARGV[3], entry[1])
end
redis.call('DEL', ARGV[4])
-- A stream this pod alone had written would stay behind empty.
for i = 2, 3 do
  if redis.call('XLEN', ARGV[i]) == 0 then redis.call('DEL', ARGV[i]) end
end
return 1
