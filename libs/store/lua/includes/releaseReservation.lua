--- @include "usageAfterRelease"

-- Gives a pod's reservation back to the node and announces the node's usage
-- after it on `channel` as `nodeId cpuMilli memoryMiB gpu rev`.
-- Returns 1, or 0 when the pod held no reservation there.
-- Lua's `-0` is refused by HINCRBY ("not an integer"), hence `0 - n`.
local function releaseReservation(usageKey, reservationsKey, podId, channel, nodeId)
  local r = redis.call('HGET', reservationsKey, podId)
  if not r then return 0 end
  local cpu, mem, gpu = string.match(r, '(%d+) (%d+) (%d+)')
  redis.call('HINCRBY', usageKey, 'cpuMilli', 0 - tonumber(cpu))
  redis.call('HINCRBY', usageKey, 'memoryMiB', 0 - tonumber(mem))
  redis.call('HINCRBY', usageKey, 'gpu', 0 - tonumber(gpu))
  redis.call('HDEL', reservationsKey, podId)
  redis.call('PUBLISH', channel, nodeId .. ' ' .. usageAfterRelease(usageKey))
  return 1
end
