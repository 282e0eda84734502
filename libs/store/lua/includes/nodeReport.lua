-- The parts of a node report that replace what was there (KEYS[2] node,
-- ARGV[3] nowIso, ARGV[5] runningPodsJson, ARGV[6] checkpointsJson,
-- ARGV[7] usageJson or '' when not reported); refreshes liveness.
local function storeNodeReport()
  redis.call('HSET', KEYS[2], 'heartbeatAt', ARGV[3], 'runningPods', ARGV[5], 'checkpoints', ARGV[6])
  if ARGV[7] == '' then redis.call('HDEL', KEYS[2], 'reportedUsage') else redis.call('HSET', KEYS[2], 'reportedUsage', ARGV[7]) end
end
