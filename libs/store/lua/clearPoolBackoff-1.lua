--[[
  A member reached Running: pods of this template do stay up, so refills
  need not wait. Touches only a pool that exists.

  KEYS[1] pool

  Returns 1.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'failStreak', 0, 'backoffUntil', 0) end
return 1
