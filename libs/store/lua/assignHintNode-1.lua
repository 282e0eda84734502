--[[
  Chooses a node to pull a hinted reference unless another node was chosen
  meanwhile, so prepuller replicas agree on one.

  KEYS[1] hintNodes     hinted reference -> chosen node
  ARGV[1] pinned
  ARGV[2] expected      the choice the caller saw ('' = none)
  ARGV[3] node

  Returns the node now chosen.
]]
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return ARGV[3]
