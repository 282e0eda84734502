--[[
  Marks a node lost once: only when its heartbeat is older than
  staleBeforeIso (ISO timestamps compare as strings) and it is not marked
  yet, so exactly one scheduler replica acts on a node's death. Announced
  on nodes:changed.

  KEYS[1] node
  ARGV[1] staleBeforeIso
  ARGV[2] nowIso
  ARGV[3] channel       nodes:changed
  ARGV[4] change        the message, `lost` (see change-messages.ts)

  Returns 1 for the caller that marked it, else 0.
]]
local hb = redis.call('HGET', KEYS[1], 'heartbeatAt')
if not hb or hb >= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], 'lostAt') == 1 then return 0 end
redis.call('HSET', KEYS[1], 'lostAt', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
