--[[
  Drops a member whose pod has ended (or whose record never appeared within
  the grace period). A pod that exited on its own (Succeeded or Failed)
  before anyone claimed it puts the pool in an exponential backoff, so a
  template that cannot stay up is not restarted in a tight loop.

  KEYS[1] pool
  KEYS[2] members
  KEYS[3] stats
  ARGV[1] statusStem
  ARGV[2] podId
  ARGV[3] nowMs
  ARGV[4] graceMs
  ARGV[5] backoffBaseMs
  ARGV[6] backoffMaxMs

  Returns the ended phase ('missing' without a record), 'live', or 'absent'.
]]
--- @include "poolCensus"
local m = redis.call('HGET', KEYS[2], ARGV[2])
if not m then return 'absent' end
local at = string.match(m, ' (%d+)$')
local now = tonumber(ARGV[3])
local phase = podState(ARGV[1], ARGV[2])
if phase then
  if not TERMINAL[phase] then return 'live' end
elseif (now - tonumber(at)) < tonumber(ARGV[4]) then
  return 'live'
end
redis.call('HDEL', KEYS[2], ARGV[2])
local ended = phase or 'missing'
redis.call('HINCRBY', KEYS[3], 'ended:' .. ended, 1)
if phase == 'Failed' or phase == 'Succeeded' then
  local streak = redis.call('HINCRBY', KEYS[1], 'failStreak', 1)
  local wait = math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ math.min(streak - 1, 20))
  redis.call('HSET', KEYS[1], 'backoffUntil', now + wait)
end
return ended
