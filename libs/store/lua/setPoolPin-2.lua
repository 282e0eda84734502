--[[
  Records the pin that warms the pool's current digest; an owned pin of an
  earlier reference is remembered for removal once the pool no longer runs it.

  KEYS[1] pool
  KEYS[2] oldPins
  ARGV[1] digest
  ARGV[2] pinId
  ARGV[3] owned         '1' when the pool created the pin, else '0'

  Returns 1, or 0 when the pool's digest moved meanwhile.
]]
local p = redis.call('HMGET', KEYS[1], 'digest', 'pinId', 'pinOwned')
if p[1] ~= ARGV[1] then return 0 end
if p[2] == ARGV[2] then
  if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'pinOwned', '1') end
  return 1
end
if p[2] and p[3] == '1' then redis.call('SADD', KEYS[2], p[2]) end
redis.call('HSET', KEYS[1], 'pinId', ARGV[2], 'pinOwned', ARGV[3], 'pinDigest', ARGV[1])
return 1
