--[[
  (Re)registers a node: registration fields, a new agent session (or none),
  the lost mark cleared. The cordon flag and the last inventory stay.
  Announced on nodes:changed.

  KEYS[1] nodes         set of registered node ids
  KEYS[2] node
  ARGV[1] nodeId
  ARGV[2] channel       nodes:changed
  ARGV[3] change        the message, `registered` (see change-messages.ts)
  ARGV[4] sessionId     '' for none
  ARGV[5...] fields  field, value, ...: the registration

  Returns 1.
]]
for i = 5, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if ARGV[4] == '' then redis.call('HDEL', KEYS[2], 'sessionId') else redis.call('HSET', KEYS[2], 'sessionId', ARGV[4]) end
redis.call('HDEL', KEYS[2], 'lostAt')
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
