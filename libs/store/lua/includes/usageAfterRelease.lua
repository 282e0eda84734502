-- Every change of a node's usage bumps its `rev` field, so a reader holding
-- usage from several sources (reservation replies, freed-capacity messages,
-- bulk reads) keeps the newest. Returns `cpuMilli memoryMiB gpu rev` after
-- the change: the tail of a `capacity:freed` message.
local function usageAfterRelease(usageKey)
  local rev = redis.call('HINCRBY', usageKey, 'rev', 1)
  local u = redis.call('HMGET', usageKey, 'cpuMilli', 'memoryMiB', 'gpu')
  return (u[1] or '0') .. ' ' .. (u[2] or '0') .. ' ' .. (u[3] or '0') .. ' ' .. rev
end
