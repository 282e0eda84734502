--[[
  Applies a change report within the node's agent session: removed images,
  then added ones; running pods, checkpoints and usage are full lists and
  replace what was there. Refreshes liveness; bumps `imagesRev` when images
  changed. Announced on nodes:changed.

  KEYS[1] nodes
  KEYS[2] node
  KEYS[3] images
  KEYS[4...] layers  one layers:<digest> key per added image
  ARGV[1] nodeId
  ARGV[2] sessionId
  ARGV[3] nowIso
  ARGV[4] channel       nodes:changed
  ARGV[5] runningPodsJson
  ARGV[6] checkpointsJson
  ARGV[7] usageJson     '' when not reported
  ARGV[8] change        the message, `inventory` (see change-messages.ts)
  ARGV[9] addedCount
  ARGV[10...] images  digest, entry, layersJson per added image; then the removed digests

  Returns 1 applied, 0 unknown node, -1 stale session, -2 node lost.
]]
--- @include "sessionGuard"
--- @include "nodeReport"
--- @include "putImages"
local refused = sessionRefusal()
if refused then return refused end
storeNodeReport()
local added = tonumber(ARGV[9])
for i = 10 + 3 * added, #ARGV do redis.call('HDEL', KEYS[3], ARGV[i]) end
putImages(KEYS[3], 4, 10, added)
if added > 0 or #ARGV > 9 + 3 * added then redis.call('HINCRBY', KEYS[2], 'imagesRev', 1) end
redis.call('PUBLISH', ARGV[4], ARGV[8])
return 1
