-- Moves the pod whose status hash is `status` to `to` when its phase is one
-- of `allowedCsv`, recording when, then sets the field pairs ARGV[fieldsFrom],
-- ARGV[fieldsFrom + 1], ... (an empty value deletes the field).
-- Returns applied (true/false) and the phase before (nil: no such pod).
local function transitionPod(status, to, nowIso, allowedCsv, fieldsFrom)
  local phase = redis.call('HGET', status, 'phase')
  if not phase then return false, nil end
  local allowed = false
  for p in string.gmatch(allowedCsv, '[^,]+') do if p == phase then allowed = true end end
  if not allowed then return false, phase end
  redis.call('HSET', status, 'phase', to, 't:' .. to, nowIso)
  for i = fieldsFrom, #ARGV, 2 do
    if ARGV[i + 1] == '' then redis.call('HDEL', status, ARGV[i]) else redis.call('HSET', status, ARGV[i], ARGV[i + 1]) end
  end
  return true, phase
end
