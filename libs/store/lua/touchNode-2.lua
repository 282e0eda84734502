--[[
  Refreshes liveness within the node's agent session. Not announced:
  readers re-check heartbeats on their own timer.

  KEYS[1] nodes
  KEYS[2] node
  ARGV[1] nodeId
  ARGV[2] sessionId
  ARGV[3] nowIso

  Returns 1 applied, 0 unknown node, -1 stale session, -2 node lost.
]]
--- @include "sessionGuard"
local refused = sessionRefusal()
if refused then return refused end
redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[3])
return 1
