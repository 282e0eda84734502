--[[
  Replaces a node's protected digests in one step, so a reader never sees
  the set half-written; an empty list deletes the set.

  KEYS[1] protected     the node's set
  KEYS[2] protectedNodes  nodes that have a set
  ARGV[1] node
  ARGV[2...] digests

  Returns 1.
]]
redis.call('DEL', KEYS[1])
if #ARGV > 1 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 2))
  redis.call('SADD', KEYS[2], ARGV[1])
end
return 1
