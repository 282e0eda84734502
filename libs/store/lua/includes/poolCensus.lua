--- @include "terminalPhases"

-- Members are read with their pod's status hash (`statusStem .. podId`),
-- which the pod lifecycle keeps; a member whose pod record does not exist
-- yet is counted as live for a grace period (its creator is writing it).

local function podState(statusStem, podId)
  local s = redis.call('HMGET', statusStem .. podId, 'phase', 'stopRequested')
  return s[1], s[2] == 'true'
end

local function isLive(phase, stopping, at, nowMs, graceMs)
  if phase then return not TERMINAL[phase] and not stopping end
  return (nowMs - tonumber(at)) < graceMs
end

-- Live and Running members of the current digest, Running ones of older digests.
local function census(membersKey, statusStem, current, nowMs, graceMs)
  local c = {liveCur = 0, runningCur = 0, runningOld = 0}
  local all = redis.call('HGETALL', membersKey)
  for i = 1, #all, 2 do
    local digest, at = string.match(all[i + 1], '^(%S+) (%d+)$')
    local phase, stopping = podState(statusStem, all[i])
    if isLive(phase, stopping, at, nowMs, graceMs) then
      if digest == current then
        c.liveCur = c.liveCur + 1
        if phase == 'Running' then c.runningCur = c.runningCur + 1 end
      elseif phase == 'Running' then
        c.runningOld = c.runningOld + 1
      end
    end
  end
  return c
end
