--[[
  Cordons or uncordons a registered node. Announced on nodes:changed.

  KEYS[1] nodes
  KEYS[2] node
  ARGV[1] nodeId
  ARGV[2] cordoned      'true' | 'false'
  ARGV[3] channel       nodes:changed
  ARGV[4] change        the message, `cordon` (see change-messages.ts)

  Returns 1, or 0 for an unknown node.
]]
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'cordoned', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
