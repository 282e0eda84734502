--[[
  Takes a node out of the registry when its agent leaves the cluster (after
  a drain moved or stopped its pods): the node's record, cached-image list,
  usage and reservations go, so it never shows as lost. Only within the
  agent's current session, and only once no pod holds a reservation there:
  a node still holding pods is refused, never emptied behind their back.
  Layer records are shared by digest and stay. Announced on nodes:changed.

  KEYS[1] nodes
  KEYS[2] node
  KEYS[3] images        node:<id>:images
  KEYS[4] usage         node:<id>:usage
  KEYS[5] reservations  node:<id>:reservations
  ARGV[1] nodeId
  ARGV[2] sessionId
  ARGV[3] channel       nodes:changed
  ARGV[4] change        the message, `deregistered` (see change-messages.ts)

  Returns 1 removed, 0 unknown node, -1 stale session, -2 node lost,
  -3 pods still reserved there.
]]
--- @include "sessionGuard"
local refused = sessionRefusal()
if refused then return refused end
if redis.call('HLEN', KEYS[5]) > 0 then return -3 end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
