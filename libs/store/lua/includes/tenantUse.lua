--- @include "terminalPhases"

-- A tenant's use, recomputed from the records themselves on every call, so
-- a release is never counted twice and nothing drifts: a pod counts while
-- its record is not ended, a pin while active, a pool by its size while
-- active, a checkpoint while neither deleted nor failed. The pod ledger
-- (pod id -> `cpuMilli memoryMiB gpu restarts`) exists because the tenant's
-- pod index keeps ended pods; entries of ended pods are dropped here.

-- A Lost pod that restarts goes back to Pending a moment later: it stays
-- charged until it has been Lost for longer than that (ISO times compare as text).
local function podEnded(status, restarts, lostBeforeIso)
  local s = redis.call('HMGET', status, 'phase', 't:Lost')
  if not s[1] then return true end
  if s[1] == 'Lost' and restarts == '1' then return (s[2] or '') < lostBeforeIso end
  return TERMINAL[s[1]] == true
end

local function podUse(ledger, statusStem, lostBeforeIso)
  local use = {pods = 0, cpuMilli = 0, memoryMiB = 0, gpu = 0}
  local all = redis.call('HGETALL', ledger)
  for i = 1, #all, 2 do
    local cpu, mem, gpu, restarts = string.match(all[i + 1], '^(%d+) (%d+) (%d+) ([01])$')
    if not cpu or podEnded(statusStem .. all[i], restarts, lostBeforeIso) then
      redis.call('HDEL', ledger, all[i])
    else
      use.pods = use.pods + 1
      use.cpuMilli = use.cpuMilli + tonumber(cpu)
      use.memoryMiB = use.memoryMiB + tonumber(mem)
      use.gpu = use.gpu + tonumber(gpu)
    end
  end
  return use
end

-- Pins charged at the door carry `quotaBytes`; a pool's own pin does not (the pool's size is charged).
local function pinUse(tenantPins, pinStem, exceptId)
  local use = {pins = 0, pinBytes = 0}
  for _, id in ipairs(redis.call('ZRANGE', tenantPins, 0, -1)) do
    if id ~= exceptId then
      local p = redis.call('HMGET', pinStem .. id, 'state', 'quotaBytes')
      if p[1] == 'active' and p[2] then
        use.pins = use.pins + 1
        use.pinBytes = use.pinBytes + tonumber(p[2])
      end
    end
  end
  return use
end

local function poolUse(tenantPools, poolStem, exceptId)
  local use = {poolPods = 0}
  for _, id in ipairs(redis.call('SMEMBERS', tenantPools)) do
    if id ~= exceptId then
      local p = redis.call('HMGET', poolStem .. id, 'state', 'size')
      if p[1] == 'active' then use.poolPods = use.poolPods + tonumber(p[2] or '0') end
    end
  end
  return use
end

local function checkpointUse(tenantCheckpoints, checkpointStem)
  local use = {checkpoints = 0, checkpointBytes = 0}
  for _, id in ipairs(redis.call('ZRANGE', tenantCheckpoints, 0, -1)) do
    local c = redis.call('HMGET', checkpointStem .. id, 'state', 'sizeBytes')
    if c[1] and c[1] ~= 'deleted' and c[1] ~= 'checkpoint_failed' then
      use.checkpoints = use.checkpoints + 1
      use.checkpointBytes = use.checkpointBytes + tonumber(c[2] or '0')
    end
  end
  return use
end

-- The first of `names` (with `limits` and `wants` in the same order) the
-- request would pass, as the reply {'over-quota', name, limit, used, requested};
-- nil when it fits. A request adding nothing to a quota never fails on it.
local function overQuota(names, use, limits, wants)
  for i, name in ipairs(names) do
    local want = tonumber(wants[i])
    if want > 0 and use[name] + want > tonumber(limits[i]) then
      return {'over-quota', name, tonumber(limits[i]), use[name], want}
    end
  end
  return nil
end

local function words(text)
  local list = {}
  for w in string.gmatch(text, '%S+') do list[#list + 1] = w end
  return list
end
