--[[
  The newest restorable checkpoint of a key on a node; index entries whose
  record is gone are dropped on the way.

  KEYS[1] restorable
  ARGV[1] checkpointStem  a record's hash is checkpointStem .. id
  ARGV[2] k             restore failures that quarantine

  Returns the record as a flat HGETALL list, or {} when there is none.
]]
local ids = redis.call('ZREVRANGE', KEYS[1], 0, -1)
for _, id in ipairs(ids) do
  local r = redis.call('HMGET', ARGV[1] .. id, 'state', 'restoreFailures')
  if not r[1] then
    redis.call('ZREM', KEYS[1], id)
  elseif (r[1] == 'available' or r[1] == 'restore_failed') and tonumber(r[2] or '0') < tonumber(ARGV[2]) then
    return redis.call('HGETALL', ARGV[1] .. id)
  end
end
return {}
