--[[
  Takes one request's token from a bucket, atomically, so every gateway
  replica shares the same limit. Redis's own clock (TIME) is used: replicas'
  clocks may disagree, the server's does not.

  KEYS[1] bucket     hash {tokens, at}; expires once it would be full again
  ARGV[1] perSecond  refill rate (> 0)
  ARGV[2] burst      bucket size

  Returns {1, 0} when the request may pass, else {0, milliseconds until it
  would}.
]]
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
-- A clock that stepped back refills nothing rather than going negative.
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate / 1000)
  at = now
end
local allowed, retry = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
-- Gone once it would be full again: an idle token costs no memory.
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)
return {allowed, retry}
