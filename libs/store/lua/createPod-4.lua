--[[
  Stores a new Pending pod, honouring an idempotency key (a key already
  used answers with what it holds and nothing is written) and, when the pod
  is charged, the tenant's pod quotas: a pod over any of them is refused and
  nothing is written, so concurrent requests cannot overshoot a limit. The
  pod's first event (Pending) is appended in the same step (unless the
  event log is off: ARGV[8] ''); the status hash
  keeps the tenant so later transitions find the tenant's event stream.

  KEYS[1] spec          string: the pod's immutable JSON definition
  KEYS[2] status        hash: phase and status fields
  KEYS[3] tenantPods    zset: the tenant's pods by creation time
  KEYS[4] quotaPods     hash: the tenant's charged pods (see tenantUse.lua)
  KEYS[5...] idempotency  string `bodyHash podId`, only when the request has a key
  ARGV[1] specJson
  ARGV[2] createdMs
  ARGV[3] podId
  ARGV[4] bodyHash
  ARGV[5] idemTtlSec
  ARGV[6] createdIso
  ARGV[7] tenant
  ARGV[8] allEvents         stream of every event; '' when the event log is off: no event is appended
  ARGV[9] tenantEventsStem  the tenant is appended for its stream
  ARGV[10] podEventsStem    the pod id is appended for its stream
  ARGV[11] statusStem    a pod's status hash is statusStem .. podId
  ARGV[12] charge        `cpuMilli memoryMiB gpu restarts(0|1)`, or '' for a pod charged elsewhere (a pool's warm pod)
  ARGV[13] limits        `pods cpuMilli memoryMiB gpu` ('' when not charged)
  ARGV[14] lostBeforeIso  a restarting pod Lost before this no longer counts

  Returns {'created', podId}, {'exists', 'bodyHash podId'}, {'collision', ''} (the id is taken)
  or {'over-quota', name, limit, used, requested}.
]]
--- @include "appendEvent"
--- @include "tenantUse"
if KEYS[5] then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {'exists', existing} end
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'collision', ''} end
if ARGV[12] ~= '' then
  local want = words(ARGV[12])
  local over = overQuota({'pods', 'cpuMilli', 'memoryMiB', 'gpu'}, podUse(KEYS[4], ARGV[11], ARGV[14]), words(ARGV[13]),
    {1, want[1], want[2], want[3]})
  if over then return over end
  redis.call('HSET', KEYS[4], ARGV[3], ARGV[12])
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'phase', 'Pending', 't:Pending', ARGV[6], 'tenant', ARGV[7])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[3])
if KEYS[5] then redis.call('SET', KEYS[5], ARGV[4] .. ' ' .. ARGV[3], 'EX', ARGV[5]) end
appendPodEvent(ARGV[8], ARGV[9], ARGV[10], KEYS[2], ARGV[3], nil)
return {'created', ARGV[3]}
