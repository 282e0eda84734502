--[[
  Rolls back a pod that was created but could not be enqueued. The
  idempotency key goes only while it still points at this pod.

  KEYS[1] spec
  KEYS[2] status
  KEYS[3] tenantPods
  KEYS[4...] idempotency  only when the request had a key
  ARGV[1] podId

  Returns 1.
]]
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
if KEYS[4] then
  local v = redis.call('GET', KEYS[4])
  if v and string.sub(v, -string.len(ARGV[1])) == ARGV[1] then redis.call('DEL', KEYS[4]) end
end
return 1
