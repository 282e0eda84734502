--[[
  Sets status fields of a pod that exists: HSET on a missing key would
  create a husk of a pod.

  KEYS[1] status
  ARGV[1...] fields  field, value, field, value, ...

  Returns 1.
]]
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1
