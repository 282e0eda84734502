--[[
  Ends a pull: ready or failed. Gives the budget slot back only when the
  pull held one, so finishing twice is harmless. Announced on pulls:changed.

  KEYS[1] status
  KEYS[2] inflight
  ARGV[1] node
  ARGV[2] state         ready | failed
  ARGV[3] reason        '' when ready
  ARGV[4] nowIso
  ARGV[5] channel       pulls:changed
  ARGV[6] message       `node digest`

  Returns 1.
]]
--- @include "releasePullSlot"
if holdsPullSlot(redis.call('HGET', KEYS[1], 'state')) then releasePullSlot(KEYS[2], ARGV[1]) end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'reason', ARGV[3], 'updatedAt', ARGV[4])
if ARGV[2] == 'ready' then
  local total = redis.call('HGET', KEYS[1], 'bytesTotal')
  if total then redis.call('HSET', KEYS[1], 'bytesDone', total) end
  local layers = redis.call('HGET', KEYS[1], 'layersTotal')
  if layers then redis.call('HSET', KEYS[1], 'layersDone', layers) end
end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
