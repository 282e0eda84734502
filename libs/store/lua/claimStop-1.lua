--[[
  Lets one caller send the stop of a retired pod, then no one again until
  resendMs has passed (the score of a retiring pod is when its stop may be sent).

  KEYS[1] retiring
  ARGV[1] podId
  ARGV[2] nowMs
  ARGV[3] resendMs

  Returns 1 for the caller that sends, else 0.
]]
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return 1
