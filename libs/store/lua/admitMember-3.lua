--[[
  Admits a new warm pod of the pool's current digest while the pool has
  fewer live pods of that digest than its size, and is not backing off.

  KEYS[1] pool
  KEYS[2] members       pod id -> `digest admittedMs`
  KEYS[3] stats
  ARGV[1] statusStem
  ARGV[2] podId
  ARGV[3] digest
  ARGV[4] nowMs
  ARGV[5] graceMs       how long a member may be without a pod record

  Returns 'admitted', 'full', 'stale' (the digest moved), 'backoff' or 'inactive'.
]]
--- @include "poolCensus"
local p = redis.call('HMGET', KEYS[1], 'state', 'digest', 'size', 'backoffUntil')
if p[1] ~= 'active' then return 'inactive' end
if p[2] ~= ARGV[3] then return 'stale' end
local now = tonumber(ARGV[4])
if tonumber(p[4] or '0') > now then return 'backoff' end
local c = census(KEYS[2], ARGV[1], p[2], now, tonumber(ARGV[5]))
if c.liveCur >= tonumber(p[3]) then return 'full' end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. ARGV[4])
redis.call('HINCRBY', KEYS[3], 'started:' .. ARGV[3], 1)
return 'admitted'
