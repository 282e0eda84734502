-- The guard every session-scoped write starts with (KEYS[1] nodes,
-- KEYS[2] node, ARGV[1] nodeId, ARGV[2] sessionId): returns 0 for an
-- unknown node, -1 when another session holds the node, -2 when the node
-- was declared lost (its agent must register again); nothing when the
-- write may go on.
local function sessionRefusal()
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
  if redis.call('HGET', KEYS[2], 'sessionId') ~= ARGV[2] then return -1 end
  if redis.call('HEXISTS', KEYS[2], 'lostAt') == 1 then return -2 end
  return nil
end
