--[[
  One event on one checkpoint, with the domain's rules: the state must be in
  the allowed-from list, a quarantined checkpoint only moves to deleted, a
  restore failure counts up and takes the checkpoint out of the restorable
  index once it reaches k.

  KEYS[1] record
  KEYS[2] restorable    the record's (node, key) index; both never change
  ARGV[1] event         checkpointed | checkpoint-failed | restored | restore-failed | deleted
  ARGV[2] to
  ARGV[3] allowedCsv
  ARGV[4] k             restore failures that quarantine
  ARGV[5] nowIso
  ARGV[6] reason        '' for none
  ARGV[7] sizeBytes     '' unless checkpointed

  Returns {'applied', stateBefore}, {'not-allowed', state}, {'quarantined', state} or {'not-found', ''}.
]]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'not-found', ''} end
local allowed = false
for s in string.gmatch(ARGV[3], '[^,]+') do if s == state then allowed = true end end
if not allowed then return {'not-allowed', state} end
local k = tonumber(ARGV[4])
local failures = tonumber(redis.call('HGET', KEYS[1], 'restoreFailures') or '0')
if ARGV[2] ~= 'deleted' and failures >= k then return {'quarantined', state} end
local f = redis.call('HMGET', KEYS[1], 'id', 'createdMs')
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updatedAt', ARGV[5])
if ARGV[1] == 'checkpointed' then
  redis.call('HSET', KEYS[1], 'sizeBytes', ARGV[7])
  redis.call('HDEL', KEYS[1], 'reason')
  redis.call('ZADD', KEYS[2], f[2], f[1])
elseif ARGV[1] == 'restored' then
  redis.call('ZADD', KEYS[2], f[2], f[1])
elseif ARGV[1] == 'restore-failed' then
  failures = redis.call('HINCRBY', KEYS[1], 'restoreFailures', 1)
  redis.call('HSET', KEYS[1], 'reason', ARGV[6])
  if failures >= k then redis.call('ZREM', KEYS[2], f[1]) end
else
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[6]) end
  redis.call('ZREM', KEYS[2], f[1])
end
return {'applied', state}
