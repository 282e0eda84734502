--[[
  Adds one image to a registered node's cache inventory (an agent that
  pulled it); bumps `imagesRev`. Announced on nodes:changed.

  KEYS[1] nodes
  KEYS[2] node
  KEYS[3] images
  KEYS[4] layers        layers:<digest>
  ARGV[1] nodeId
  ARGV[2] digest
  ARGV[3] entry         `sizeBytes layerCount`
  ARGV[4] layersJson    '' when unknown
  ARGV[5] channel       nodes:changed
  ARGV[6] change        the message, `inventory` (see change-messages.ts)

  Returns 1, or 0 for a node that is not registered (no stray record).
]]
--- @include "putImages"
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
putImages(KEYS[3], 4, 2, 1)
redis.call('HINCRBY', KEYS[2], 'imagesRev', 1)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
