--[[
  Retires a member exactly once, only when its case allows it now:
   - drain: the pool is draining;
   - superseded: an older digest's pod that is not Running (it must never start);
   - rotate: an older digest's Running pod, only while the Running pods left
     after it still number at least the size (so a replacement is Running);
   - shrink: a current pod, only while more live current pods than the size remain.
  The pod is marked stop-requested (claims skip it) and listed as retiring.

  KEYS[1] pool
  KEYS[2] members
  KEYS[3] retiring      pod id -> when its stop may be sent
  KEYS[4] stats
  ARGV[1] statusStem
  ARGV[2] podId
  ARGV[3] mode          drain | superseded | rotate | shrink
  ARGV[4] nowMs
  ARGV[5] graceMs
  ARGV[6] message       set on the retired pod

  Returns 'retired', 'absent' (not a member), 'ended' (its pod has ended: prune it) or 'refused'.
]]
--- @include "poolCensus"
local m = redis.call('HGET', KEYS[2], ARGV[2])
if not m then return 'absent' end
local digest = string.match(m, '^(%S+) ')
local phase = podState(ARGV[1], ARGV[2])
if phase and TERMINAL[phase] then return 'ended' end
local p = redis.call('HMGET', KEYS[1], 'state', 'digest', 'size')
local mode = ARGV[3]
local ok = false
if mode == 'drain' then
  ok = p[1] == 'draining'
elseif mode == 'superseded' then
  ok = digest ~= p[2] and phase ~= 'Running'
else
  local c = census(KEYS[2], ARGV[1], p[2], tonumber(ARGV[4]), tonumber(ARGV[5]))
  local size = tonumber(p[3])
  if mode == 'rotate' then
    ok = digest ~= p[2] and phase == 'Running' and c.runningCur + c.runningOld - 1 >= size
  elseif mode == 'shrink' then
    ok = digest == p[2] and c.liveCur - 1 >= size
  end
end
if not ok then return 'refused' end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[2])
if phase then redis.call('HSET', ARGV[1] .. ARGV[2], 'stopRequested', 'true', 'message', ARGV[6]) end
redis.call('HINCRBY', KEYS[4], 'retired:' .. digest, 1)
return 'retired'
