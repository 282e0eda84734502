--[[
  Progress of a pull in flight; ignored once the pull ended.

  KEYS[1] status
  ARGV[1] bytesDone
  ARGV[2] bytesTotal
  ARGV[3] layersDone
  ARGV[4] layersTotal
  ARGV[5] attempt
  ARGV[6] nowIso

  Returns 1 when recorded, 0 when the pull had ended.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'queued' and state ~= 'pulling' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'pulling', 'bytesDone', ARGV[1], 'bytesTotal', ARGV[2], 'layersDone', ARGV[3], 'layersTotal', ARGV[4], 'attempts', ARGV[5], 'updatedAt', ARGV[6])
return 1
