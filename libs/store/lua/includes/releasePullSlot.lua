-- Gives back the budget slot a pull holds (cluster total and the node's
-- count). Only a pull still queued or pulling holds one.
local function holdsPullSlot(state)
  return state == 'queued' or state == 'pulling'
end
local function releasePullSlot(inflightKey, node)
  redis.call('HINCRBY', inflightKey, 'total', -1)
  redis.call('HINCRBY', inflightKey, node, -1)
end
