--[[
  Starts draining a registered node: it takes no new reservation from here
  on (reserveCapacity refuses a draining node, in the same Redis that holds
  the mark, so no replica's stale view can place there) and it shows as
  cordoned. Draining ends with the node's deregistration (deregisterNode).
  Idempotent: a second call keeps the first time. Announced on nodes:changed.

  KEYS[1] nodes
  KEYS[2] node
  ARGV[1] nodeId
  ARGV[2] nowIso
  ARGV[3] channel       nodes:changed
  ARGV[4] change        the message, `draining` (see change-messages.ts)

  Returns 1 when the node drains (now or already), 0 for an unknown node.
]]
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HEXISTS', KEYS[2], 'drainingAt') == 1 then return 1 end
redis.call('HSET', KEYS[2], 'drainingAt', ARGV[2], 'cordoned', 'true')
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
