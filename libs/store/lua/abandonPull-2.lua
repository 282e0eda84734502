--[[
  Fails a pull still in flight on a node that will not finish it (lost or
  gone) and gives its budget slot back. A pull that ended meanwhile keeps
  its outcome, and a slot is never given back twice. Announced on pulls:changed.

  KEYS[1] status
  KEYS[2] inflight
  ARGV[1] node
  ARGV[2] reason
  ARGV[3] nowIso
  ARGV[4] channel       pulls:changed
  ARGV[5] message       `node digest`

  Returns 1 when the pull was abandoned, else 0.
]]
--- @include "releasePullSlot"
if not holdsPullSlot(redis.call('HGET', KEYS[1], 'state')) then return 0 end
releasePullSlot(KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'state', 'failed', 'reason', ARGV[2], 'updatedAt', ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
