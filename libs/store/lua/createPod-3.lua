--[[
  Stores a new Pending pod, honouring an idempotency key: a key already
  used answers with what it holds and nothing is written. The pod's first
  event (Pending) is appended in the same step; the status hash keeps the
  tenant so later transitions find the tenant's event stream.

  KEYS[1] spec          string: the pod's immutable JSON definition
  KEYS[2] status        hash: phase and status fields
  KEYS[3] tenantPods    zset: the tenant's pods by creation time
  KEYS[4...] idempotency  string `bodyHash podId`, only when the request has a key
  ARGV[1] specJson
  ARGV[2] createdMs
  ARGV[3] podId
  ARGV[4] bodyHash
  ARGV[5] idemTtlSec
  ARGV[6] createdIso
  ARGV[7] tenant
  ARGV[8] allEvents         stream of every event
  ARGV[9] tenantEventsStem  the tenant is appended for its stream
  ARGV[10] podEventsStem    the pod id is appended for its stream

  Returns {'created', podId}, {'exists', 'bodyHash podId'} or {'collision', ''} (the id is taken).
]]
--- @include "appendEvent"
if KEYS[4] then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {'exists', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'collision', ''} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'phase', 'Pending', 't:Pending', ARGV[6], 'tenant', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
if KEYS[4] then redis.call('SET', KEYS[4], ARGV[4] .. ' ' .. ARGV[3], 'EX', ARGV[5]) end
appendPodEvent(ARGV[8], ARGV[9], ARGV[10], KEYS[2], ARGV[3], nil)
return {'created', ARGV[3]}
