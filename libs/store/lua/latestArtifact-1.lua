--[[
  The newest restorable checkpoint with a pushed artifact of one spec key
  whose full key (runtime included) is the one asked for; index entries of
  records gone, deleted or failed are dropped on the way.

  KEYS[1] artifacts     zset of the spec key
  ARGV[1] checkpointStem  a record's hash is checkpointStem .. id
  ARGV[2] k             restore failures that quarantine
  ARGV[3] key           the full key (tenant, digest, spec, runtime)

  Returns the record as a flat HGETALL list, or {} when there is none.
]]
local ids = redis.call('ZREVRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', ARGV[1] .. id, 'state', 'restoreFailures', 'key', 'artifact')
  if not r[1] or r[1] == 'deleted' or r[1] == 'checkpoint_failed' then
    redis.call('ZREM', KEYS[1], id)
  elseif (r[1] == 'available' or r[1] == 'restore_failed') and tonumber(r[2] or '0') < tonumber(ARGV[2])
      and r[3] == ARGV[3] and r[4] then
    return redis.call('HGETALL', ARGV[1] .. id)
  end
end
return {}
