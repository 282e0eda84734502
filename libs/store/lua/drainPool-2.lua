--[[
  Starts draining: the name is free at once, claims stop, the controller
  retires every member. Announced on pools:changed.

  KEYS[1] pool
  KEYS[2] names
  ARGV[1] nameField
  ARGV[2] id
  ARGV[3] nowIso
  ARGV[4] channel       pools:changed

  Returns 1, or 0 when the pool is not active.
]]
if redis.call('HGET', KEYS[1], 'state') ~= 'active' then return 0 end
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
redis.call('HSET', KEYS[1], 'state', 'draining', 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[2])
return 1
