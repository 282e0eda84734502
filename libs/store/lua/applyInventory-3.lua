--[[
  Replaces a node's whole inventory within its agent session (the first
  report of a session) and refreshes liveness; bumps `imagesRev`.
  Announced on nodes:changed.

  KEYS[1] nodes
  KEYS[2] node
  KEYS[3] images        digest -> `sizeBytes layerCount`
  KEYS[4...] layers  one layers:<digest> key per image, in ARGV order
  ARGV[1] nodeId
  ARGV[2] sessionId
  ARGV[3] nowIso
  ARGV[4] channel       nodes:changed
  ARGV[5] runningPodsJson
  ARGV[6] checkpointsJson
  ARGV[7] usageJson     '' when not reported
  ARGV[8] change        the message, `inventory` (see change-messages.ts)
  ARGV[9...] images  digest, entry, layersJson ('' when unknown) per image

  Returns 1 applied, 0 unknown node, -1 stale session, -2 node lost.
]]
--- @include "sessionGuard"
--- @include "nodeReport"
--- @include "putImages"
local refused = sessionRefusal()
if refused then return refused end
storeNodeReport()
redis.call('HSET', KEYS[2], 'inventoryAt', ARGV[3])
redis.call('DEL', KEYS[3])
putImages(KEYS[3], 4, 9, (#ARGV - 8) / 3)
redis.call('HINCRBY', KEYS[2], 'imagesRev', 1)
redis.call('PUBLISH', ARGV[4], ARGV[8])
return 1
