-- A node's cache inventory is its images hash (digest -> `sizeBytes layerCount`)
-- plus, once per digest for all nodes, the layers under `layers:<digest>`
-- (content-addressed, so the first report is kept). Writes `count` images
-- given as ARGV triples (digest, entry, layersJson or '') from `argFrom`;
-- KEYS from `keyFrom` are their layers keys, one per image.
local function putImages(images, keyFrom, argFrom, count)
  for i = 0, count - 1 do
    local a = argFrom + 3 * i
    redis.call('HSET', images, ARGV[a], ARGV[a + 1])
    if ARGV[a + 2] ~= '' then redis.call('SET', KEYS[keyFrom + i], ARGV[a + 2], 'NX') end
  end
end
