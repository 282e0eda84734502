--[[
  Records a pending checkpoint and indexes it by tenant and node. Creating
  an existing id (a job run twice) changes nothing. When limits are given,
  the tenant's checkpoint quotas hold: its size is not known before it is
  taken, so a new one is admitted while the bytes held are below the limit.

  KEYS[1] record
  KEYS[2] tenantCheckpoints
  KEYS[3] nodeCheckpoints
  ARGV[1] id
  ARGV[2] createdMs
  ARGV[3] checkpointStem  a record is checkpointStem .. id
  ARGV[4] limits        `checkpoints checkpointBytes`, or '' for no check
  ARGV[5...] fields  field, value, ...: the record

  Returns 1 when created, 0 when it existed, or {'over-quota', name, limit, used, requested}.
]]
--- @include "tenantUse"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[4] ~= '' then
  local over = overQuota({'checkpoints', 'checkpointBytes'}, checkpointUse(KEYS[2], ARGV[3]), words(ARGV[4]), {1, 1})
  if over then return over end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
return 1
