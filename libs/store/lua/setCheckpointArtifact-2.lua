--[[
  Records that a checkpoint was pushed to the registry: its artifact's
  manifest digest and size, and indexes it under its spec key so that any
  node of a compatible runtime can find and fetch it. Only a checkpoint a
  start may still restore gets it (a deleted one's artifact is the caller's
  to delete).

  KEYS[1] record
  KEYS[2] artifacts     zset of the record's spec key
  ARGV[1] artifact      manifest digest
  ARGV[2] artifactBytes
  ARGV[3] nowIso

  Returns {'applied', state}, {'not-allowed', state} or {'not-found', ''}.
]]
local r = redis.call('HMGET', KEYS[1], 'state', 'id', 'createdMs')
if not r[1] then return {'not-found', ''} end
if r[1] ~= 'available' and r[1] ~= 'restore_failed' then return {'not-allowed', r[1]} end
redis.call('HSET', KEYS[1], 'artifact', ARGV[1], 'artifactBytes', ARGV[2], 'updatedAt', ARGV[3])
redis.call('HDEL', KEYS[1], 'pushError')
redis.call('ZADD', KEYS[2], r[3], r[2])
return {'applied', r[1]}
